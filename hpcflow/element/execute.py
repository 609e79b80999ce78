"""The one function that computes elements, `execute_chunk`, and the one writer.

The local engine calls it in-process or through an executor; the cluster worker calls
it on a compute node. It computes every selected, not-yet-done element of a chunk,
records each outcome (value, `ErrorSnapshot` or `PropagatedErrorSnapshot`) and, when the
run has a folder, writes a chunk marker atomically.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from hpcflow._atomic import atomic_write_pickle
from hpcflow.element.sendback import sendable
from hpcflow.element.snapshots import ErrorSnapshot, PropagatedErrorSnapshot, is_error
from hpcflow.element.task import ChunkReport, FuncTask
from hpcflow.element.unpicklable import Pairs, replace_unpicklable
from hpcflow.errors import HpcflowError, PipelineError
from hpcflow.runfolder.markers import write_marker
from hpcflow.spec.func import Func
from hpcflow.storage.base import StorageBase

__all__ = [
    "element_kwargs",
    "execute_chunk",
    "execute_payload",
    "shape_of",
    "store_report",
    "store_values",
]

_ALL = slice(None)


def execute_chunk(task: FuncTask, indices: Sequence[int] | range | np.ndarray) -> ChunkReport:
    """Compute the selected, not-yet-done elements among ``indices``.

    With ``error_handling="raise"`` the function's own exception propagates, with a
    note naming the output and element; elements finished before it stay stored.
    """
    t0 = time.perf_counter()
    f = task.func
    key = f.output_names
    idx = np.asarray(indices, dtype=np.int64)
    report = ChunkReport(
        key, int(idx[0]) if len(idx) else 0, int(idx[-1]) + 1 if len(idx) else 0,
        job_id=task.job_id, attempt=task.attempt,
    )  # fmt: skip
    if task.selected is not None:
        idx = idx[task.selected[idx]]
    if task.outputs is not None and len(idx):
        done = np.ones(len(idx), dtype=bool)
        for out in task.outputs:
            done &= out.done_linear(idx)
        report.n_skipped = int(done.sum())
        idx = idx[~done]
    ext = task.external_shape
    multi = [m.tolist() for m in np.unravel_index(idx, ext)] if ext else []
    n_out = len(key)
    continue_on_error = task.error_handling == "continue"
    writes = task.write and task.outputs is not None
    # Backends that write a chunk at a time get one dump_chunk call per chunk.
    buffered = [o.writes_whole_chunks for o in task.outputs] if writes and task.outputs else []
    direct = [(k, o) for k, o in enumerate(task.outputs or ()) if writes and not buffered[k]]
    whole = [(k, o) for k, o in enumerate(task.outputs or ()) if writes and buffered[k]]
    buffer: Pairs = []
    try:
        for n, (li, kwargs) in enumerate(element_kwargs(task, idx, multi)):
            outs = _call(
                f, kwargs, li, report, continue_on_error=continue_on_error, task=task,
                where=(ext, multi, n), n_out=n_out,
            )  # fmt: skip
            if writes:
                if direct:
                    outs = store_values(task, report, direct, [(li, outs)])[0][1]
                if whole:
                    buffer.append((li, outs))
            else:
                report.values.append((li, outs))
    finally:
        # Flush what was computed, also when an element raised: nothing done is lost.
        if buffer:
            store_values(task, report, whole, buffer)
    report.elapsed = time.perf_counter() - t0
    report.peak_rss = _peak_rss()
    if task.write:
        store_report(task, report)
    return report


def store_report(task: FuncTask, report: ChunkReport) -> None:
    """Store what ``report`` holds and the chunk marker: the one writer of results.

    Values a task wrote element by element are not in ``report.values``; values a task
    computed without writing (in a process that cannot write its storage) are, and
    are written here by the process that collects the report.
    """
    _check_guard(task)
    if task.outputs is None:
        if task.single_paths is not None and report.values:
            try:
                _write_singles(task.single_paths, report.values[0][1])
            except Exception:
                fixed, bad, err = replace_unpicklable(task, report, report.values)
                if not bad:
                    raise  # every value pickles: the write itself failed
                if err is not None:
                    raise err from err.__cause__
                report.values[:] = fixed
                _write_singles(task.single_paths, fixed[0][1])
            if task.marker_dir is not None:
                write_marker(task.marker_dir, report.start, report.stop, report.marker())
    else:
        if report.values:
            report.values[:] = store_values(
                task, report, list(enumerate(task.outputs)), report.values
            )
        if task.marker_dir is not None:
            write_marker(task.marker_dir, report.start, report.stop, report.marker())
    report.stored = True


def _write_singles(paths: tuple[Path, ...], outs: tuple[Any, ...]) -> None:
    for path, value in zip(paths, outs, strict=True):
        # outputs/ may not exist yet: mapped outputs make their own folders in it
        path.parent.mkdir(exist_ok=True)
        atomic_write_pickle(path, value)


def store_values(
    task: FuncTask,
    report: ChunkReport,
    stores: Sequence[tuple[int, StorageBase]],
    pairs: Pairs,
) -> Pairs:
    """Write ``pairs`` into ``stores`` (output position, storage); the pairs stored.

    An element with an output that cannot be pickled becomes that element's error
    (``error_handling="continue"``), or is left out and raised about once the chunk's
    other elements are stored (``"raise"``); see `replace_unpicklable`.
    """
    if not pairs or not stores:
        return pairs
    _check_guard(task)  # the folder still holds this task's run: else write nothing
    err = None
    if any(_pickles_later(s) for _, s in stores):
        # values kept in memory are pickled only by `persist`, after the run: check now
        pairs, _, err = replace_unpicklable(task, report, pairs)
    try:
        _dump(stores, pairs)
    except Exception:
        fixed, bad, err = replace_unpicklable(task, report, pairs)
        if not bad:
            raise  # every value pickles: the storage itself failed
        pairs = fixed
        _dump(stores, pairs)  # rewrites whole files/blocks, with the bad elements fixed
    if err is not None:
        raise err from err.__cause__
    return pairs


def _dump(stores: Sequence[tuple[int, StorageBase]], pairs: Pairs) -> None:
    indices = [li for li, _ in pairs]
    for k, store in stores:
        store.dump_chunk(indices, [outs[k] for _, outs in pairs])


def _pickles_later(store: StorageBase) -> bool:
    """Whether ``store`` keeps values in memory and pickles them into its folder later
    (a backend that encodes them when they are written needs no check beforehand)."""
    return (
        store.folder is not None and store.saves_to_folder and not store.pickles_on_dump
        and not store.requires_serialization and not store.dump_in_subprocess
    )  # fmt: skip


def element_kwargs(
    task: FuncTask, idx: np.ndarray, multi: list[list[int]] | None = None
) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(linear index, keyword arguments)`` of each element in ``idx``.

    ``multi`` is ``idx`` unravelled over the external shape, if the caller has it.
    """
    f = task.func
    ext = task.external_shape
    if multi is None:
        multi = [m.tolist() for m in np.unravel_index(idx, ext)] if ext else []
    whole = {s.name: s.value for s in task.sources if s.axes is None}
    mapped = [s for s in task.sources if s.axes is not None]
    for n, li in enumerate(idx.tolist()):
        kwargs = dict(whole)
        for s in mapped:
            sel = tuple(_ALL if p is None else multi[p][n] for p in s.axes)  # type: ignore[union-attr]
            kwargs[s.name] = _plain(s.value[sel], s.name, sel, f)
        yield li, kwargs


