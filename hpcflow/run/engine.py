"""The local map engine: run a pipeline in-process or on any Executor."""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.forkserver
import os
import tempfile
import uuid
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import cloudpickle
import numpy as np

from hpcflow.errors import InputError, PipelineError
from hpcflow.plan.chunks import ChunkSizes, chunk_ranges, resolve_chunksize
from hpcflow.plan.shapes import AxisLengths, as_input_array, external_shape
from hpcflow.run.execute import (
    ChunkReport,
    FuncTask,
    Source,
    execute_chunk,
    execute_payload,
    shape_of,
    write_marker,
)
from hpcflow.run.folder import RunFolder
from hpcflow.run.progress import ProgressTracker, ShowProgress
from hpcflow.run.results import Result, ResultDict, array_output, open_storage
from hpcflow.spec.func import Func, normalize_internal_shape
from hpcflow.spec.pipeline import Pipeline
from hpcflow.storage._atomic import atomic_write_json, read_pickle
from hpcflow.storage.base import StorageBase, get_storage_class

__all__ = ["AsyncMap", "run_map", "run_map_async"]

ExecutorArg = Executor | Mapping[Any, Executor] | None


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
        temporary folder when a storage backend needs one).
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
        a multi-output func's tuple) to executor with ``""`` as the default; funcs
        without an entry run in this process.
    chunksizes
        Elements per task: ``None`` (automatic), an int, or a dict like ``executor``
        whose values are ints or callables of the element count.
    storage
        Storage backend name, or a dict like ``executor``. Default ``"file_array"``
        with a ``run_folder``, else ``"dict"``.
    resume
        Reuse elements already done in ``run_folder`` (never recomputed, never loaded
        into this process just to skip them). ``False`` starts over, removing what
        hpcflow wrote to ``run_folder`` before (and nothing else).
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
    run = LocalRun(
        pipeline, inputs, run_folder, internal_shapes, output_names=output_names,
        parallel=parallel, executor=executor, chunksizes=chunksizes, storage=storage,
        resume=resume, resume_validation=resume_validation, fixed_indices=fixed_indices,
        auto_subpipeline=auto_subpipeline, show_progress=show_progress,
        return_results=return_results, error_handling=error_handling,
    )  # fmt: skip
    return run.execute()


class AsyncMap:
    """A run started with `run_map_async`: await ``.task`` or call ``.result()``."""

    def __init__(self, run: LocalRun, *, start: bool) -> None:
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
    run = LocalRun(pipeline, inputs, run_folder, internal_shapes, **kwargs)
    return AsyncMap(run, start=start)


