"""Every path of a run folder, its format version, and ``run.json``.

Layout (``docs/architecture.md`` says who writes and reads each entry)::

    RUN_FOLDER/
      run.json                      shapes, mapspecs, storage per output, error handling
      inputs/<name>.cloudpickle     every input and default, pickled once
      outputs/<name>/               one storage array per mapped output
      outputs/<name>.cloudpickle    the value of a single-value output
      markers/<outputs>/<start>-<stop>.json   one per finished chunk
      lock                          held by the submit, resume or map writing the folder
      pipeline.cloudpickle          submitted runs: the pipeline and chunk sizes
      submit.json                   submitted runs: run id, scheduler, settings
      stages/<k>.json               submission k's stages, arrays and job ids
      stages/<k>/<stage>.npy        a stage's elements, when not simply 0..n-1
      logs/<stage>/<job>_<task>.log one log per array task
      superseded/<k>/               errors set aside by resume(retry_failed=True)
      superseded/damaged-<time>-<id>/  damaged files a resume set aside (recomputed)
      cancelled                     written by Run.cancel: follow-up jobs stop
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hpcflow._atomic import atomic_write_json, atomic_write_pickle, read_pickle
from hpcflow.errors import RunFolderError

__all__ = [
    "ASIDE_PREFIX",
    "CANCELLED",
    "FORMAT_VERSION",
    "INPUTS",
    "LOCK",
    "LOGS",
    "MARKERS",
    "OUTPUTS",
    "OWNED",
    "PIPELINE",
    "RUN_JSON",
    "SETTINGS",
    "STAGES",
    "SUPERSEDED",
    "RunFolder",
]

#: Version of the on-disk format, in ``run.json``; a folder of a newer one is refused.
FORMAT_VERSION = 2
RUN_JSON = "run.json"
INPUTS = "inputs"
OUTPUTS = "outputs"
MARKERS = "markers"
LOCK = "lock"
PIPELINE = "pipeline.cloudpickle"
SETTINGS = "submit.json"
STAGES = "stages"
LOGS = "logs"
SUPERSEDED = "superseded"
CANCELLED = "cancelled"
#: Prefix of the folder an earlier run is set aside in while ``submit(overwrite=True)``
#: replaces it: restored if the new submission fails, deleted once it succeeded.
ASIDE_PREFIX = ".hpcflow-replaced-"
#: Every entry hpcflow writes at the top of a run folder (the lock excepted).
OWNED = (
    RUN_JSON,
    INPUTS,
    OUTPUTS,
    MARKERS,
    PIPELINE,
    SETTINGS,
    STAGES,
    SUPERSEDED,
    LOGS,
    CANCELLED,
)


class RunFolder:
    """Paths and metadata of one run folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()

    # ------------------------------------------------------------------ paths
    @property
    def run_json(self) -> Path:
        return self.path / RUN_JSON

    def output_folder(self, name: str) -> Path:
        return self.path / OUTPUTS / _name(name, "output")

    def single_output_path(self, name: str) -> Path:
        return self.path / OUTPUTS / f"{_name(name, 'output')}.cloudpickle"

    @property
    def markers_root(self) -> Path:
        return self.path / MARKERS

    def marker_folder(self, key: tuple[str, ...] | list[str]) -> Path:
        return self.path / MARKERS / "-".join(_name(k, "output") for k in key)

    def input_path(self, name: str) -> Path:
        return self.path / INPUTS / f"{_name(name, 'input')}.cloudpickle"

    @property
    def lock_path(self) -> Path:
        return self.path / LOCK

    @property
    def pipeline_path(self) -> Path:
        return self.path / PIPELINE

    @property
    def settings_path(self) -> Path:
        return self.path / SETTINGS

    @property
    def stages_folder(self) -> Path:
        return self.path / STAGES

    def submission_path(self, index: int) -> Path:
        return self.path / STAGES / f"{index}.json"

    def stage_elements_path(self, index: int, stage: str) -> str:
        """Where submission ``index`` keeps ``stage``'s elements, relative to the folder."""
        return f"{STAGES}/{index}/{stage}.npy"

    def log_folder(self, stage: str) -> Path:
        return self.path / LOGS / stage

    @property
    def logs_root(self) -> Path:
        return self.path / LOGS

    def superseded_folder(self, index: int) -> Path:
        return self.path / SUPERSEDED / str(index)

    def damaged_folder(self) -> Path:
        """A new folder for damaged files a resume sets aside (each resume its own)."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        return self.path / SUPERSEDED / f"damaged-{stamp}-{uuid.uuid4().hex[:6]}"

    @property
    def cancelled_path(self) -> Path:
        return self.path / CANCELLED

    # ---------------------------------------------------------------- content

    def exists(self) -> bool:
        return self.run_json.exists()

    def read_meta(self) -> dict[str, Any]:
        try:
            meta: dict[str, Any] = json.loads(self.run_json.read_text())
        except FileNotFoundError:
            raise RunFolderError(f"{self.path} holds no hpcflow run (no run.json)") from None
        except json.JSONDecodeError as e:
            raise RunFolderError(
                f"{self.run_json} is corrupt ({e}); the run's results cannot be read: use a "
                "new run folder"
            ) from None
        version = meta.get("format_version") if isinstance(meta, dict) else None
        if version != FORMAT_VERSION:
            raise RunFolderError(
                f"{self.run_json} has format version {version!r}, but this hpcflow reads "
                f"version {FORMAT_VERSION}; open it with the hpcflow that wrote it"
            )
        return meta

    def set_aside(self) -> Path:
        """Move every entry of the run in this folder into a new aside folder; its path.

        ``submit(overwrite=True)`` does this first, so that a replacement that fails (bad
        input, a resource no node has, a scheduler that refuses) loses nothing.
        """
        aside = self.path / f"{ASIDE_PREFIX}{uuid.uuid4().hex[:8]}"
        aside.mkdir()
        for name in OWNED:
            if (self.path / name).exists():
                os.replace(self.path / name, aside / name)
        return aside

    def restore(self, aside: Path) -> None:
        """Put back a run `set_aside` moved (after removing what replaced it)."""
        for entry in aside.iterdir():
            os.replace(entry, self.path / entry.name)
        aside.rmdir()

    def update_meta(self, **fields: Any) -> None:
        """Replace ``fields`` of ``run.json`` (by one process at a time: map, submit or a
        follow-up job)."""
        atomic_write_json(self.run_json, {**self.read_meta(), **fields})

    def prepare_fresh(self) -> None:
        """Empty the folder of an earlier run; refuse to touch a folder that is not one.

        Only what hpcflow owns (``run.json``, ``inputs/``, ``outputs/``, ``markers/``) is
        removed, so files a user put next to them survive.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"run_folder {self.path} exists and is not a directory")
        # the lock (hpcflow.runfolder.lock) is held by the submit that is preparing this
        # folder; an earlier run set aside by that submit means the folder held a run
        if (
            self.path.exists()
            and not self.exists()
            and any(p.name != LOCK for p in self.path.iterdir())
            and not any(p.name.startswith(ASIDE_PREFIX) for p in self.path.iterdir())
        ):
            raise RunFolderError(
                f"run_folder {self.path} is not empty and holds no hpcflow run; refusing to "
                "write into it (choose a new or empty folder)"
            )
        for name in OWNED:
            p = self.path / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        self.path.mkdir(parents=True, exist_ok=True)

    def write(self, meta: dict[str, Any], inputs: Mapping[str, Any]) -> None:
        """Write every input once, then ``run.json`` last (its presence means complete)."""
        (self.path / INPUTS).mkdir(parents=True, exist_ok=True)
        for name, value in inputs.items():
            atomic_write_pickle(self.input_path(name), value)
        atomic_write_json(self.run_json, {"format_version": FORMAT_VERSION, **meta})

    def load_input(self, name: str) -> Any:
        return read_pickle(self.input_path(name))

    def read_single(self, path: Path) -> Any:
        """The stored value of a single-value output."""
        return read_pickle(path)


def _name(name: str, what: str) -> str:
    """``name`` if it is a Python identifier, as every input and output name is.

    Names also come from ``run.json`` and from callers (``load_outputs("...")``); one
    such as ``"../../elsewhere"`` must never become a path outside the run folder.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise RunFolderError(
            f"{what} name {name!r} is not a Python identifier, so it names nothing in a run "
            "folder (inputs and outputs are named like function parameters)"
        )
    return name
