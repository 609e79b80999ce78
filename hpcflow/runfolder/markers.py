"""The chunk markers of a run folder: written once per finished chunk, and read.

Each finished chunk leaves one JSON marker (`hpcflow.element.task.ChunkReport.marker`)
in ``RUN/markers/<outputs>/<start>-<stop>.json``, written atomically by `write_marker`. Its ``failed`` list holds the elements whose function
raised; ``propagated`` those that only received such an error. Status, ``rerun`` and
``resume(retry_failed=True)`` all need these lists without reading any stored value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpcflow._atomic import atomic_write_json

__all__ = ["MarkedErrors", "read_marked_errors", "read_markers", "write_marker"]


def write_marker(marker_dir: Path, start: int, stop: int, record: dict[str, Any]) -> None:
    """Record the finished chunk ``[start, stop)`` (atomically) in ``marker_dir``."""
    marker_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(marker_dir / f"{start}-{stop}.json", record)


def read_markers(marker_dir: Path) -> list[dict[str, Any]]:
    """Every marker in ``marker_dir`` that can be read (none if it does not exist).

    A marker being replaced (atomically) at that moment is skipped; the next read sees it.
    """
    out = []
    for path in sorted(marker_dir.glob("*.json")) if marker_dir.is_dir() else []:
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


@dataclass(frozen=True)
class MarkedErrors:
    """The errors the markers of one func list (sorted unique linear indices)."""

    failed: np.ndarray
    """Elements whose function raised."""
    propagated: np.ndarray
    """Elements that only received an error from upstream."""
    paths: list[Path]
    """The markers that list any of them."""

    @property
    def any(self) -> np.ndarray:
        """Every element holding an error, own or propagated."""
        return np.union1d(self.failed, self.propagated)


def read_marked_errors(marker_dir: Path) -> MarkedErrors:
    """What the markers in ``marker_dir`` (which may not exist yet) list as errors.

    A marker that cannot be read is skipped: markers are replaced atomically, so that
    happens only while one is being replaced, and the next read sees it.

    Examples
    --------
    >>> import json, tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "0.json").write_text(json.dumps({"failed": [3], "propagated": [5, 4]}))
    >>> m = read_marked_errors(d)
    >>> m.failed.tolist(), m.propagated.tolist(), m.any.tolist(), [p.name for p in m.paths]
    ([3], [4, 5], [3, 4, 5], ['0.json'])
    """
    failed: list[int] = []
    propagated: list[int] = []
    paths: list[Path] = []
    if marker_dir.is_dir():
        for path in sorted(marker_dir.glob("*.json")):
            try:
                m = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # being replaced: see read_markers
            own, got = m.get("failed", []), m.get("propagated", [])
            if own or got:
                failed += own
                propagated += got
                paths.append(path)
    return MarkedErrors(
        np.unique(np.asarray(failed, dtype=np.int64)),
        np.unique(np.asarray(propagated, dtype=np.int64)),
        paths,
    )