def _check_guard(task: FuncTask) -> None:
    """Raise if the task's run folder no longer holds its run (see `FuncTask.guard`)."""
    if task.guard is not None:
        task.guard()


def _call(
    f: Func,
    kwargs: dict[str, Any],
    li: int,
    report: ChunkReport,
    *,
    continue_on_error: bool,
    task: FuncTask,
    where: tuple[tuple[int, ...], list[list[int]], int],
    n_out: int,
) -> tuple[Any, ...]:
    """Call ``f`` for one element and record the outcome in ``report``."""
    failed_inputs = _failed_inputs(kwargs) if continue_on_error else None
    if failed_inputs:
        report.propagated.append(li)
        return (PropagatedErrorSnapshot(f, failed_inputs, kwargs),) * n_out
    try:
        result = f(**kwargs)
        outs = (result,) if n_out == 1 else _split(result, f)
        if task.internal_shape:
            _check_internal_shape(outs, task.internal_shape, f)
        if f.post_execution_hook is not None:
            f.post_execution_hook(f, result, kwargs)
    except Exception as e:
        if not continue_on_error:
            e.add_note(f"hpcflow: raised while computing {_where(f, *where, li)}")
            # travels with the exception (also pickled back from a pool worker), so that
            # Pipeline.map can keep it as pipeline.error_snapshot
            e.error_snapshot = ErrorSnapshot.capture(f, kwargs, e, detach=False)  # type: ignore[attr-defined]
            raise
        report.failed.append(li)
        return (ErrorSnapshot.capture(f, kwargs, e),) * n_out
    report.n_ok += 1
    return outs


