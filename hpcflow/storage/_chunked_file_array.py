"""``chunked_file_array`` storage: one file per chunk, written once by its only writer."""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hpcflow._atomic import atomic_write_pickle, pickle_looks_whole, read_pickle
from hpcflow.errors import StorageError
from hpcflow.storage._spans import consecutive_runs, in_spans, spans_to_arrays
from hpcflow.storage.base import MISSING, StorageBase, register_builtin

__all__ = ["ChunkedFileArray"]

_NAME = re.compile(r"(\d+)-(\d+)\.pickle")
_CACHE_CHUNKS = 8


class ChunkedFileArray(StorageBase):
    """One file per run of consecutive elements of a chunk: ``START-STOP.pickle``.

    A chunk's task writes its values once, at the end of the chunk, with no locks and no
    read-modify-write: each file has exactly one writer and is renamed into place whole.
    The file names alone say which elements are done, so done-ness costs one directory
    listing with one entry per chunk, never per element, and never reads a value.

    A chunk whose elements are not consecutive (some were done already, or
    ``fixed_indices`` skipped them) is written as one file per consecutive run.
    """

    storage_id: ClassVar[str] = "chunked_file_array"
    requires_serialization: ClassVar[bool] = True
    dump_in_subprocess: ClassVar[bool] = True
    persistent: ClassVar[bool] = True
    saves_to_folder: ClassVar[bool] = True
    writes_whole_chunks: ClassVar[bool] = True

    def __init__(
        self,
        folder: str | Path | None,
        shape: Sequence[int],
        internal_shape: Sequence[int] | None = None,
        shape_mask: Sequence[bool] | None = None,
    ) -> None:
        if folder is None:
            raise StorageError("chunked_file_array storage needs a folder (pass run_folder=...)")
        super().__init__(folder, shape, internal_shape, shape_mask)
        self._starts = np.zeros(0, dtype=np.int64)
        self._stops = np.zeros(0, dtype=np.int64)
        self._listed = False
        self._values: OrderedDict[int, list[Any]] = OrderedDict()  # start -> values (LRU)

    # ------------------------------------------------------------------ writing
    def dump_chunk(self, indices: Sequence[int] | np.ndarray, values: Sequence[Any]) -> None:
        runs = list(consecutive_runs(indices, values))
        if not runs:
            return
        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        for start, stop, vals in runs:
            atomic_write_pickle(self.folder / f"{start}-{stop}.pickle", vals)
        self._listed = False

    def dump_linear(self, index: int, value: Any) -> None:
        self.dump_chunk([index], [value])

    def retire(self, indices: Sequence[int] | np.ndarray, to: Path) -> None:
        assert self.folder is not None
        self._list()
        idx = np.unique(np.asarray(indices, dtype=np.int64))
        to.mkdir(parents=True, exist_ok=True)
        for pos in np.unique(self._find(idx)).tolist():
            if pos < 0:
                continue
            start, stop = int(self._starts[pos]), int(self._stops[pos])
            name = f"{start}-{stop}.pickle"
            keep = np.setdiff1d(np.arange(start, stop), idx)
            if len(keep):  # (a damaged file is retired whole, and never read)
                values = read_pickle(self.folder / name)
                # The kept elements' new files are in place before the old file moves,
                # so an interruption leaves every value stored (twice at worst).
                self.dump_chunk(keep, [values[i - start] for i in keep.tolist()])
            os.replace(self.folder / name, to / name)
        self._values.clear()
        self._listed = False

    # ------------------------------------------------------------------ reading
    def _list(self) -> None:
        assert self.folder is not None
        spans = []
        try:
            with os.scandir(self.folder) as it:
                for entry in it:
                    m = _NAME.fullmatch(entry.name)
                    if m:
                        spans.append((int(m.group(1)), int(m.group(2))))
        except FileNotFoundError:
            pass
        self._starts, self._stops = spans_to_arrays(spans)
        self._listed = True

    def _find(self, idx: np.ndarray) -> np.ndarray:
        """Position of the file holding each index, or -1."""
        pos = np.searchsorted(self._starts, idx, side="right") - 1
        return np.where(in_spans(idx, self._starts, self._stops), pos, -1)

    def done_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        self._list()  # always fresh: other processes may have written chunks
        return in_spans(np.asarray(indices, dtype=np.int64), self._starts, self._stops)

    def damaged_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        # One check per chunk file; indices are looked up only if one fails, so status
        # of 10^7 elements pays for the files, not for a search per element.
        self._list()
        assert self.folder is not None
        bad = [
            (s, e)
            for s, e in zip(self._starts.tolist(), self._stops.tolist(), strict=True)
            if not pickle_looks_whole(self.folder / f"{s}-{e}.pickle")
        ]
        idx = np.asarray(indices, dtype=np.int64)
        if not bad:
            return np.zeros(len(idx), dtype=bool)
        return in_spans(idx, *spans_to_arrays(bad))

    def done_mask(self) -> np.ndarray:
        self._list()
        mask = np.zeros(self.size, dtype=bool)
        for s, e in zip(self._starts.tolist(), self._stops.tolist(), strict=True):
            mask[s:e] = True
        return mask.reshape(self.external_shape)

    def get_linear(self, index: int) -> Any:
        if not self._listed:
            self._list()
        pos = int(self._find(np.array([index]))[0])
        if pos < 0:
            self._list()  # a chunk may have appeared since the last listing
            pos = int(self._find(np.array([index]))[0])
            if pos < 0:
                return MISSING
        start, stop = int(self._starts[pos]), int(self._stops[pos])
        values = self._values.get(start)
        if values is None:
            assert self.folder is not None
            try:
                values = read_pickle(self.folder / f"{start}-{stop}.pickle")
            except FileNotFoundError:  # removed by a fresh run meanwhile
                self._listed = False
                return MISSING
            self._values[start] = values
            if len(self._values) > _CACHE_CHUNKS:
                self._values.popitem(last=False)
        else:
            self._values.move_to_end(start)
        return values[index - start]

    def to_array(self, *, splat_internal: bool = True) -> np.ma.MaskedArray:
        if self.internal_shape and splat_internal:
            return super().to_array(splat_internal=True)
        self._list()
        assert self.folder is not None
        data = np.empty(self.size, dtype=object)
        done = np.zeros(self.size, dtype=bool)
        # one read per chunk file instead of one lookup per element
        for start, stop in zip(self._starts.tolist(), self._stops.tolist(), strict=True):
            try:
                values = read_pickle(self.folder / f"{start}-{stop}.pickle")
            except FileNotFoundError:
                continue
            # one C-level copy per chunk: a Python loop per element took 6 s at 10^7;
            # fromiter keeps each value whole (a list or tuple value is not unpacked)
            data[start:stop] = np.fromiter(values, dtype=object, count=stop - start)
            done[start:stop] = True
        shape = self.external_shape
        return np.ma.MaskedArray(data.reshape(shape), mask=~done.reshape(shape))

    def __getstate__(self) -> dict[str, Any]:
        # Ship the handle, not the cache, to worker processes.
        state = dict(self.__dict__)
        state["_values"] = OrderedDict()
        state["_listed"] = False
        return state


register_builtin(ChunkedFileArray)
