"""Checking a resumed ``map`` against what its run folder stored."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np

from hpcflow.errors import ResumeError
from hpcflow.runfolder.layout import RunFolder

__all__ = ["validate_resume"]


def validate_resume(
    folder: RunFolder,
    meta: dict[str, Any],
    inputs: Mapping[str, Any],
    mode: Literal["auto", "strict", "skip"],
) -> None:
    """Raise `ResumeError` if this run differs from the stored one.

    Mapspecs, storage and known shapes are always compared; inputs and defaults
    according to ``mode``.
    """
    old = folder.read_meta()
    for field, what in (
        ("mapspecs", "mapspecs"),
        ("storage", "storage backends"),
        ("outputs", "outputs"),
        ("error_handling", "error_handling"),
    ):
        if old.get(field) != meta.get(field):
            raise ResumeError(
                f"cannot resume {folder.path}: its {what} were {old.get(field)} but are now "
                f"{meta.get(field)}; use a new run_folder or resume=False"
            )
    for name, shape in meta["shapes"].items():
        before = old["shapes"].get(name)
        if before is not None and shape is not None and before != shape:
            raise ResumeError(
                f"cannot resume {folder.path}: shape of {name!r} was {tuple(before)} but is "
                f"now {tuple(shape)}; use a new run_folder or resume=False"
            )
    if mode == "skip":
        return
    if sorted(old.get("inputs", [])) != sorted(inputs):
        raise ResumeError(
            f"cannot resume {folder.path}: it was run with inputs {sorted(old['inputs'])} "
            f"but now gets {sorted(inputs)}"
        )
    for name, value in inputs.items():
        same = _equal(folder.load_input(name), value)
        if same is False:
            raise ResumeError(
                f"cannot resume {folder.path}: input {name!r} changed since the stored run; "
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
