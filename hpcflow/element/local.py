"""The local engine: ``map`` and ``map_async``, in-process or on any Executor.

`LocalMap` opens the run (`OpenRun`), then computes generation by generation: each
func's elements in chunks through `execute_chunk`, in this process, on threads, or in
worker processes (whose reports this process stores with `store_report`).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import threading
import uuid
import weakref
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Literal

import cloudpickle
import numpy as np

from hpcflow.element.checks import check_choice
from hpcflow.element.execute import execute_chunk, execute_payload, store_report
from hpcflow.element.openrun import OpenRun
from hpcflow.element.progress import ProgressTracker, ShowProgress
from hpcflow.element.task import ChunkReport, FuncTask
from hpcflow.errors import InputError
from hpcflow.plan.chunks import (
    ChunkSizes,
    check_chunksizes,
    check_output_keys,
    chunk_ranges,
    resolve_chunksize,
)
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.lock import run_lock
from hpcflow.runfolder.results import ResultDict
from hpcflow.spec.func import Func
from hpcflow.spec.pipeline import Pipeline
from hpcflow.storage.base import StorageBase

__all__ = ["AsyncMap", "LocalMap", "run_map", "run_map_async"]

ExecutorArg = Executor | Mapping[Any, Executor | None] | None


def run_map(
    pipeline: Pipeline,
    inputs: Mapping[str, Any],
    run_folder: str | Path | None = None,
    internal_shapes: Mapping[str, Any] | None = None,
    *,
    output_names: Iterable[str | tuple[str, ...]] | None = None,
    parallel: bool = True,
    executor: ExecutorArg = None,
    chunksizes: ChunkSizes = None,
    storage: str | Mapping[Any, str] | None = None,
    resume: bool = False,
    resume_validation: Literal["auto", "strict", "skip"] = "auto",
    fixed_indices: Mapping[str, int | slice] | None = None,
    auto_subpipeline: bool = False,
    show_progress: ShowProgress = None,
    return_results: bool = True,
    error_handling: Literal["raise", "continue"] = "raise",
) -> ResultDict:
    """Run ``pipeline`` on ``inputs`` locally and return its outputs.

    Parameters
    ----------
    pipeline
        The pipeline to run.
    inputs
        Values of the pipeline's root parameters; mapped ones are lists or arrays.
    run_folder
        Where inputs, outputs and markers are written. ``None``: in memory (or a
        temporary folder when a storage backend needs one). Its lock is held until the
        run ends: a concurrent ``map``, ``submit`` or ``resume`` of the folder gets
        `RunLockedError`.
    internal_shapes
        ``{output: shape}`` for axes a function generates; ``"?"`` is resolved from
        the first element. Overrides ``Func(internal_shape=...)``.
    output_names
        Compute only these outputs (and what they need).
    parallel
        Use a process pool when no ``executor`` is given. ``False`` runs everything
        in this process.
    executor
        A `concurrent.futures.Executor` for all funcs, or a dict from output name (or
        a multi-output func's tuple) to executor with ``""`` as the default. In a dict,
        ``None`` runs that func in this process; a func with no entry and no ``""``
        default is an `InputError` before anything runs.
    chunksizes
        Elements per task: ``None`` (automatic), an int, or a dict like ``executor``
        whose values are ints or callables of the element count.
    storage
        Storage backend name, or a dict like ``executor``. Default ``"file_array"``
        with a ``run_folder``, else ``"dict"``.
    resume
        Reuse elements already done in ``run_folder`` (never recomputed, never loaded
        into this process just to skip them). ``False`` starts over, removing what
        hpcflow wrote to ``run_folder`` before (and nothing else); a folder holding a
        submitted run is refused (`RunFolderError`), never cleared.
    resume_validation
        ``"auto"``: inputs and defaults must equal the stored ones; if equality cannot
        be decided, warn and proceed. ``"strict"``: undecidable is an error.
        ``"skip"``: do not compare inputs. Mapspecs and shapes are always checked.
    fixed_indices
        ``{axis: index or slice}``: compute only those elements.
    auto_subpipeline
        Allow intermediate outputs among ``inputs``; what produced them is skipped.
    show_progress
        ``True``/``"rich"`` draws a bar per output, ``"headless"`` only counts.
    return_results
        ``False`` leaves results in storage only (returns an empty `ResultDict`).
    error_handling
        ``"raise"``: the first failure propagates (with a note naming the output and
        element). ``"continue"``: failures become `ErrorSnapshot` and what depends on
        them `PropagatedErrorSnapshot`; everything else is computed.
    """
    run = LocalMap(
        pipeline, inputs, run_folder, internal_shapes, output_names=output_names,
        parallel=parallel, executor=executor, chunksizes=chunksizes, storage=storage,
        resume=resume, resume_validation=resume_validation, fixed_indices=fixed_indices,
        auto_subpipeline=auto_subpipeline, show_progress=show_progress,
        return_results=return_results, error_handling=error_handling,
    )  # fmt: skip
    return run.execute()


class AsyncMap:
    """A run started with `run_map_async`: await ``.task`` or call ``.result()``."""

    def __init__(self, run: LocalMap, *, start: bool) -> None:
        self._run = run
        self._task: asyncio.Task[ResultDict] | None = None
        if start:
            self.start()

    @property
    def progress(self) -> ProgressTracker:
        """Elements done per output, updated while the run proceeds."""
        return self._run.progress

    def start(self) -> AsyncMap:
        """Start the run in the running event loop (no-op if already started)."""
        if self._task is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                raise RuntimeError(
                    "map_async(start=True) needs a running event loop; in a plain script use "
                    "map_async(..., start=False).result() or pipeline.map(...)"
                ) from None
            self._task = loop.create_task(asyncio.to_thread(self._run.execute))
        return self

    @property
    def task(self) -> asyncio.Task[ResultDict]:
        """The `asyncio.Task` computing the results."""
        if self._task is None:
            raise RuntimeError("the run has not started; call .start() inside an event loop")
        return self._task

    def result(self) -> ResultDict:
        """Block until done and return the results (runs the map if not started)."""
        if self._task is None:
            return self._run.execute()
        if self._task.done():
            return self._task.result()
        raise RuntimeError(
            "the run is executing in a running event loop; use `await runner.task` there"
        )


def run_map_async(
    pipeline: Pipeline,
    inputs: Mapping[str, Any],
    run_folder: str | Path | None = None,
    internal_shapes: Mapping[str, Any] | None = None,
    *,
    start: bool = True,
    **kwargs: Any,
) -> AsyncMap:
    """Like `run_map` but returns at once with an `AsyncMap`.

    Inputs are validated before this returns. With ``start=True`` (default) the run
    begins in the running event loop; with ``start=False`` it begins on ``.start()``
    or runs synchronously on ``.result()``.
    """
    kwargs.setdefault("parallel", True)
    run = LocalMap(pipeline, inputs, run_folder, internal_shapes, threaded=start, **kwargs)
    return AsyncMap(run, start=start)


class LocalMap:
    """One local run: opened and validated up front, executed generation by generation."""

    def __init__(
        self,
        pipeline: Pipeline,
        inputs: Mapping[str, Any],
        run_folder: str | Path | None,
        internal_shapes: Mapping[str, Any] | None,
        *,
        output_names: Iterable[str | tuple[str, ...]] | None = None,
        parallel: bool = True,
        executor: ExecutorArg = None,
        chunksizes: ChunkSizes = None,
        storage: str | Mapping[Any, str] | None = None,
        resume: bool = False,
        resume_validation: Literal["auto", "strict", "skip"] = "auto",
        fixed_indices: Mapping[str, int | slice] | None = None,
        auto_subpipeline: bool = False,
        show_progress: ShowProgress = None,
        return_results: bool = True,
        error_handling: Literal["raise", "continue"] = "raise",
        threaded: bool = False,
    ) -> None:
        check_choice("error_handling", error_handling, ("raise", "continue"))
        if not isinstance(inputs, Mapping):
            raise InputError(f"inputs must be a dict of name -> value, got {type(inputs).__name__}")
        self.progress = ProgressTracker(show_progress)
        # against the whole pipeline: a key for an output left out by output_names is fine
        outputs = [f.output_names for f in pipeline.funcs]
        check_chunksizes(chunksizes, outputs)
        for arg, value in (("executor", executor), ("storage", storage)):
            if isinstance(value, Mapping):
                check_output_keys(arg, value, outputs)
        targets = _flatten_names(output_names)
        if auto_subpipeline:
            pipeline = pipeline.subpipeline(inputs, targets)
        elif targets is not None:
            pipeline = Pipeline(
                pipeline.ancestors(targets),
                default_resources=pipeline.default_resources,
                validate_type_annotations=pipeline.validate_type_annotations,
            )
        self.return_results = return_results
        self.chunksizes = chunksizes
        # map_async computes on a thread: worker processes must then not be forks
        self.threaded = threaded
        self._own_pool: Executor | None = None
        self.executors = self._executors(pipeline, executor, parallel)
        # The run folder's lock, as submit and resume take it: from before OpenRun
        # writes (or validates) the folder until execute ends. A LocalMap that is never
        # executed (map_async(start=False) dropped) frees it when collected.
        self._lock: ExitStack | None = ExitStack()
        weakref.finalize(self, self._lock.close)
        made: Path | None = None  # a folder the lock created, removed again on bad input
        try:
            if run_folder is not None:
                path = _lockable(run_folder)
                made = None if path.exists() else path
                self._lock.enter_context(run_lock(path, "map"))
            self.run = OpenRun(
                pipeline, inputs, run_folder, internal_shapes, storage=storage, resume=resume,
                resume_validation=resume_validation, fixed_indices=fixed_indices,
                error_handling=error_handling, chunk_size=self._chunk_size,
            )  # fmt: skip
        except BaseException:
            self._lock.close()
            if made is not None:
                with contextlib.suppress(OSError):
                    made.rmdir()  # only if still empty
            raise

    def _executors(
        self, pipeline: Pipeline, executor: ExecutorArg, parallel: bool
    ) -> dict[str, Executor | None]:
        out: dict[str, Executor | None] = {}
        for f in pipeline.funcs:
            key = f.output_names
            ex: Executor | None
            if isinstance(executor, Mapping):
                ex = _executor_entry(executor, key)
            elif executor is not None:
                ex = executor
            elif parallel:
                if self._own_pool is None:
                    self._own_pool = _default_pool(threads=self.threaded)
                ex = self._own_pool
            else:
                ex = None
            if ex is not None and not isinstance(ex, Executor):
                raise InputError(
                    f"executor for {key} must be a concurrent.futures.Executor, got {ex!r}"
                )
            for o in key:
                out[o] = ex
        return out

    def _chunk_size(self, f: Func, n: int) -> int:
        key = f.output_names
        ex = self.executors[key[0]]
        workers = None if ex is None else getattr(ex, "_max_workers", None) or os.cpu_count() or 1
        if ex is None and self.progress.mode != "off":
            workers = 25  # ~100 chunks, so the bar moves even when running in-process
        return resolve_chunksize(self.chunksizes, key, n, workers=workers)

    # -------------------------------------------------------------- execution
    def execute(self) -> ResultDict:
        """Compute every missing element, holding the run folder's lock; the results."""
        lock, self._lock = self._lock, None
        if lock is None:  # an earlier execute released the lock __init__ took
            lock = ExitStack()
            if self.run.folder is not None:
                lock.enter_context(run_lock(self.run.folder.path, "map"))
        with lock:
            try:
                for generation in self.run.pipeline.topological_generations():
                    self._run_generation(generation)
            finally:
                self.progress.close()
                if self._own_pool is not None:
                    self._own_pool.shutdown(wait=True, cancel_futures=True)
                    self._own_pool = None
            return self.run.results() if self.return_results else ResultDict()

    def _run_generation(self, funcs: list[Func]) -> None:
        pending: list[tuple[Future[Any] | ChunkReport, Func, FuncTask, bool]] = []
        try:
            for f in funcs:
                task = self.run.prepare(f)
                if task is None:
                    continue
                n = int(np.prod(task.external_shape, dtype=np.int64))
                self.progress.add(f.output_names[0], n)
                pending.extend(self._submit(f, task))
            for fut, f, task, pickled in pending:
                report = fut if isinstance(fut, ChunkReport) else fut.result()
                if pickled:
                    report = cloudpickle.loads(report)
                self._collect(f, task, report)
        except BaseException:
            for fut, *_ in pending:
                if isinstance(fut, Future):
                    fut.cancel()
            raise
        finally:
            for f in funcs:
                self._finish(f)

    def _submit(self, f: Func, task: FuncTask) -> list[tuple[Any, Func, FuncTask, bool]]:
        key = f.output_names
        n = int(np.prod(task.external_shape, dtype=np.int64))
        ex = self.executors[key[0]]
        size = self._chunk_size(f, n)
        aligned = [o for o in task.outputs or () if o.aligns_chunks]
        if aligned:
            # blocked backends (zarr) fix the chunking; on resume it is the stored one
            size = int(aligned[0].chunk_size)  # type: ignore[attr-defined]
        ranges = chunk_ranges(n, size)
        if ex is None:
            return [(execute_chunk(task, r), f, task, False) for r in ranges]
        if isinstance(ex, ThreadPoolExecutor):
            return [(ex.submit(execute_chunk, task, r), f, task, False) for r in ranges]
        outputs_writable = task.outputs is not None and all(
            o.dump_in_subprocess for o in task.outputs
        )
        task.write = outputs_writable
        payload = cloudpickle.dumps(task)
        token = uuid.uuid4().bytes
        return [(ex.submit(execute_payload, payload, token, r), f, task, True) for r in ranges]

    def _collect(self, f: Func, task: FuncTask, report: ChunkReport) -> None:
        if not report.stored:
            store_report(task, report)
        if task.outputs is None:  # single-value func: its value lives in this process too
            _, outs = report.values[0]
            self.run.singles.update(zip(f.output_names, outs, strict=True))
        self.progress.advance(f.output_names[0], report.n_computed + report.n_skipped)

    def _finish(self, f: Func) -> None:
        for name in f.output_names:
            store = self.run.arrays.get(name)
            if isinstance(store, StorageBase):
                store.persist()


def _executor_entry(
    executor: Mapping[Any, Executor | None], key: tuple[str, ...]
) -> Executor | None:
    """The executor a dict ``executor=`` gives the func with outputs ``key``.

    Looked up as ``chunksizes`` is, both being settings of a func: the func's tuple of
    output names, then each of its names, then ``""``. ``None`` is this process. A func
    with no entry is refused: it would otherwise run in this process unnoticed (a
    misspelt key, a forgotten func).
    """
    for k in (key, *key, ""):
        if k in executor:
            return executor[k]
    shown = key[0] if len(key) == 1 else key
    raise InputError(
        f"executor has no entry for output {shown!r} (its keys are {list(executor)}); "
        f"add one for {shown!r}, or a default under '' (None runs it in this process)"
    )


def _default_pool(*, threads: bool) -> ProcessPoolExecutor:
    """The pool of ``parallel=True``: worker processes that are never unsafe forks.

    Forking copies only the calling thread, so a fork while other threads run (and may
    hold locks) can deadlock the child; Python 3.12 warns about it. When this process has
    other threads, or the run computes on one (``map_async``), the workers come from a
    forkserver (a clean single-threaded process), or are fresh interpreters (spawn) where
    there is none. Otherwise they are plain forks, which start fastest and need no
    ``if __name__ == "__main__":`` guard in the user's script. Tasks travel cloudpickled
    (`execute_payload`), so lambdas and closures work with every start method.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and not threads and threading.active_count() == 1:
        method = "fork"
    else:
        method = "forkserver" if "forkserver" in methods else "spawn"
    return ProcessPoolExecutor(mp_context=multiprocessing.get_context(method))


def _lockable(run_folder: str | Path) -> Path:
    """``run_folder`` as a path its lock can be made in (a file, or a path inside one, is
    refused by `RunFolder`).
    """
    return RunFolder(run_folder).path


def _flatten_names(names: Iterable[str | tuple[str, ...]] | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    out: list[str] = []
    for n in names:
        out.extend(n if isinstance(n, tuple) else (n,))
    return out