class LocalRun:
    """One local run: validated up front, executed generation by generation."""

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
    ) -> None:
        _check_choice("error_handling", error_handling, ("raise", "continue"))
        _check_choice("resume_validation", resume_validation, ("auto", "strict", "skip"))
        if not isinstance(inputs, Mapping):
            raise InputError(f"inputs must be a dict of name -> value, got {type(inputs).__name__}")
        self.progress = ProgressTracker(show_progress)
        targets = _flatten_names(output_names)
        if auto_subpipeline:
            pipeline = pipeline.subpipeline(inputs, targets)
        elif targets is not None:
            pipeline = Pipeline(
                pipeline.ancestors(targets), default_resources=pipeline.default_resources
            )
        self.pipeline = pipeline
        self.error_handling = error_handling
        self.return_results = return_results
        self.chunksizes = chunksizes
        self.values = self._check_inputs(inputs)
        self.internal = self._internal_shapes(internal_shapes)
        self.storage_ids = self._storage_ids(storage, run_folder)
        if run_folder is not None:
            _check_saved_to_folder(self.storage_ids)
        if run_folder is None and any(
            get_storage_class(s).requires_serialization for s in self.storage_ids.values()
        ):
            run_folder = tempfile.mkdtemp(prefix="hpcflow-run-")
        self.folder = None if run_folder is None else RunFolder(run_folder)
        if resume and self.folder is not None and self.folder.exists():
            # shapes resolved by the earlier run ('?' ones included) need no re-probing
            for name, info in self.folder.read_meta().get("arrays", {}).items():
                if name in self.storage_ids:
                    self.internal.setdefault(name, tuple(info["internal_shape"]))
                    if "?" in self.internal[name]:
                        self.internal[name] = tuple(info["internal_shape"])
        self.executors = self._executors(executor, parallel)
        self.lengths = AxisLengths()
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.arrays: dict[str, Any] = {}  # mapped inputs and outputs, by name
        self.singles: dict[str, Any] = {}
        self._probed: tuple[int, tuple[Any, ...]] | None = None  # element computed by _probe
        self._plan_static()
        self.fixed = self._check_fixed(fixed_indices or {})
        self.meta = self._meta()
        if self.folder is not None:
            to_store = {k: self.values[k] for k in sorted(self.values)}
            if resume and self.folder.exists():
                self.folder.validate_resume(self.meta, to_store, resume_validation)
            else:
                self.folder.prepare_fresh()
                self.folder.write(self.meta, to_store)
        self.resume = resume
        # Workers of a submitted run read run.json but must not rewrite it: many run at
        # once, and only submit and continuation jobs (one at a time) add to it.
        self.write_meta = True

    # ------------------------------------------------------------- validation
    def _check_inputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        p = self.pipeline
        roots = set(p.root_args())
        unknown = sorted(set(inputs) - roots)
        if unknown:
            raise InputError(
                f"unexpected inputs {unknown}; the pipeline's inputs are {sorted(roots)}"
                + (
                    ""
                    if not set(unknown) & set(p.output_to_func)
                    else " (to give intermediate outputs, pass auto_subpipeline=True)"
                )
            )
        defaults = p.defaults
        missing = sorted(roots - set(inputs) - set(defaults))
        if missing:
            raise InputError(f"missing inputs {missing}; the pipeline needs {sorted(roots)}")
        return {**{k: v for k, v in defaults.items() if k in roots}, **inputs}

    def _internal_shapes(self, given: Mapping[str, Any] | None) -> dict[str, tuple[Any, ...]]:
        out: dict[str, tuple[Any, ...]] = {}
        for f in self.pipeline.funcs:
            for o in f.output_names:
                if f.internal_shape is not None:
                    out[o] = f.internal_shape
        for name, value in (given or {}).items():
            if name not in self.pipeline.output_to_func:
                raise InputError(
                    f"internal_shapes names {name!r}, which is not an output; outputs are "
                    f"{sorted(self.pipeline.output_to_func)}"
                )
            shape = normalize_internal_shape(value, f"internal_shapes[{name!r}]")
            assert shape is not None
            out[name] = shape
        return out

    def _storage_ids(self, storage: Any, run_folder: Any) -> dict[str, str]:
        default = "file_array" if run_folder is not None else "dict"
        out: dict[str, str] = {}
        for f in self.pipeline.funcs:
            for o in f.output_names:
                if isinstance(storage, Mapping):
                    name = storage.get(o, storage.get(f.output_names, storage.get("", default)))
                else:
                    name = storage or default
                get_storage_class(name)  # unknown names fail here, before anything runs
                out[o] = name
        return out

    def _executors(self, executor: ExecutorArg, parallel: bool) -> dict[str, Executor | None]:
        out: dict[str, Executor | None] = {}
        self._own_pool: Executor | None = None
        for f in self.pipeline.funcs:
            key = f.output_names
            ex: Executor | None
            if isinstance(executor, Mapping):
                ex = executor.get(key[0]) or executor.get(key) or executor.get("")
            elif executor is not None:
                ex = executor
            elif parallel:
                if self._own_pool is None:
                    self._own_pool = _default_pool()
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

    def _plan_static(self) -> None:
        """Shapes of everything knowable before running (not behind a '?')."""
        for f in self.pipeline.sorted_funcs:
            spec = f.mapspec
            if spec is None:
                continue
            for inp in spec.inputs:
                if inp.name in self.values and inp.name not in self.arrays:
                    arr = as_input_array(self.values[inp.name], inp.ndim, inp.name)
                    self.arrays[inp.name] = arr
                    self.shapes[inp.name] = tuple(arr.shape)
            if all(i.name in self.shapes for i in spec.inputs):
                self.lengths.learn(spec, self.shapes)
                self._output_shapes(f)

    def _output_shapes(self, f: Func) -> bool:
        """Set the full shapes of ``f``'s outputs if they are known; True if so."""
        spec = f.mapspec
        assert spec is not None
        internal = self.internal.get(f.output_names[0])
        if internal is None:
            internal = ("?",) * len(spec.internal_indices)
        if len(internal) != len(spec.internal_indices):
            raise InputError(
                f"internal shape {internal} of {f.output_names[0]!r} has {len(internal)} dims "
                f"but '{spec}' generates {len(spec.internal_indices)} axes"
            )
        for axis, n in zip(spec.internal_indices, internal, strict=True):
            if n != "?":
                self.lengths.set(axis, n, f"the internal shape of {f.output_names[0]!r}")
        if any(self.lengths.get(a) is None for a in spec.output_indices):
            return False
        shape = tuple(int(self.lengths.get(a)) for a in spec.output_indices)  # type: ignore[arg-type]
        for o in f.output_names:
            self.shapes[o] = shape
        return True

    def _check_fixed(self, fixed: Mapping[str, int | slice]) -> dict[str, int | slice]:
        if not fixed:
            return {}
        axes = {a for s in self.pipeline.mapspecs for a in s.output_indices}
        for axis, value in fixed.items():
            if axis not in axes:
                raise InputError(
                    f"fixed_indices names axis {axis!r}, which no mapspec has; axes are {sorted(axes)}"
                )
            if isinstance(value, bool) or not isinstance(value, int | slice | np.integer):
                raise InputError(f"fixed_indices[{axis!r}]={value!r} must be an int or a slice")
            for f in self.pipeline.funcs:
                for inp in f.mapspec.inputs if f.mapspec else ():
                    full = self.pipeline.array_axes.get(inp.name, ())
                    for a, b in zip(inp.axes, full, strict=False):
                        if a is None and b == axis:
                            raise InputError(
                                f"fixed_indices fixes axis {axis!r}, but {f.name!r} reduces over it "
                                f"({inp}); a reduction over a partial axis would be wrong"
                            )
                mapped = f.mapspec.input_names if f.mapspec else ()
                for p in f.parameters:
                    whole = p in self.pipeline.output_to_func and p not in mapped
                    if whole and axis in self.pipeline.array_axes.get(p, ()):
                        raise InputError(
                            f"fixed_indices fixes axis {axis!r}, but {f.name!r} takes the whole "
                            f"of {p!r} (axes {list(self.pipeline.array_axes[p])}), which would "
                            f"then be only partly computed; drop fixed_indices[{axis!r}], or "
                            f"leave {f.name!r} out with output_names=[{p!r}, ...]"
                        )
            n = self.lengths.get(axis)
            if n is not None:
                _check_fixed_range(axis, value, n)
        return dict(fixed)

    def _meta(self) -> dict[str, Any]:
        p = self.pipeline
        outputs = [o for f in p.sorted_funcs for o in f.output_names]
        return {
            "outputs": outputs,
            "mapspecs": {
                f.output_names[0]: (str(f.mapspec) if f.mapspec else None) for f in p.sorted_funcs
            },
            "storage": {o: self.storage_ids[o] for o in outputs},
            "shapes": {o: list(self.shapes[o]) if o in self.shapes else None for o in outputs},
            "arrays": {},
            "inputs": sorted(self.values),
            # which inputs index which axes, and which outputs nothing consumes: for loaders
            "input_axes": {
                name: list(axes) for name, axes in p.array_axes.items() if name in self.values
            },
            "leaves": [o for o in outputs if not any(o in f.parameters for f in p.funcs)],
            "error_handling": self.error_handling,
        }

    # -------------------------------------------------------------- execution
    def execute(self) -> ResultDict:
        try:
            for generation in self.pipeline.topological_generations():
                self._run_generation(generation)
        finally:
            self.progress.close()
            if self._own_pool is not None:
                self._own_pool.shutdown(wait=True, cancel_futures=True)
                self._own_pool = None
        return self._results()

    def _run_generation(self, funcs: list[Func]) -> None:
        pending: list[tuple[Future[Any] | ChunkReport, Func, FuncTask, bool]] = []
        try:
            for f in funcs:
                task = self._prepare(f)
                if task is None:
                    continue
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

    def _prepare(self, f: Func) -> FuncTask | None:
        spec = f.mapspec
        sources = []
        for p in f.parameters:
            if spec is not None and p in spec.input_names:
                inp = next(i for i in spec.inputs if i.name == p)
                ext = spec.external_indices
                axes = tuple(None if a is None else ext.index(a) for a in inp.axes)
                sources.append(Source(p, self.arrays[p], axes))
            elif p in self.values:
                sources.append(Source(p, self.values[p]))
            elif p in self.singles:
                sources.append(Source(p, self.singles[p]))
            else:
                sources.append(Source(p, _whole(self.arrays[p])))
        if spec is None:
            if self.resume and self._load_single(f):
                return None
            task = FuncTask(f, (), tuple(sources), None, error_handling=self.error_handling)
            self.progress.add(f.output_names[0], 1)
            return task
        self.lengths.learn(spec, self._known_shapes())
        ext_shape = external_shape(spec, self.lengths)
        task = FuncTask(
            f, ext_shape, tuple(sources), None, error_handling=self.error_handling,
            selected=self._selection(spec, ext_shape),
        )  # fmt: skip
        if not self._output_shapes(f):
            self._probe(f, task)
        n = int(np.prod(ext_shape, dtype=np.int64))
        task.outputs = tuple(
            self._create_storage(f, o, self._chunk_size(f, n)) for o in f.output_names
        )
        task.internal_shape = tuple(
            self.shapes[f.output_names[0]][i] for i, m in enumerate(self._shape_mask(f)) if not m
        )
        if self.folder is not None:
            task.marker_dir = self.folder.marker_folder(f.output_names)
        self.progress.add(f.output_names[0], int(np.prod(ext_shape, dtype=np.int64)))
        return task

    def allocate(self, f: Func) -> tuple[int, ...]:
        """Create ``f``'s output storage without computing anything; its external shape.

        Only for a func whose output shapes are known (see `known_shape`).
        """
        spec = f.mapspec
        assert spec is not None
        self.lengths.learn(spec, self._known_shapes())
        ext_shape = external_shape(spec, self.lengths)
        if not self._output_shapes(f):
            raise PipelineError(f"the shape of {f.output_names[0]!r} is not known yet")
        n = int(np.prod(ext_shape, dtype=np.int64))
        for o in f.output_names:
            self._create_storage(f, o, self._chunk_size(f, n))
        return ext_shape

    def _known_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of everything known so far: planned outputs and arrays already made."""
        return {**self.shapes, **{k: tuple(v.shape) for k, v in self.arrays.items()}}

    def known_shape(self, f: Func) -> bool:
        """True if ``f``'s inputs and outputs have known shapes (no probe needed)."""
        spec = f.mapspec
        if spec is None:
            return True
        have = {*self.shapes, *self.arrays}
        if not all(i.name in have for i in spec.inputs):
            return False
        self.lengths.learn(spec, self._known_shapes())
        return self._output_shapes(f)

    def adopt_existing(self) -> None:
        """Open what an earlier process of this run already stored (arrays and singles)."""
        assert self.folder is not None
        meta = self.folder.read_meta()
        for name in meta.get("arrays", {}):
            if name in self.storage_ids and not isinstance(self.arrays.get(name), StorageBase):
                store = open_storage(self.folder, name, meta)
                self.arrays[name] = store
                self.shapes[name] = tuple(store.shape)
                self.meta["arrays"][name] = meta["arrays"][name]
                self.meta["shapes"][name] = meta["arrays"][name]["shape"]
        for f in self.pipeline.funcs:
            if f.mapspec is None:
                self._load_single(f)

    def _probe(self, f: Func, task: FuncTask) -> None:
        """Compute the first selected element to learn a '?' internal shape."""
        assert f.mapspec is not None
        size = int(np.prod(task.external_shape, dtype=np.int64))
        first = (
            np.flatnonzero(task.selected) if task.selected is not None else np.arange(min(size, 1))
        )
        if len(first) == 0:
            raise InputError(
                f"cannot learn the internal shape of {f.output_names[0]!r}: no element of "
                f"{f.name!r} is selected; pass internal_shapes={{{f.output_names[0]!r}: ...}}"
            )
        report = execute_chunk(task, [int(first[0])])
        li, outs = report.values[0]
        if report.failed or report.propagated:
            raise PipelineError(
                f"cannot learn the internal shape of {f.output_names[0]!r}: its first element "
                f"failed ({outs[0]}); pass internal_shapes={{{f.output_names[0]!r}: ...}}"
            )
        spec = f.mapspec
        value = outs[0]
        n_int = len(spec.internal_indices)
        shape = shape_of(value, n_int)
        if len(shape) != n_int:
            raise PipelineError(
                f"{f.name!r} returned {type(value).__name__} for {f.output_names[0]!r}, which "
                f"has no {n_int} axes to fill {spec.internal_indices}"
            )
        for o in f.output_names:
            self.internal[o] = shape
        self._output_shapes(f)
        self._probed = (li, outs)

    def _shape_mask(self, f: Func) -> tuple[bool, ...]:
        assert f.mapspec is not None
        ext = set(f.mapspec.external_indices)
        return tuple(a in ext for a in f.mapspec.output_indices)

    def _create_storage(self, f: Func, name: str, chunk_size: int) -> StorageBase:
        cls = get_storage_class(self.storage_ids[name])
        mask = self._shape_mask(f)
        shape = self.shapes[name]
        internal = tuple(n for n, m in zip(shape, mask, strict=True) if not m)
        folder = self.folder.output_folder(name) if self.folder is not None else None
        extra = {"chunk_size": chunk_size} if cls.aligns_chunks else {}
        store = cls(folder, shape, internal, mask, **extra)
        self.arrays[name] = store
        self.meta["shapes"][name] = list(shape)
        self.meta["arrays"][name] = {
            "storage": self.storage_ids[name], "shape": list(shape),
            "internal_shape": list(internal), "shape_mask": list(mask),
            "axes": list(f.mapspec.output_indices) if f.mapspec else [],
        }  # fmt: skip
        if self.folder is not None and self.write_meta:
            atomic_write_json(self.folder.run_json, {**self.folder.read_meta(),
                "shapes": self.meta["shapes"], "arrays": self.meta["arrays"]})  # fmt: skip
        probed = self._probed
        if probed is not None:
            li, outs = probed
            store.dump_linear(li, outs[f.output_names.index(name)])
            if name == f.output_names[-1]:
                self._probed = None
        return store

    def _selection(self, spec: Any, ext_shape: tuple[int, ...]) -> np.ndarray | None:
        relevant = {a: v for a, v in self.fixed.items() if a in spec.external_indices}
        if not relevant:
            return None
        sel = np.zeros(ext_shape, dtype=bool)
        key = []
        for axis, n in zip(spec.external_indices, ext_shape, strict=True):
            if axis in relevant:
                _check_fixed_range(axis, relevant[axis], n)
            key.append(relevant.get(axis, slice(None)))
        sel[tuple(key)] = True
        return sel.ravel()

    def _chunk_size(self, f: Func, n: int) -> int:
        key = f.output_names
        ex = self.executors[key[0]]
        workers = None if ex is None else getattr(ex, "_max_workers", None) or os.cpu_count() or 1
        if ex is None and self.progress.mode != "off":
            workers = 25  # ~100 chunks, so the bar moves even when running in-process
        return resolve_chunksize(self.chunksizes, key, n, workers=workers)

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
        if task.outputs is None:  # single-value func
            _, outs = report.values[0]
            for name, value in zip(f.output_names, outs, strict=True):
                self.singles[name] = value
                if self.folder is not None:
                    self.folder.write_single_output(name, value)
        elif report.values:
            indices = [li for li, _ in report.values]
            for k, store in enumerate(task.outputs):
                store.dump_chunk(indices, [outs[k] for _, outs in report.values])
            if task.marker_dir is not None:
                write_marker(task.marker_dir, report)
        self.progress.advance(f.output_names[0], report.n_computed + report.n_skipped)

    def _finish(self, f: Func) -> None:
        for name in f.output_names:
            store = self.arrays.get(name)
            if isinstance(store, StorageBase):
                store.persist()

    def _load_single(self, f: Func) -> bool:
        if self.folder is None:
            return False
        paths = [self.folder.single_output_path(o) for o in f.output_names]
        if not all(p.exists() for p in paths):
            return False
        for o, p in zip(f.output_names, paths, strict=True):
            self.singles[o] = read_pickle(p)
        return True

    def _results(self) -> ResultDict:
        out = ResultDict()
        if not self.return_results:
            return out
        for f in self.pipeline.sorted_funcs:
            for name in f.output_names:
                if name in self.singles:
                    out[name] = Result(name, self.singles[name])
                elif isinstance(self.arrays.get(name), StorageBase):
                    store = self.arrays[name]
                    out[name] = Result(name, array_output(store), store)
        return out


