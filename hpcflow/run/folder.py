"""The run folder: what a run writes once, and how a resume is checked against it.

Layout::

    RUN_FOLDER/
      run.json                  shapes, mapspecs, storage per output, error handling
      inputs/<name>.cloudpickle every input and default, pickled once
      outputs/<name>/           one storage array per mapped output
      outputs/<name>.cloudpickle  the value of a single-value output
      markers/<outputs>/<start>-<stop>.json   one per finished chunk
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hpcflow.errors import ResumeError, RunFolderError
from hpcflow.storage._atomic import atomic_write_json, atomic_write_pickle, read_pickle

__all__ = ["RunFolder"]

FORMAT_VERSION = 1
_OWNED = (
    "run.json",
    "inputs",
    "outputs",
    "markers",
    # written by submit
    "pipeline.cloudpickle",
    "submit.json",
    "stages",
    "superseded",
    "logs",
    "cancelled",
)


class RunFolder:
    """Paths and metadata of one run folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()

    @property
    def run_json(self) -> Path:
        return self.path / "run.json"

    def output_folder(self, name: str) -> Path:
        return self.path / "outputs" / name

    def single_output_path(self, name: str) -> Path:
        return self.path / "outputs" / f"{name}.cloudpickle"

    def write_single_output(self, name: str, value: Any) -> None:
        """Store the value of the single-value output ``name`` (atomically).

        Creates ``outputs/`` first: a run whose first finished output is unmapped has
        not made it yet (mapped outputs create their own folders under it).
        """
        path = self.single_output_path(name)
        path.parent.mkdir(exist_ok=True)
        atomic_write_pickle(path, value)

    def marker_folder(self, key: tuple[str, ...]) -> Path:
        return self.path / "markers" / "-".join(key)

    def input_path(self, name: str) -> Path:
        return self.path / "inputs" / f"{name}.cloudpickle"

    def exists(self) -> bool:
        return self.run_json.exists()

    def read_meta(self) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(self.run_json.read_text())
        except FileNotFoundError:
            raise RunFolderError(f"{self.path} holds no hpcflow run (no run.json)") from None
        except json.JSONDecodeError as e:
            raise RunFolderError(f"{self.run_json} is corrupt: {e}") from None
        return meta

    def prepare_fresh(self) -> None:
        """Empty the folder of an earlier run; refuse to touch a folder that is not one.

        Only what hpcflow owns (``run.json``, ``inputs/``, ``outputs/``, ``markers/``) is
        removed, so files a user put next to them survive.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"run_folder {self.path} exists and is not a directory")
        # the lock (hpcflow.run.lock) is held by the submit that is preparing this folder
        if (
            self.path.exists()
            and not self.exists()
            and any(p.name != "lock" for p in self.path.iterdir())
        ):
            raise RunFolderError(
                f"run_folder {self.path} is not empty and holds no hpcflow run; refusing to "
                "write into it (choose a new or empty folder)"
            )
        for name in _OWNED:
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        self.path.mkdir(parents=True, exist_ok=True)

    def write(self, meta: dict[str, Any], inputs: Mapping[str, Any]) -> None:
        """Write every input once, then ``run.json`` last (its presence means complete)."""
        (self.path / "inputs").mkdir(parents=True, exist_ok=True)
        for name, value in inputs.items():
            atomic_write_pickle(self.input_path(name), value)
        atomic_write_json(self.run_json, {"format_version": FORMAT_VERSION, **meta})

    def load_input(self, name: str) -> Any:
        return read_pickle(self.input_path(name))

    def validate_resume(
        self,
        meta: dict[str, Any],
        inputs: Mapping[str, Any],
        mode: Literal["auto", "strict", "skip"],
    ) -> None:
        """Raise `ResumeError` if this run differs from the stored one.

        Mapspecs, storage and known shapes are always compared; inputs and defaults
        according to ``mode``.
        """
        old = self.read_meta()
        for field, what in (
            ("mapspecs", "mapspecs"),
            ("storage", "storage backends"),
            ("outputs", "outputs"),
            ("error_handling", "error_handling"),
        ):
            if old.get(field) != meta.get(field):
                raise ResumeError(
                    f"cannot resume {self.path}: its {what} were {old.get(field)} but are now "
                    f"{meta.get(field)}; use a new run_folder or resume=False"
                )
        for name, shape in meta["shapes"].items():
            before = old["shapes"].get(name)
            if before is not None and shape is not None and before != shape:
                raise ResumeError(
                    f"cannot resume {self.path}: shape of {name!r} was {tuple(before)} but is "
                    f"now {tuple(shape)}; use a new run_folder or resume=False"
                )
        if mode == "skip":
            return
        if sorted(old.get("inputs", [])) != sorted(inputs):
            raise ResumeError(
                f"cannot resume {self.path}: it was run with inputs {sorted(old['inputs'])} "
                f"but now gets {sorted(inputs)}"
            )
        for name, value in inputs.items():
            same = _equal(self.load_input(name), value)
            if same is False:
                raise ResumeError(
                    f"cannot resume {self.path}: input {name!r} changed since the stored run; "
                    "use a new run_folder, or resume=False to start over"
                )
            if same is None:
                msg = (
                    f"cannot tell whether input {name!r} changed since the stored run (its "
                    "== does not give a bool)"
                )
                if mode == "strict":
                    raise ResumeError(f"{msg}; use resume_validation='skip' if you are sure")
                warnings.warn(f"{msg}; resuming anyway", stacklevel=4)


def _equal(a: Any, b: Any) -> bool | None:
    """``a == b`` as True/False, or None if the objects cannot say."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        try:
            return bool(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object)))
        except Exception:
            return None
    try:
        result = a == b
    except Exception:
        return None
    if isinstance(result, bool | np.bool_):
        return bool(result)
    return None
