"""The storage contract every backend implements, and the registry of backends.

An output array has a *full shape*: the external axes (one element per function call)
interleaved with the internal axes the function generates (``shape_mask`` tells which is
which: ``True`` for external). A backend stores one value per *external* element; that
value holds the element's internal axes. Missing elements read as `numpy.ma.masked`.
"""

from __future__ import annotations

import importlib
import itertools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Final

import numpy as np

from hpcflow.errors import StorageError, UnknownStorageError

__all__ = [
    "MISSING",
    "StorageBase",
    "get_storage_class",
    "register_storage",
    "storage_registry",
]


class _Missing:
    """Sentinel for an element that has not been written."""

    _instance: ClassVar[_Missing | None] = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


class StorageBase(ABC):
    """One output array of a run.

    Parameters
    ----------
    folder
        Where the array lives (``None`` for purely in-memory backends).
    shape
        Full shape (external and internal axes).
    internal_shape
        Shape of the internal axes, in order.
    shape_mask
        For every axis of ``shape``: ``True`` if external. Default: all external
        first, then internal.

    Notes
    -----
    Capabilities (class attributes) tell callers what a backend can do, so that they
    never need to check types:

    - ``requires_serialization``: values go through pickling (a folder is needed).
    - ``dump_in_subprocess``: a worker process can write it and the driver sees the result.
    - ``persistent``: values survive the process (resume works without extra steps).
    - ``saves_to_folder``: with a ``folder``, the values end up in it (written there
      directly, or by `persist`), so they can be loaded from the run folder later. A
      run with a ``run_folder`` refuses backends without it.
    - ``writes_whole_chunks``: values are best written a chunk at a time with
      `dump_chunk` (one write per chunk instead of one per element).
    - ``pickles_on_dump``: `dump_chunk` encodes the values it is given, so a value that
      cannot be pickled fails there (not only later, in `persist`).
    - ``aligns_chunks``: the backend takes ``chunk_size=`` and stores values in blocks
      of that many consecutive elements; concurrent writers must each write whole
      blocks, so engines use its ``chunk_size`` attribute as the execution chunk size.
    """

    storage_id: ClassVar[str]
    requires_serialization: ClassVar[bool] = False
    dump_in_subprocess: ClassVar[bool] = False
    persistent: ClassVar[bool] = False
    saves_to_folder: ClassVar[bool] = False
    writes_whole_chunks: ClassVar[bool] = False
    aligns_chunks: ClassVar[bool] = False
    pickles_on_dump: ClassVar[bool] = False

    def __init__(
        self,
        folder: str | Path | None,
        shape: Sequence[int],
        internal_shape: Sequence[int] | None = None,
        shape_mask: Sequence[bool] | None = None,
    ) -> None:
        self.folder = None if folder is None else Path(folder)
        self.shape: tuple[int, ...] = tuple(int(s) for s in shape)
        self.internal_shape: tuple[int, ...] = tuple(int(s) for s in (internal_shape or ()))
        if shape_mask is None:
            n_ext = len(self.shape) - len(self.internal_shape)
            shape_mask = (True,) * n_ext + (False,) * len(self.internal_shape)
        self.shape_mask: tuple[bool, ...] = tuple(bool(m) for m in shape_mask)
        if len(self.shape_mask) != len(self.shape):
            raise StorageError(f"shape_mask {self.shape_mask} does not match shape {self.shape}")
        internal = tuple(s for s, m in zip(self.shape, self.shape_mask, strict=True) if not m)
        if internal != self.internal_shape:
            raise StorageError(
                f"internal_shape {self.internal_shape} does not match the internal axes "
                f"{internal} of shape {self.shape} with shape_mask {self.shape_mask}"
            )
        self.external_shape: tuple[int, ...] = tuple(
            s for s, m in zip(self.shape, self.shape_mask, strict=True) if m
        )
        self.size = int(np.prod(self.external_shape, dtype=np.int64))

    # ------------------------------------------------------------ required
    @abstractmethod
    def dump_linear(self, index: int, value: Any) -> None:
        """Store ``value`` for the external element with C-order index ``index``."""

    @abstractmethod
    def get_linear(self, index: int) -> Any:
        """The value of one external element, or `MISSING`."""

    @abstractmethod
    def done_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Which of ``indices`` are written (bool array); never reads values."""

    # ------------------------------------------------------------ optional
    def retire(self, indices: Sequence[int] | np.ndarray, to: Path) -> None:
        """Make ``indices`` not done again, moving what held their values into ``to``.

        For ``resume(retry_failed=True)``: elements holding error snapshots are computed
        again, and their old values are kept aside, never deleted. Called only while
        nothing writes to the storage (the run is finished and its folder locked).
        """
        raise StorageError(
            f"storage {self.storage_id!r} cannot set elements aside for a retry; retrying "
            "failed elements needs 'chunked_file_array' or 'file_array' storage"
        )

    def damaged_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        """Which of ``indices`` are stored but damaged (bool array), found cheaply.

        For ``resume``: a damaged element is set aside (`retire`) and computed again.
        Backends that store pickle files check them without unpickling; the default
        cannot tell, and says none is.
        """
        return np.zeros(len(indices), dtype=bool)

    def retire_damaged(self, indices: Sequence[int] | np.ndarray, to: Path) -> None:
        """Set aside damaged elements (`damaged_linear`) into ``to``: not done again.

        For ``resume``. The default is `retire`; a backend that stores several elements
        per file sets the whole file aside (its other elements are computed again).
        """
        self.retire(indices, to)

    # ------------------------------------------------------------- derived
    def dump_chunk(self, indices: Sequence[int] | np.ndarray, values: Sequence[Any]) -> None:
        """Store ``values[n]`` at linear index ``indices[n]`` (one chunk's results)."""
        for i, v in zip(indices, values, strict=True):
            self.dump_linear(int(i), v)

    def linear(self, key: Sequence[int]) -> int:
        """C-order linear index of an external key (negative indices allowed)."""
        key = tuple(
            int(k) + s if int(k) < 0 else int(k)
            for k, s in zip(key, self.external_shape, strict=True)
        )
        return int(np.ravel_multi_index(key, self.external_shape)) if key else 0

    def dump(self, key: Sequence[int], value: Any) -> None:
        """Store ``value`` at the external ``key``.

        Examples
        --------
        >>> from hpcflow.storage import DictArray
        >>> arr = DictArray(None, (2, 3))
        >>> arr.dump((1, 2), {"a": 1})
        >>> arr[1, 2]
        {'a': 1}
        """
        self.dump_linear(self.linear(key), value)

    def has(self, key: Sequence[int]) -> bool:
        """True if the element at external ``key`` has been written."""
        return bool(self.done_linear([self.linear(key)])[0])

    def done_mask(self) -> np.ndarray:
        """Boolean array over the external shape: True where an element is written."""
        return self.done_linear(np.arange(self.size)).reshape(self.external_shape)

    @property
    def mask(self) -> np.ma.MaskedArray:
        """Missing-ness over the full shape: a masked bool array, masked where missing."""
        missing = ~self._expand(self.done_mask())
        return np.ma.MaskedArray(missing, mask=missing)

    def _expand(self, ext: np.ndarray) -> np.ndarray:
        """Broadcast an external-shape array over the full shape."""
        index = tuple(slice(None) if m else np.newaxis for m in self.shape_mask)
        return np.broadcast_to(ext[index] if ext.ndim else ext, self.shape)

    def to_array(self, *, splat_internal: bool = True) -> np.ma.MaskedArray:
        """All values as a masked object array (missing elements masked).

        With ``splat_internal`` (default) the result has the full shape; otherwise it has
        the external shape and each cell holds one element's internal array.
        """
        done = self.done_mask()
        idx = np.flatnonzero(done)
        if not splat_internal or not self.internal_shape:
            data = np.empty(self.size, dtype=object)
            for i in idx:
                data[i] = self.get_linear(int(i))
            shape = self.external_shape
            return np.ma.MaskedArray(data.reshape(shape), mask=~done.reshape(shape))
        out = np.empty(self.shape, dtype=object)
        mask = np.ones(self.shape, dtype=bool)
        for i in idx:
            ext = np.unravel_index(int(i), self.external_shape)
            key = self._full_key(
                tuple(int(e) for e in ext), (slice(None),) * len(self.internal_shape)
            )
            out[key] = _as_internal(self.get_linear(int(i)), self.internal_shape)
            mask[key] = False
        return np.ma.MaskedArray(out, mask=mask)

    def _full_key(self, ext: tuple[Any, ...], internal: tuple[Any, ...]) -> tuple[Any, ...]:
        e, n = iter(ext), iter(internal)
        return tuple(next(e) if m else next(n) for m in self.shape_mask)

    def __getitem__(self, key: Any) -> Any:
        """Index over the full shape; slices return masked arrays, missing is masked."""
        if not isinstance(key, tuple):
            key = (key,)
        if len(key) != len(self.shape):
            raise IndexError(f"key {key} has {len(key)} axes but the array has shape {self.shape}")
        ext = tuple(k for k, m in zip(key, self.shape_mask, strict=True) if m)
        internal = tuple(k for k, m in zip(key, self.shape_mask, strict=True) if not m)
        if all(isinstance(k, int | np.integer) for k in ext):
            value = self.get_linear(self.linear(ext))
            if value is MISSING:
                if all(isinstance(k, int | np.integer) for k in internal):
                    return np.ma.masked
                return _masked_all(_sliced_shape(internal, self.internal_shape), dtype=object)
            if not internal:
                return value
            return _as_internal(value, self.internal_shape)[internal]
        # slices over external axes: assemble element by element
        ranges = [
            range(*k.indices(s)) if isinstance(k, slice) else [int(k) % s]
            for k, s in zip(ext, self.external_shape, strict=True)
        ]
        sub = _masked_all(
            tuple(len(r) for r, k in zip(ranges, ext, strict=True) if isinstance(k, slice))
            + _sliced_shape(internal, self.internal_shape),
            dtype=object,
        )
        for pos, combo in zip(
            itertools.product(*(range(len(r)) for r in ranges)),
            itertools.product(*ranges),
            strict=True,
        ):
            out_pos = tuple(p for p, k in zip(pos, ext, strict=True) if isinstance(k, slice))
            value = self.get_linear(int(np.ravel_multi_index(combo, self.external_shape)))
            if value is MISSING:
                continue
            sub[out_pos] = _as_internal(value, self.internal_shape)[internal] if internal else value
        return sub

    # ------------------------------------------------------ optional hooks
    def persist(self) -> None:  # noqa: B027  (optional hook, deliberately empty)
        """Make in-memory values durable in ``folder`` (no-op for persistent backends)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(folder={self.folder}, shape={self.shape})"

    # ------------------------------------------------------------- identity
    def identity(self) -> tuple[Any, ...] | None:
        """What makes two handles the same on-disk array; None unless ``persistent``.

        The backend, the resolved folder, the shapes and `layout` -- never the values:
        a resumed run compares its storage-backed inputs with this (reading every
        element to compare contents would cost as much as the run). Files changed
        behind hpcflow's back inside the same folder are therefore not noticed.
        """
        if self.folder is None or not self.persistent:
            return None  # values in memory: only this handle holds them
        return (
            type(self), self.folder.resolve(), self.shape, self.internal_shape,
            self.shape_mask, self.layout(),
        )  # fmt: skip

    def layout(self) -> tuple[Any, ...]:
        """Backend options that change where values live (file names, block size)."""
        return ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StorageBase):
            return NotImplemented
        mine = self.identity()
        return self is other if mine is None else mine == other.identity()

    def __hash__(self) -> int:
        mine = self.identity()
        return id(self) if mine is None else hash(mine)


def _masked_all(shape: tuple[int, ...], dtype: type = object) -> np.ma.MaskedArray:
    return np.ma.MaskedArray(np.empty(shape, dtype=dtype), mask=np.ones(shape, dtype=bool))


def _sliced_shape(key: tuple[Any, ...], shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(
        len(range(*k.indices(s))) for k, s in zip(key, shape, strict=True) if isinstance(k, slice)
    )


def _as_internal(value: Any, internal_shape: tuple[int, ...]) -> np.ndarray:
    """An element's value as an array of its internal shape."""
    if not internal_shape:
        return value  # type: ignore[no-any-return]
    if isinstance(value, np.ndarray) and value.shape == internal_shape:
        return value
    arr = np.empty(internal_shape, dtype=object)
    if not isinstance(value, np.ndarray) and not hasattr(value, "__len__"):
        # A value without axes stands for the element's whole block: this is how a
        # failed element's error snapshot fills every internal element.
        arr.fill(value)
        return arr
    if isinstance(value, np.ndarray):
        # more dims than internal axes: each internal element holds the remaining dims
        for idx in np.ndindex(*internal_shape):
            arr[idx] = value[idx]
        return arr
    arr[...] = _nested(value, len(internal_shape))
    return arr


def _nested(value: Any, ndim: int) -> Any:
    # np.asarray on a list of lists of objects may guess the wrong depth; build it explicitly.
    if ndim == 0:
        return value
    if isinstance(value, np.ndarray):
        return _as_internal(value, value.shape[:ndim])
    return [_nested(v, ndim - 1) for v in value]


storage_registry: dict[str, type[StorageBase]] = {}

# The built-in backends, imported the first time one is asked for (an array task loads
# only the backend its outputs use); `hpcflow.storage` imports them all when its
# classes are used.
_BUILTIN = {
    "dict": "hpcflow.storage._dict",
    "shared_memory_dict": "hpcflow.storage._shared_memory_dict",
    "file_array": "hpcflow.storage._file_array",
    "chunked_file_array": "hpcflow.storage._chunked_file_array",
    "zarr_file_array": "hpcflow.storage._zarr",
    "zarr_memory": "hpcflow.storage._zarr",
    "zarr_shared_memory": "hpcflow.storage._zarr",
}


def register_storage(cls: type[StorageBase], storage_id: str | None = None) -> None:
    """Register a storage backend under ``storage_id`` (default: ``cls.storage_id``).

    A later registration under the same name replaces the earlier one.
    """
    if not (isinstance(cls, type) and issubclass(cls, StorageBase)):
        raise StorageError(f"register_storage needs a StorageBase subclass, got {cls!r}")
    name = storage_id or getattr(cls, "storage_id", None)
    if not name:
        raise StorageError(f"{cls.__name__} has no storage_id; pass storage_id=...")
    storage_registry[name] = cls


def register_builtin(cls: type[StorageBase]) -> None:
    """Register a built-in backend, unless a backend of the user's holds its name."""
    if cls.storage_id not in storage_registry:
        register_storage(cls)


def get_storage_class(name: str) -> type[StorageBase]:
    """The backend registered as ``name``; the error lists the registered ones."""
    if isinstance(name, str) and name not in storage_registry and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])  # registers itself
    try:
        return storage_registry[name]
    except (KeyError, TypeError):
        known = sorted({*storage_registry, *_BUILTIN})
        raise UnknownStorageError(
            f"unknown storage {name!r}; registered storage backends: "
            f"{', '.join(known)} (or add yours with register_storage)"
        ) from None