def _default_pool() -> ProcessPoolExecutor:
    """The pool of ``parallel=True``: worker processes that are never plain forks.

    Forking copies only the calling thread, so a fork while other threads hold locks
    (``map_async`` always runs one, and progress bars or user code may run more) can
    deadlock the child; Python 3.12 warns about it. A forkserver (a clean process that
    forks the workers) is used where there is one, else fresh interpreters (spawn).
    Tasks travel cloudpickled (`execute_payload`), so lambdas and closures still work.
    The forkserver preloads hpcflow (added to whatever it preloads already), so its
    workers start in milliseconds instead of importing NumPy and hpcflow each.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return ProcessPoolExecutor(mp_context=multiprocessing.get_context("spawn"))
    ctx = multiprocessing.get_context("forkserver")
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    preload = list(getattr(server, "_preload_modules", None) or ["__main__"])
    if _PRELOAD not in preload:  # no effect once the forkserver runs, and harmless
        ctx.set_forkserver_preload([*preload, _PRELOAD])
    return ProcessPoolExecutor(mp_context=ctx)


_PRELOAD = "hpcflow.run.execute"


def _whole(value: Any) -> Any:
    """A mapped output passed whole to a func without a mapspec for it."""
    if isinstance(value, StorageBase):
        return array_output(value)
    return value


def _check_saved_to_folder(storage_ids: Mapping[str, str]) -> None:
    """Refuse backends whose values would not end up in the run folder."""
    for name, sid in storage_ids.items():
        if not get_storage_class(sid).saves_to_folder:
            raise InputError(
                f"output {name!r} uses storage {sid!r}, which keeps its values in memory "
                "only: they would be missing from the run folder; with a run_folder use "
                "'zarr_file_array', 'file_array' or 'chunked_file_array' for it (or run "
                "without a run_folder)"
            )


def _check_fixed_range(axis: str, value: int | slice, n: int) -> None:
    if isinstance(value, slice):
        if len(range(*value.indices(n))) == 0:
            raise InputError(f"fixed_indices[{axis!r}]={value} selects nothing of axis length {n}")
    elif not -n <= int(value) < n:
        raise InputError(f"fixed_indices[{axis!r}]={value} is out of range for axis length {n}")


def _check_choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise InputError(f"{name}={value!r} is not valid; use one of {list(valid)}")


def _flatten_names(names: Iterable[str | tuple[str, ...]] | None) -> list[str] | None:
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    out: list[str] = []
    for n in names:
        out.extend(n if isinstance(n, tuple) else (n,))
    return out
