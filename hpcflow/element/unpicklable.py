"""Outputs that cannot be pickled: that element's error, never the whole chunk's.

A value is pickled when it is stored (in a file, or by `persist`) or sent back from a
worker process. A function that returns something unpicklable (a lock, an open file)
must not lose the chunk's other elements nor abort the run under
``error_handling="continue"``; with ``"raise"`` the error names the func, the output and
the element. Values are only checked once a write has failed (or, for a storage that
pickles later, before storing), so good runs pay nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cloudpickle
import numpy as np

from hpcflow.element.snapshots import ErrorSnapshot
from hpcflow.element.task import ChunkReport, FuncTask
from hpcflow.errors import StorageError

__all__ = ["Pairs", "pickling_error", "replace_unpicklable"]

#: (linear index, one value per output) of computed elements
Pairs = list[tuple[int, tuple[Any, ...]]]


def pickling_error(value: Any) -> Exception | None:
    """The exception pickling ``value`` raises, or None if it pickles."""
    try:
        cloudpickle.dumps(value)
    except Exception as e:
        return e
    return None


def replace_unpicklable(
    task: FuncTask, report: ChunkReport, pairs: Sequence[tuple[int, tuple[Any, ...]]]
) -> tuple[Pairs, list[int], StorageError | None]:
    """``pairs`` with every element holding an unpicklable output dealt with.

    Under ``error_handling="continue"`` such an element's outputs all become one
    `ErrorSnapshot` (as when the function raises), counted as failed in ``report``.
    Under ``"raise"`` it is left out, and the returned error (to raise once the others
    are stored) names the func, output and element. Also returned: the linear indices
    of such elements (empty if every value pickles).
    """
    f = task.func
    out: Pairs = []
    bad_indices: list[int] = []
    first: StorageError | None = None
    for li, outs in pairs:
        bad = next(
            ((name, v, e) for name, v in zip(f.output_names, outs, strict=True)
             if (e := pickling_error(v)) is not None),
            None,
        )  # fmt: skip
        if bad is None:
            out.append((li, outs))
            continue
        name, value, exc = bad
        bad_indices.append(li)
        err = StorageError(
            f"output {name!r} of {f.name!r} {_element(task, li)} cannot be stored: its "
            f"{type(value).__module__}.{type(value).__qualname__} value cannot be pickled "
            f"({type(exc).__name__}: {exc}); return a picklable value (convert it, or "
            "leave it out of the output)"
        )
        err.__cause__ = exc
        if task.error_handling != "continue":
            first = first or err
            continue
        snap = _snapshot(task, li, err)
        out.append((li, (snap,) * len(outs)))
        if li not in report.failed and li not in report.propagated:
            report.n_ok -= 1
            report.failed.append(li)
            report.failed.sort()
    return out, bad_indices, first


def _element(task: FuncTask, li: int) -> str:
    ext = task.external_shape
    if not ext:
        return "(its single value)"
    key = tuple(int(i) for i in np.unravel_index(li, ext))
    return f"at element {key} (linear index {li})"


def _snapshot(task: FuncTask, li: int, err: StorageError) -> ErrorSnapshot:
    # imported here: execute imports this module
    from hpcflow.element.execute import element_kwargs

    if task.external_shape:
        _, kwargs = next(element_kwargs(task, np.array([li], dtype=np.int64)))
    else:
        kwargs = {s.name: s.value for s in task.sources}
    snap = ErrorSnapshot.capture(task.func, kwargs, err)
    if pickling_error(snap) is not None:  # an input of it does not pickle either
        snap.kwargs = {}
    return snap
