"""zarr storage: ``zarr_file_array``, ``zarr_memory`` and ``zarr_shared_memory`` (zarr 3).

Layout: one zarr array of shape ``(n_elements, *internal_shape)``, flattened over the
external axes in C order, whose zarr chunks are exactly the execution chunks
(``chunk_size`` elements). A chunk's task therefore writes whole zarr chunks, and no
two writers ever share one: no locks and no read-modify-write across processes.
Loading reshapes the array back to the output's N-D shape.

Numbers are stored with their NumPy dtype, decided by the first chunk written (with an
exclusive create, so concurrent first writers agree). A later value that does not fit
that dtype safely is an error, never a silent cast. Anything else is stored as
cloudpickled bytes, one per element.

An element counts as done only once a marker for its run of elements exists, written
after the values, so a writer killed mid-chunk leaves nothing counted as done.

The in-memory backends, given a folder (a run folder's ``outputs/<name>/``), persist
their done elements into one file there (``persist``, called when a func finishes)
and a later instance for that folder starts from it, as ``dict`` storage does.
"""

from __future__ import annotations

import json
import numbers
import os
import re
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import MutableMapping, MutableSequence, Sequence
from pathlib import Path
from typing import Any, ClassVar

import cloudpickle
import numpy as np

from hpcflow._atomic import atomic_write_bytes, atomic_write_pickle, read_pickle
from hpcflow.errors import CorruptDataError, StorageError
from hpcflow.storage._spans import consecutive_runs, in_spans, shared_manager, spans_to_arrays
from hpcflow.storage._zstd import zstd_frame_looks_whole
from hpcflow.storage.base import MISSING, StorageBase, register_builtin

__all__ = ["ZarrFileArray", "ZarrMemoryArray", "ZarrSharedMemoryArray"]

_OBJECT = "cloudpickle"
_SPAN = re.compile(r"(\d+)-(\d+)")
_DEFAULT_CHUNK = 1000
# the in-memory backends' values, persisted into their folder (one file per output)
_PERSIST_NAME = "zarr_memory.cloudpickle"
# all of an output's values are in this one file, so none of them can be kept
_PERSIST_WAY_OUT = (
    "delete the file, and resume the run to compute every element of this output again"
)
# what zarr and numcodecs raise for a chunk that cannot be decoded (zstd: RuntimeError)
_UNDECODABLE = (RuntimeError, ValueError, EOFError, TypeError)


def _zarr() -> Any:
    try:
        import zarr
    except ImportError:  # zarr is a dependency; this only guards broken installs
        raise StorageError("zarr storage needs zarr>=3; pip install 'zarr>=3'") from None
    return zarr


def _infer_dtype(values: Sequence[Any], internal_shape: tuple[int, ...]) -> str:
    """A NumPy dtype string if every value is numeric with the right shape, else objects."""
    try:
        if all(isinstance(v, numbers.Number | np.generic | np.ndarray) for v in values):
            arr = np.asarray(values)
            if arr.shape[1:] == internal_shape and arr.dtype.kind in "biufc":
                return str(arr.dtype)
    except (TypeError, ValueError):
        pass
    return _OBJECT