# Worker processes unpickle each func's task once, not once per chunk.
_TASK_CACHE: dict[bytes, FuncTask] = {}


def execute_payload(payload: bytes, token: bytes, indices: range) -> bytes:
    """`execute_chunk` for a cloudpickled task, returning a cloudpickled report.

    Cloudpickle on both ends lets lambdas, closures and functions defined in
    ``__main__`` cross process boundaries, which plain pickle cannot do.
    """
    task = _TASK_CACHE.get(token)
    if task is None:
        _TASK_CACHE.clear()
        task = _TASK_CACHE[token] = cloudpickle.loads(payload)
    try:
        report = execute_chunk(task, indices)
    except Exception as e:
        # the pool pickles it back with plain pickle: a local exception class would
        # turn into a pickling error there
        out = sendable(e)
        if out is e:
            raise
        raise out.with_traceback(e.__traceback__) from None
    try:
        return bytes(cloudpickle.dumps(report))
    except Exception:
        # values the driver stores (in-memory storage) travel in the report
        fixed, bad, err = replace_unpicklable(task, report, report.values)
        if not bad:
            raise
        if err is not None:
            raise err from err.__cause__
        report.values = fixed
        return bytes(cloudpickle.dumps(report))


def _plain(value: Any, name: str, sel: tuple[Any, ...], f: Func) -> Any:
    if value is np.ma.masked:
        raise HpcflowError(
            f"input {name}{list(sel)} of {f.name!r} is missing (its element was never computed)"
        )
    if isinstance(value, np.ma.MaskedArray) and not np.ma.getmaskarray(value).any():
        return value.data
    return value


def _failed_inputs(kwargs: dict[str, Any]) -> dict[str, str]:
    failed: dict[str, str] = {}
    for k, v in kwargs.items():
        if is_error(v):
            failed[k] = "full"
        elif isinstance(v, np.ndarray) and v.dtype == object:
            n = sum(1 for x in v.flat if is_error(x))
            if n:
                failed[k] = f"{n} of {v.size} elements"
    return failed


def _split(result: Any, f: Func) -> tuple[Any, ...]:
    if f.output_picker is not None:
        return tuple(f.output_picker(result, name) for name in f.original_output_names)
    n = len(f.output_names)
    if not isinstance(result, tuple | list) or len(result) != n:
        raise PipelineError(
            f"{f.name!r} has {n} outputs {f.output_names} and must return a tuple of {n} "
            f"values, but returned {type(result).__name__} (or give it an output_picker)"
        )
    return tuple(result)


def _check_internal_shape(outs: tuple[Any, ...], shape: tuple[int, ...], f: Func) -> None:
    for name, v in zip(f.output_names, outs, strict=True):
        got = shape_of(v, len(shape))
        if got != shape:
            # the shape may have been learned from the first element ("?"): then the
            # elements disagree, and no other internal_shapes value would help
            raise PipelineError(
                f"{f.name!r} returned {name!r} with shape {got}, but its internal shape is "
                f"{shape} (given, or learned from its first element); every element must "
                "return that shape (ragged outputs are not stored): fix the function, or "
                f"if all its elements return {got}, pass internal_shapes={{{name!r}: {got}}}"
            )


def shape_of(value: Any, ndim: int) -> tuple[int, ...]:
    """The first ``ndim`` dimensions of an array or nested sequence (fewer if it has fewer)."""
    shape = np.shape(value) if isinstance(value, np.ndarray) else None
    if shape is not None:
        return tuple(shape[:ndim])
    out = []
    for _ in range(ndim):
        try:
            out.append(len(value))
            value = value[0] if len(value) else None
        except TypeError:
            break
    return tuple(out)


def _where(f: Func, ext: tuple[int, ...], multi: list[list[int]], n: int, li: int) -> str:
    outputs = ", ".join(repr(o) for o in f.output_names)
    if not ext:
        return f"output {outputs} of {f.name!r}"
    key = tuple(m[n] for m in multi)
    return f"output {outputs} of {f.name!r} at element {key} (linear index {li})"


def _peak_rss() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)
