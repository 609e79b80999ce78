"""Helpers shared by backends that store runs of consecutive elements."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from hpcflow.errors import StorageError

if TYPE_CHECKING:
    from multiprocessing.managers import SyncManager

__all__ = ["consecutive_runs", "in_spans", "shared_manager", "spans_to_arrays"]


def consecutive_runs(
    indices: Sequence[int] | np.ndarray, values: Sequence[Any]
) -> Iterator[tuple[int, int, list[Any]]]:
    """Sort ``indices`` (with their ``values``) and yield ``(start, stop, values)`` runs.

    Examples
    --------
    >>> [(a, b, v) for a, b, v in consecutive_runs([5, 1, 2], ["c", "a", "b"])]
    [(1, 3, ['a', 'b']), (5, 6, ['c'])]
    """
    idx = np.asarray(indices, dtype=np.int64)
    if len(idx) != len(values):
        raise StorageError(f"{len(idx)} indices but {len(values)} values")
    order = np.argsort(idx, kind="stable")
    idx = idx[order]
    vals = [values[int(o)] for o in order]
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    for lo, hi in zip([0, *breaks.tolist()], [*breaks.tolist(), len(idx)], strict=True):
        if hi > lo:
            yield int(idx[lo]), int(idx[hi - 1]) + 1, vals[lo:hi]


def spans_to_arrays(spans: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(starts, stops)`` arrays of ``[start, stop)`` spans."""
    ordered = sorted(spans)
    return (
        np.array([s for s, _ in ordered], dtype=np.int64),
        np.array([e for _, e in ordered], dtype=np.int64),
    )


_DENSE_MIN = 4096  # fewer indices: the binary search is as fast
_DENSE_FACTOR = 4  # most range per index for which the coverage mask pays


def in_spans(idx: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """For each index, whether some ``[start, stop)`` span holds it (spans sorted).

    Examples
    --------
    >>> in_spans(np.array([0, 3, 4, 9]), np.array([2, 8]), np.array([4, 10])).tolist()
    [False, True, False, True]
    """
    if len(starts) == 0:
        return np.zeros(len(idx), dtype=bool)
    if len(idx) >= _DENSE_MIN:
        lo, hi = int(idx.min()), int(idx.max()) + 1
        if hi - lo <= _DENSE_FACTOR * len(idx) and len(starts) * _DENSE_FACTOR <= len(idx):
            # many indices over a short range: one coverage mask of the range, O(range
            # + spans), instead of a binary search per index (1 s at 10^7 indices)
            covered = _covered(lo, hi, starts, stops)
            return np.asarray(covered[idx - lo] if lo else covered[idx])  # no temporary if lo=0
    pos = np.searchsorted(starts, idx, side="right") - 1
    return np.asarray((pos >= 0) & (idx < stops[np.maximum(pos, 0)]))


def _covered(lo: int, hi: int, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """Whether each of ``lo .. hi - 1`` is in some ``[start, stop)`` span (overlaps allowed).

    One slice assignment per span (spans are chunks: thousands, not millions).

    Examples
    --------
    >>> _covered(1, 7, np.array([0, 3, 4]), np.array([2, 5, 6])).tolist()
    [True, False, True, True, True, False]
    """
    mask = np.zeros(hi - lo, dtype=bool)
    a = (np.clip(starts, lo, hi) - lo).tolist()
    b = (np.clip(stops, lo, hi) - lo).tolist()
    for s, e in zip(a, b, strict=True):
        mask[s:e] = True
    return mask


_lock = threading.Lock()
_managers: list[SyncManager] = []  # at most one per process, started on first use


def shared_manager() -> SyncManager:
    """This process's manager for shared-memory backends (started on first use)."""
    import multiprocessing  # a manager process costs imports an array task never needs

    with _lock:
        if not _managers:
            _managers.append(multiprocessing.Manager())
        return _managers[0]