class _ZarrBase(StorageBase):
    """Shared logic; subclasses say where the zarr store and the bookkeeping live."""

    writes_whole_chunks: ClassVar[bool] = True
    aligns_chunks: ClassVar[bool] = True
    pickles_on_dump: ClassVar[bool] = True  # object values go through a codec when written

    def __init__(
        self,
        folder: str | Path | None,
        shape: Sequence[int],
        internal_shape: Sequence[int] | None = None,
        shape_mask: Sequence[bool] | None = None,
        *,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__(folder, shape, internal_shape, shape_mask)
        stored = self._meta_get("chunk_size")
        if stored is None:
            wanted = max(1, min(chunk_size or _DEFAULT_CHUNK, max(self.size, 1)))
            stored = self._meta_decide("chunk_size", wanted)
        self.chunk_size: int = int(stored)
        self._array: Any = None
        self._spans_seen: tuple[np.ndarray, np.ndarray] | None = None
        # block number -> (raw values, which of them were done when read); LRU
        self._blocks: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()

    def layout(self) -> tuple[Any, ...]:
        return (self.chunk_size,)

    # ---------------------------------------------------------- subclass hooks
    def _store(self) -> Any:
        raise NotImplementedError

    def _meta_get(self, key: str) -> Any:
        raise NotImplementedError

    def _meta_decide(self, key: str, value: Any) -> Any:
        """Store ``value`` under ``key`` unless set; return the value that won."""
        raise NotImplementedError

    def _mark_done(self, start: int, stop: int) -> None:
        raise NotImplementedError

    def _done_spans(self) -> list[tuple[int, int]]:
        raise NotImplementedError

    # --------------------------------------------------------------- the array
    def _open(self, values: Sequence[Any] | None = None) -> Any:
        if self._array is not None:
            return self._array
        zarr = _zarr()
        dtype = self._meta_get("dtype")
        if dtype is None:
            if values is None:
                return None
            dtype = self._meta_decide("dtype", _infer_dtype(values, self.internal_shape))
        shape = (self.size, *self.internal_shape) if dtype != _OBJECT else (self.size,)
        chunks = (self.chunk_size, *self.internal_shape) if dtype != _OBJECT else (self.chunk_size,)
        with warnings.catch_warnings():
            # variable-length bytes have no zarr v3 spec yet; hpcflow owns this format
            warnings.simplefilter("ignore")
            kind = zarr.dtype.VariableLengthBytes() if dtype == _OBJECT else dtype
            deadline = time.monotonic() + 60
            while True:
                try:
                    self._array = zarr.open_array(
                        store=self._store(), mode="a", shape=shape, chunks=chunks, dtype=kind,
                        fill_value=None if dtype == _OBJECT else 0,
                    )  # fmt: skip
                    break
                except (ValueError, json.JSONDecodeError, FileNotFoundError):
                    # another process is writing the metadata right now
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        return self._array

    @property
    def dtype(self) -> str | None:
        """NumPy dtype of the stored values, ``"cloudpickle"`` for objects, or None yet."""
        return self._meta_get("dtype")  # type: ignore[no-any-return]

    def dump_chunk(self, indices: Sequence[int] | np.ndarray, values: Sequence[Any]) -> None:
        runs = list(consecutive_runs(indices, values))
        if not runs:
            return
        arr = self._open([v for _, _, vals in runs for v in vals])
        dtype = self.dtype
        assert dtype is not None
        blocks = [(start, stop, self._encode(vals, dtype)) for start, stop, vals in runs]
        for start, stop, block in blocks:  # all encoded first: a bad value writes nothing
            arr[start:stop] = block
            self._mark_done(start, stop)  # only after the values are in

    def _encode(self, vals: list[Any], dtype: str) -> np.ndarray:
        if dtype == _OBJECT:
            out = np.empty(len(vals), dtype=object)
            for k, v in enumerate(vals):
                out[k] = cloudpickle.dumps(v)
            return out
        got = np.asarray(vals)
        if got.shape[1:] != self.internal_shape or not np.can_cast(got.dtype, dtype, "safe"):
            raise StorageError(
                f"{type(self).__name__} at {self.folder} stores {dtype} values of internal "
                f"shape {self.internal_shape}, decided by the first chunk written, but got "
                f"{got.dtype} values of shape {got.shape[1:]}; make the function return one "
                "type, or use storage='chunked_file_array' for mixed values"
            )
        return got.astype(dtype)

    def dump_linear(self, index: int, value: Any) -> None:
        self.dump_chunk([index], [value])

    def _decode(self, raw: Any) -> Any:
        if isinstance(raw, np.ndarray) and raw.ndim == 0:
            raw = raw[()]  # zarr returns 0-d arrays for single elements
        if self.dtype == _OBJECT:
            return cloudpickle.loads(bytes(raw))
        return raw

    def _refresh_spans(self) -> tuple[np.ndarray, np.ndarray]:
        self._spans_seen = spans_to_arrays(self._done_spans())
        return self._spans_seen

    def _in_spans(self, idx: np.ndarray, spans: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        return in_spans(idx, *spans)

    def done_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        # always fresh: other processes may have finished chunks since
        return self._in_spans(np.asarray(indices, dtype=np.int64), self._refresh_spans())

    def done_mask(self) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        for s, e in self._done_spans():
            mask[s:e] = True
        return mask.reshape(self.external_shape)

    def get_linear(self, index: int) -> Any:
        idx = np.array([index], dtype=np.int64)
        spans = self._spans_seen or self._refresh_spans()
        if not self._in_spans(idx, spans)[0] and not self._in_spans(idx, self._refresh_spans())[0]:
            return MISSING
        # read and keep the whole block: neighbours are usually read next
        b = index // self.chunk_size
        cached = self._blocks.get(b)
        offset = index - b * self.chunk_size
        if cached is None or not cached[1][offset]:
            lo, hi = b * self.chunk_size, min((b + 1) * self.chunk_size, self.size)
            cached = (
                self._read(lo, hi),
                self._in_spans(np.arange(lo, hi), self._spans_seen or spans),
            )
            self._blocks[b] = cached
            if len(self._blocks) > 8:
                self._blocks.popitem(last=False)
        else:
            self._blocks.move_to_end(b)
        return self._decode(cached[0][offset])

    def to_array(self, *, splat_internal: bool = True) -> np.ma.MaskedArray:
        done = self.done_mask().ravel()
        arr = self._open()
        ext = self.external_shape
        if arr is None:  # nothing written yet
            return np.ma.MaskedArray(np.empty(self.shape, dtype=object), mask=True)
        try:
            raw = arr[:]  # one read of the whole array
        except _UNDECODABLE:
            for lo in range(0, self.size, self.chunk_size):  # name the damaged chunk
                self._read(lo, min(lo + self.chunk_size, self.size))
            raise
        if self.dtype == _OBJECT:
            data = np.empty(self.size, dtype=object)
            for i in np.flatnonzero(done):
                data[i] = cloudpickle.loads(bytes(raw[i]))
            if self.internal_shape and splat_internal:
                return super().to_array(splat_internal=True)
            return np.ma.MaskedArray(data.reshape(ext), mask=~done.reshape(ext))
        values = raw.astype(object) if raw.dtype.kind != "O" else raw
        if not self.internal_shape:
            return np.ma.MaskedArray(values.reshape(ext), mask=~done.reshape(ext))
        if not splat_internal:
            cells = np.empty(self.size, dtype=object)
            for k in range(self.size):
                cells[k] = raw[k]
            return np.ma.MaskedArray(cells.reshape(ext), mask=~done.reshape(ext))
        # (n, *internal) -> external axes and internal axes back in their places
        full = values.reshape(ext + self.internal_shape)
        mask = np.broadcast_to(~done.reshape(ext + (1,) * len(self.internal_shape)), full.shape)
        order = _axis_order(self.shape_mask)
        return np.ma.MaskedArray(np.transpose(full, order), mask=np.transpose(mask, order))

    def _read(self, lo: int, hi: int) -> Any:
        """Raw values ``lo:hi`` (one block); a damaged chunk raises `CorruptDataError`."""
        try:
            return self._open()[lo:hi]
        except _UNDECODABLE as e:
            where = self._chunk_where(lo // self.chunk_size)
            raise CorruptDataError(
                f"{where} is corrupt: zarr cannot decode it ({type(e).__name__}: {e}); "
                "hpcflow writes whole chunks, so it was damaged afterwards; resume the run "
                "(map(..., resume=True) or hpcflow resume) to compute its elements again",
                where,
            ) from e

    def _chunk_where(self, block: int) -> Any:
        """What to name as the damaged file of ``block``."""
        return f"block {block} of the zarr array in {self.folder or 'memory'}"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None, "_blocks": OrderedDict(), "_spans_seen": None}


def _axis_order(shape_mask: tuple[bool, ...]) -> tuple[int, ...]:
    """Permutation taking (external..., internal...) axes to the output's axis order."""
    n_ext = sum(shape_mask)
    e, i = iter(range(n_ext)), iter(range(n_ext, len(shape_mask)))
    return tuple(next(e) if m else next(i) for m in shape_mask)


class ZarrFileArray(_ZarrBase):
    """zarr on disk (``folder/values``), done markers as file names in ``folder/done``."""

    storage_id: ClassVar[str] = "zarr_file_array"
    requires_serialization: ClassVar[bool] = True
    dump_in_subprocess: ClassVar[bool] = True
    persistent: ClassVar[bool] = True
    saves_to_folder: ClassVar[bool] = True

    def __init__(self, folder: str | Path | None, *args: Any, **kwargs: Any) -> None:
        if folder is None:
            raise StorageError("zarr_file_array storage needs a folder (pass run_folder=...)")
        Path(folder, "meta").mkdir(parents=True, exist_ok=True)
        Path(folder, "done").mkdir(parents=True, exist_ok=True)
        super().__init__(folder, *args, **kwargs)

    def _store(self) -> Any:
        from zarr.storage import LocalStore

        assert self.folder is not None
        return LocalStore(self.folder / "values")

    def _meta_get(self, key: str) -> Any:
        assert self.folder is not None
        try:
            return json.loads((self.folder / "meta" / key).read_text())
        except FileNotFoundError:
            return None

    def _meta_decide(self, key: str, value: Any) -> Any:
        assert self.folder is not None
        target = self.folder / "meta" / key
        tmp = target.with_name(f"{key}.{uuid.uuid4().hex}.partial")
        tmp.write_text(json.dumps(value))
        try:
            os.link(tmp, target)  # exclusive and atomic: the first writer wins
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        return json.loads(target.read_text())

    def _mark_done(self, start: int, stop: int) -> None:
        assert self.folder is not None
        atomic_write_bytes(self.folder / "done" / f"{start}-{stop}", b"")

    def _chunk_where(self, block: int) -> Path:
        assert self.folder is not None
        arr = self._open()
        key: str = arr.metadata.encode_chunk_key((block, *(0,) * (arr.ndim - 1)))
        return self.folder / "values" / key

    def _block_damaged(self, block: int) -> bool:
        path = self._chunk_where(block)
        if not path.exists():
            # zarr never writes a chunk of numbers that are all the fill value (0), so
            # only an object chunk's absence is damage
            return self.dtype == _OBJECT
        names = [c.to_dict()["name"] for c in self._open().metadata.codecs]
        if names[-1:] == ["zstd"] and set(names[:-1]) <= {"bytes", "vlen-bytes"}:
            return not zstd_frame_looks_whole(path)
        try:  # another codec (a zarr configuration of the user's): decode the block
            lo = block * self.chunk_size
            self._read(lo, min(lo + self.chunk_size, self.size))
        except CorruptDataError:
            return True
        return False

    def damaged_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        # One header walk per stored chunk file (never decompressing); indices are
        # looked up only if a chunk fails, as for chunked_file_array.
        idx = np.asarray(indices, dtype=np.int64)
        spans = self._done_spans()
        if not spans or self._open() is None:
            return np.zeros(len(idx), dtype=bool)
        c = self.chunk_size
        blocks = sorted({b for s, e in spans for b in range(s // c, (e - 1) // c + 1)})
        bad = [(b * c, min((b + 1) * c, self.size)) for b in blocks if self._block_damaged(b)]
        if not bad:
            return np.zeros(len(idx), dtype=bool)
        out: np.ndarray = in_spans(idx, *spans_to_arrays(bad)) & in_spans(
            idx, *spans_to_arrays(spans)
        )
        return out

    def retire_damaged(self, indices: Sequence[int] | np.ndarray, to: Path) -> None:
        # A chunk is one file: its whole block is set aside, with the done markers of
        # every run of elements in it (those elements are computed again).
        assert self.folder is not None
        c = self.chunk_size
        blocks = set((np.unique(np.asarray(indices, dtype=np.int64)) // c).tolist())
        (to / "done").mkdir(parents=True, exist_ok=True)
        for s, e in self._done_spans():
            if blocks & set(range(s // c, (e - 1) // c + 1)):
                os.replace(self.folder / "done" / f"{s}-{e}", to / "done" / f"{s}-{e}")
        for b in sorted(blocks):
            path = self._chunk_where(b)
            if path.exists():
                dest = to / path.relative_to(self.folder)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, dest)
        self._blocks.clear()
        self._spans_seen = None

    def _done_spans(self) -> list[tuple[int, int]]:
        assert self.folder is not None
        spans = []
        with os.scandir(self.folder / "done") as it:
            for entry in it:
                m = _SPAN.fullmatch(entry.name)
                if m:
                    spans.append((int(m.group(1)), int(m.group(2))))
        return spans


class ZarrMemoryArray(_ZarrBase):
    """zarr in this process's memory; worker processes send values back to the driver.

    With a ``folder``, `persist` writes the done elements to one file there, and a
    later instance for the same folder starts from them (how loaders and ``resume``
    see them). The stored chunk size and dtype win over new ones, as on disk.
    """

    storage_id: ClassVar[str] = "zarr_memory"
    # persisted by `persist`; the local engine calls it when each func finishes
    saves_to_folder: ClassVar[bool] = True

    def __init__(self, folder: str | Path | None, *args: Any, **kwargs: Any) -> None:
        self._meta: MutableMapping[str, Any] = {}
        self._spans: MutableSequence[tuple[int, int]] = []
        self._dict: Any = {}
        super().__init__(folder, *args, **kwargs)
        self._restore()

    def _restore(self) -> None:
        """Start from the persisted file, if ``folder`` has one for this size."""
        path = None if self.folder is None else self.folder / _PERSIST_NAME
        if path is None or not path.exists():
            return
        stored = read_pickle(path, way_out=_PERSIST_WAY_OUT)
        if not isinstance(stored, dict) or stored.get("size") != self.size:
            return  # another run's array (a changed shape): start empty, as a new one
        # the stored layout wins, as a zarr_file_array's does on resume
        self._meta.clear()
        self._meta.update(stored["meta"])
        self.chunk_size = int(stored["meta"]["chunk_size"])
        if stored["blocks"]:
            arr = self._open()
            for start, stop, block in stored["blocks"]:
                arr[start:stop] = block
                self._mark_done(start, stop)

    def persist(self) -> None:
        """Write the done elements (raw, as zarr holds them) to one file in ``folder``."""
        if self.folder is None:
            return
        arr = self._open()
        blocks = [] if arr is None else [(s, e, arr[s:e]) for s, e in self._done_spans()]
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic_write_pickle(
            self.folder / _PERSIST_NAME,
            {"size": self.size, "meta": dict(self._meta.items()), "blocks": blocks},
        )

    def _store(self) -> Any:
        from zarr.storage import MemoryStore

        return MemoryStore(self._dict)

    def _meta_get(self, key: str) -> Any:
        return self._meta.get(key)

    def _meta_decide(self, key: str, value: Any) -> Any:
        return self._meta.setdefault(key, value)

    def _mark_done(self, start: int, stop: int) -> None:
        self._spans.append((start, stop))

    def _done_spans(self) -> list[tuple[int, int]]:
        return list(self._spans)


class ZarrSharedMemoryArray(ZarrMemoryArray):
    """zarr in a manager process's memory, written directly by worker processes.

    Persisted to and restored from a ``folder`` as `ZarrMemoryArray` is.
    """

    storage_id: ClassVar[str] = "zarr_shared_memory"
    dump_in_subprocess: ClassVar[bool] = True

    def __init__(self, folder: str | Path | None, *args: Any, **kwargs: Any) -> None:
        m = shared_manager()
        self._meta = m.dict()
        self._spans = m.list()
        self._dict = m.dict()
        _ZarrBase.__init__(self, folder, *args, **kwargs)
        self._restore()

    def _meta_decide(self, key: str, value: Any) -> Any:
        return self._meta.setdefault(key, value)  # atomic in the manager process


register_builtin(ZarrFileArray)
register_builtin(ZarrMemoryArray)
register_builtin(ZarrSharedMemoryArray)
