"""The open run: shapes, storages and prepared inputs, shared by every engine.

An `OpenRun` is one run's state in one process: the pipeline, its input values, the
axis lengths and output shapes known so far, the output storages and single values,
and the run folder when there is one. ``map`` builds one from the caller's inputs;
``submit`` builds one to allocate storage and plan arrays; a follow-up job reopens one
from the run folder (`OpenRun.reopen`); an array task reopens one for its own func only
(``only=``), which unpickles only the inputs and opens only the storages that func
reads. `OpenRun.prepare` turns a func into the `FuncTask` that `execute_chunk` runs.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hpcflow._warn import warn_user
from hpcflow.element.checks import (
    check_choice,
    check_fixed,
    check_fixed_range,
    check_inputs,
    check_saved_to_folder,
    internal_shapes,
    storage_ids,
)
from hpcflow.element.execute import execute_chunk, shape_of, store_report
from hpcflow.element.task import ChunkReport, FuncTask, Source
from hpcflow.errors import CorruptDataError, InputError, PipelineError, RunFolderError
from hpcflow.plan.shapes import AxisLengths, as_input_array, external_shape
from hpcflow.runfolder.layout import OUTPUTS, SUPERSEDED, RunFolder
from hpcflow.runfolder.results import Result, ResultDict, array_output, open_storage
from hpcflow.runfolder.validate import validate_resume
from hpcflow.spec.func import Func
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.scopes import disk_name, flatten_scoped_inputs
from hpcflow.storage.base import StorageBase, get_storage_class

__all__ = ["ChunkSizer", "OpenRun"]

#: Elements per chunk of a func, given its number of elements.
ChunkSizer = Callable[[Func, int], int]


def _one_chunk(f: Func, n: int) -> int:
    return max(1, n)


class _StoredInputs(Mapping[str, Any]):
    """A run folder's inputs, each unpickled the first time it is read."""

    def __init__(self, folder: RunFolder, names: list[str]) -> None:
        self._folder = folder
        self._names = names
        self._loaded: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._names:
            raise KeyError(name)
        if name not in self._loaded:
            self._loaded[name] = self._folder.load_input(name)
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class OpenRun:
    """One run's shapes, storages and inputs, validated up front.

    Parameters
    ----------
    pipeline
        The pipeline (already reduced to the requested outputs).
    inputs
        Root-parameter values; a `Mapping` that loads lazily is read only where used.
    run_folder
        Where inputs, outputs and markers live; ``None`` keeps everything in memory (or
        in a temporary folder when a storage backend needs one).
    internal_shapes_given, storage, resume, resume_validation, fixed_indices, error_handling
        As for `hpcflow.map.run_map`.
    chunk_size
        Elements per chunk of a func (storage backends that align to chunks use it).
    reopened
        The run folder is this run's own (a worker, follow-up or resume): nothing is
        validated against it or rewritten, and stored shapes are adopted.
    only
        Open only what these funcs read and write (an array task: its func, and the
        funcs fused into its tasks).
    """

    def __init__(
        self,
        pipeline: Pipeline,
        inputs: Mapping[str, Any],
        run_folder: str | Path | None,
        internal_shapes_given: Mapping[str, Any] | None = None,
        *,
        storage: str | Mapping[Any, str] | None = None,
        resume: bool = False,
        resume_validation: Literal["auto", "strict", "skip"] = "auto",
        fixed_indices: Mapping[str, int | slice] | None = None,
        error_handling: Literal["raise", "continue"] = "raise",
        chunk_size: ChunkSizer = _one_chunk,
        reopened: bool = False,
        only: Sequence[Func] | None = None,
        recompute_damaged: bool | None = None,
    ) -> None:
        check_choice("error_handling", error_handling, ("raise", "continue"))
        check_choice("resume_validation", resume_validation, ("auto", "strict", "skip"))
        if not isinstance(inputs, Mapping):
            raise InputError(f"inputs must be a dict of name -> value, got {type(inputs).__name__}")
        self.pipeline = pipeline
        self.error_handling = error_handling
        self.chunk_size = chunk_size
        self.only = None if only is None else list(only)
        if not isinstance(inputs, _StoredInputs):
            # {"foo": {"x": 1}} is {"foo.x": 1}; a run folder holds the flat names
            inputs = flatten_scoped_inputs(inputs, pipeline.root_args())
        self.values = check_inputs(pipeline, inputs, stored=isinstance(inputs, _StoredInputs))
        self.internal = internal_shapes(pipeline, internal_shapes_given)
        self.storage_ids = storage_ids(pipeline, storage, run_folder)
        if run_folder is not None:
            check_saved_to_folder(self.storage_ids)
        if run_folder is None and any(
            get_storage_class(s).requires_serialization for s in self.storage_ids.values()
        ):
            run_folder = tempfile.mkdtemp(prefix="hpcflow-run-")
            on_disk = sorted(
                {
                    s
                    for s in self.storage_ids.values()
                    if get_storage_class(s).requires_serialization
                }
            )
            # the user asked for files but not where: say where they went, and that they stay
            warn_user(
                f"storage {', '.join(map(repr, on_disk))} keeps its values in files and no "
                f"run_folder was given, so this run is written to {run_folder}, which is "
                "not removed afterwards; pass run_folder=... to choose the folder, or "
                "storage='dict' to keep the values in memory"
            )
        self.folder = None if run_folder is None else RunFolder(run_folder)
        resuming = (resume or reopened) and self.folder is not None and self.folder.exists()
        if resuming:
            assert self.folder is not None
            # shapes resolved by the earlier run ('?' ones included) need no re-probing
            for name, info in self.folder.read_meta().get("arrays", {}).items():
                if name in self.storage_ids:
                    self.internal.setdefault(name, tuple(info["internal_shape"]))
                    if "?" in self.internal[name]:
                        self.internal[name] = tuple(info["internal_shape"])
        self.lengths = AxisLengths(pipeline.mapspecs)
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.arrays: dict[str, Any] = {}  # mapped inputs and outputs, by name
        self.singles: dict[str, Any] = {}
        self._probed: tuple[int, tuple[Any, ...]] | None = None  # element computed by _probe
        self._aside: Path | None = None  # where this resume sets damaged files aside
        self._plan_static()
        self.fixed = check_fixed(pipeline, self.lengths, fixed_indices or {})
        self.meta = self._meta()
        self.resume = resuming
        # A resume computes damaged stored elements again (they are set aside first);
        # anything else reading a damaged file raises `CorruptDataError`.
        self.recompute_damaged = (
            resuming and not reopened if recompute_damaged is None else recompute_damaged
        )
        # checking stored files costs a small read per file_array element; "skip" trusts
        # the folder, as it does its inputs
        self._check_damaged = self.recompute_damaged and resume_validation != "skip"
        # Array tasks read run.json but must not rewrite it: many run at once, and only
        # submit and follow-up jobs (one at a time) add to it.
        self.write_meta = not reopened
        if self.folder is not None and not reopened:
            to_store = {k: self.values[k] for k in sorted(self.values)}
            if resuming:
                validate_resume(self.folder, self.meta, to_store, resume_validation)
            else:
                _refuse_submitted(self.folder)
                self.folder.prepare_fresh()
                self.folder.write(self.meta, to_store)

    @classmethod
    def reopen(
        cls,
        folder: RunFolder,
        pipeline: Pipeline,
        *,
        only: Sequence[Func] | None = None,
        write_meta: bool = False,
        chunk_size: ChunkSizer = _one_chunk,
        recompute_damaged: bool = False,
    ) -> OpenRun:
        """The run as a worker, follow-up or resume sees it: everything stored so far.

        With ``only``, just those funcs' inputs are unpickled and their inputs' and
        outputs' storages opened. ``recompute_damaged`` (a resume): a damaged stored
        single value counts as not computed, and `set_aside_damaged` may be called.
        """
        meta = folder.read_meta()
        run = cls(
            pipeline, _StoredInputs(folder, list(meta["inputs"])), folder.path,
            storage=meta["storage"], error_handling=meta["error_handling"],
            chunk_size=chunk_size, reopened=True, only=only,
            recompute_damaged=recompute_damaged,
        )  # fmt: skip
        run.write_meta = write_meta
        run.adopt_existing(meta)
        return run

    # ------------------------------------------------------------- validation
    def _plan_static(self) -> None:
        """Shapes of everything knowable before running (not behind a '?')."""
        funcs = self.pipeline.sorted_funcs if self.only is None else self.only
        for f in funcs:
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
                self.lengths.set(spec, axis, n, f"the internal shape of {f.output_names[0]!r}")
        lengths = [self.lengths.length(spec, a) for a in spec.output_indices]
        if any(n is None for n in lengths):
            return False
        shape = tuple(int(n) for n in lengths if n is not None)
        for o in f.output_names:
            self.shapes[o] = shape
        return True

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

    # ------------------------------------------------------------ preparation
    def prepare(self, f: Func) -> FuncTask | None:
        """The `FuncTask` that computes ``f``'s elements; None if ``f`` is a single-value
        func whose value is stored already (and was loaded).

        Creates ``f``'s output storage; may compute one element to learn a ``"?"`` shape.
        """
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
            if self.resume and self.load_single(f):
                return None
            singles = (
                tuple(self.folder.single_output_path(o) for o in f.output_names)
                if self.folder is not None
                else None
            )
            return FuncTask(
                f, (), tuple(sources), None, error_handling=self.error_handling,
                single_paths=singles,
                # a marker says whether it failed, so status never unpickles the value
                marker_dir=self.folder.marker_folder(f.output_names) if self.folder else None,
            )  # fmt: skip
        self.lengths.learn(spec, self._known_shapes())
        ext_shape = external_shape(spec, self.lengths)
        task = FuncTask(
            f, ext_shape, tuple(sources), None, error_handling=self.error_handling,
            selected=self._selection(spec, ext_shape),
        )  # fmt: skip
        if not self._output_shapes(f):
            self._probe(f, task)
        n = int(np.prod(ext_shape, dtype=np.int64))
        task.outputs = tuple(self._storage(f, o, n) for o in f.output_names)
        task.internal_shape = tuple(
            self.shapes[f.output_names[0]][i] for i, m in enumerate(self._shape_mask(f)) if not m
        )
        if self.folder is not None:
            task.marker_dir = self.folder.marker_folder(f.output_names)
            if self._check_damaged:
                self.set_aside_damaged([f])
        if self._probed is not None:  # the element computed to learn the shape: keep it
            li, outs = self._probed
            self._probed = None
            store_report(task, ChunkReport(f.output_names, li, li + 1, n_ok=1, values=[(li, outs)]))
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
            self._create_storage(f, o, self.chunk_size(f, n))
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

    def adopt_existing(self, meta: dict[str, Any] | None = None) -> None:
        """Open what an earlier process of this run already stored (arrays and singles).

        With ``only``, just the storages and single values those funcs read or write.
        """
        assert self.folder is not None
        meta = meta if meta is not None else self.folder.read_meta()
        wanted = (
            None
            if self.only is None
            else {n for f in self.only for n in (*f.parameters, *f.output_names)}
        )
        for name in meta.get("arrays", {}):
            if wanted is not None and name not in wanted:
                continue
            if name in self.storage_ids and not isinstance(self.arrays.get(name), StorageBase):
                store = open_storage(self.folder, name, meta)
                self.arrays[name] = store
                self.shapes[name] = tuple(store.shape)
                self.meta["arrays"][name] = meta["arrays"][name]
                self.meta["shapes"][name] = meta["arrays"][name]["shape"]
        for f in self.pipeline.funcs:
            if f.mapspec is None and (wanted is None or set(f.output_names) & wanted):
                self.load_single(f)

    def load_single(self, f: Func) -> bool:
        """Load ``f``'s stored single values; False if they are not all stored."""
        if self.folder is None:
            return False
        paths = [self.folder.single_output_path(o) for o in f.output_names]
        if not all(p.exists() for p in paths):
            return False
        values = {}
        for o, p in zip(f.output_names, paths, strict=True):
            try:
                values[o] = self.folder.read_single(p)
            except CorruptDataError:
                if not self.recompute_damaged:
                    raise
                self._set_aside(p, self._damaged_dir() / OUTPUTS)
                return False
        self.singles.update(values)
        return True

    def set_aside_damaged(self, funcs: Sequence[Func] | None = None) -> dict[str, int]:
        """Move damaged stored elements aside, so that they count as not done.

        For a resume: `StorageBase.damaged_linear` finds them without unpickling (a
        cheap check of each pickle file's ends), `StorageBase.retire` moves their files
        into ``superseded/damaged-*/`` (nothing is deleted). Returns the elements moved
        per output; warns when any were.
        """
        assert self.folder is not None
        moved: dict[str, int] = {}
        for f in funcs if funcs is not None else self.pipeline.sorted_funcs:
            stores = [self.arrays.get(o) for o in f.output_names]
            if f.mapspec is None or not all(isinstance(st, StorageBase) for st in stores):
                continue
            bad = np.zeros(0, dtype=np.int64)
            for st in stores:
                assert isinstance(st, StorageBase)
                everything = np.arange(st.size, dtype=np.int64)  # not done: not damaged
                bad = np.union1d(bad, everything[st.damaged_linear(everything)])
            if not len(bad):
                continue
            aside = self._damaged_dir()
            for o, st in zip(f.output_names, stores, strict=True):
                assert isinstance(st, StorageBase)
                st.retire_damaged(bad, aside / OUTPUTS / disk_name(o))
                moved[o] = len(bad)
        if moved:
            warnings.warn(
                f"damaged stored elements (truncated or overwritten files) of {moved} in "
                f"{self.folder.path} were moved into {self.folder.path / SUPERSEDED}; "
                "they are computed again",
                stacklevel=3,
            )
        return moved

    def _damaged_dir(self) -> Path:
        assert self.folder is not None
        if self._aside is None:  # one folder per resume
            self._aside = self.folder.damaged_folder()
        return self._aside

    def _set_aside(self, path: Path, to: Path) -> None:
        to.mkdir(parents=True, exist_ok=True)
        os.replace(path, to / path.name)
        warnings.warn(
            f"{path} was damaged (it cannot be unpickled); it was moved into {to} and its "
            "value is computed again",
            stacklevel=4,
        )

    def missing(self) -> dict[str, np.ndarray | None]:
        """Per func (first output name): linear indices not done, or None if never stored."""
        out: dict[str, np.ndarray | None] = {}
        for f in self.pipeline.sorted_funcs:
            key = f.output_names[0]
            if f.mapspec is None:
                out[key] = np.zeros(0 if key in self.singles else 1, dtype=np.int64)
                continue
            stores = [self.arrays.get(o) for o in f.output_names]
            if not all(isinstance(st, StorageBase) for st in stores):
                out[key] = None
                continue
            first = stores[0]
            assert isinstance(first, StorageBase)
            ext = [n for n, m in zip(first.shape, first.shape_mask, strict=True) if m]
            everything = np.arange(int(np.prod(ext, dtype=np.int64)), dtype=np.int64)
            done = np.ones(len(everything), dtype=bool)
            for st in stores:
                assert isinstance(st, StorageBase)
                done &= st.done_linear(everything)
            out[key] = everything[~done]
        return out

    def results(self) -> ResultDict:
        """Every output known in this process, by name."""
        out = ResultDict()
        for f in self.pipeline.sorted_funcs:
            for name in f.output_names:
                if name in self.singles:
                    out[name] = Result(name, self.singles[name])
                elif isinstance(self.arrays.get(name), StorageBase):
                    store = self.arrays[name]
                    out[name] = Result(name, array_output(store), store)
        # for results.to_xarray() / .to_dataframe(): coordinates come from these
        out.inputs, out.pipeline = dict(self.values), self.pipeline
        return out

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

    def _storage(self, f: Func, name: str, n: int) -> StorageBase:
        """``name``'s storage: the one opened from the run folder, or a new one."""
        store = self.arrays.get(name)
        if isinstance(store, StorageBase):
            return store
        return self._create_storage(f, name, self.chunk_size(f, n))

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
            self.folder.update_meta(shapes=self.meta["shapes"], arrays=self.meta["arrays"])
        return store

    def _selection(self, spec: Any, ext_shape: tuple[int, ...]) -> np.ndarray | None:
        relevant = {a: v for a, v in self.fixed.items() if a in spec.external_indices}
        if not relevant:
            return None
        sel = np.zeros(ext_shape, dtype=bool)
        key = []
        for axis, n in zip(spec.external_indices, ext_shape, strict=True):
            if axis in relevant:
                check_fixed_range(axis, relevant[axis], n)
            key.append(relevant.get(axis, slice(None)))
        sel[tuple(key)] = True
        return sel.ravel()


def _refuse_submitted(folder: RunFolder) -> None:
    """Raise unless starting a fresh run in ``folder`` keeps every submitted run.

    A fresh run clears the folder's earlier run; one that was submitted may still have
    jobs queued or running (that write into the folder), and this layer cannot ask the
    scheduler. So only ``submit(overwrite=True)``, which replaces a run on purpose, may
    clear one (it sets the run aside first: this finds nothing then).
    """
    records = folder.holds_submission()
    if records:
        raise RunFolderError(
            f"run_folder {folder.path} holds a submitted run ({', '.join(records)}), whose "
            "jobs may still be queued or running, so map(resume=False) does not clear it. "
            f"Follow it with hpcflow.Run.open({str(folder.path)!r}) (or `hpcflow status`); "
            f"to discard it, stop its jobs (`hpcflow cancel {folder.path}`) and delete the "
            "folder, or replace it with submit(..., overwrite=True); or map into another "
            "run_folder"
        )


def _whole(value: Any) -> Any:
    """A mapped output passed whole to a func without a mapspec for it."""
    if isinstance(value, StorageBase):
        return array_output(value)
    return value
