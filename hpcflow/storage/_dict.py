"""``dict`` storage: values in the driver's memory, optionally persisted to one file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hpcflow._atomic import atomic_write_pickle, read_pickle
from hpcflow.storage.base import MISSING, StorageBase, register_builtin

__all__ = ["DictArray"]

_PERSIST_NAME = "dict_array.cloudpickle"
# all of an output's values are in this one file, so none of them can be kept
_WAY_OUT = "delete the file, and resume the run to compute every element of this output again"


class DictArray(StorageBase):
    """In-memory storage (an object array and a done-mask, indexed in O(1)).

    Worker processes cannot write it: their values travel back to the driver, which
    stores them. With a ``folder``, `persist` writes all values to one file and a later
    instance for the same folder loads them (this is how ``resume`` sees them).
    """

    storage_id: ClassVar[str] = "dict"
    saves_to_folder: ClassVar[bool] = True

    def __init__(
        self,
        folder: str | Path | None,
        shape: Sequence[int],
        internal_shape: Sequence[int] | None = None,
        shape_mask: Sequence[bool] | None = None,
    ) -> None:
        super().__init__(folder, shape, internal_shape, shape_mask)
        self._data = np.empty(self.size, dtype=object)
        self._done = np.zeros(self.size, dtype=bool)
        if self.folder is not None and (self.folder / _PERSIST_NAME).exists():
            data, done = read_pickle(self.folder / _PERSIST_NAME, way_out=_WAY_OUT)
            if len(data) == self.size:
                self._data, self._done = data, done

    def dump_linear(self, index: int, value: Any) -> None:
        self._data[index] = value
        self._done[index] = True

    def get_linear(self, index: int) -> Any:
        return self._data[index] if self._done[index] else MISSING

    def done_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        return self._done[np.asarray(indices, dtype=np.int64)]

    def done_mask(self) -> np.ndarray:
        return self._done.reshape(self.external_shape).copy()

    def to_array(self, *, splat_internal: bool = True) -> np.ma.MaskedArray:
        if self.internal_shape and splat_internal:
            return super().to_array(splat_internal=True)
        shape = self.external_shape
        return np.ma.MaskedArray(self._data.reshape(shape).copy(), mask=~self._done.reshape(shape))

    def __getitem__(self, key: Any) -> Any:
        # Fast path for the hot loop: a full integer key on an array without internal axes.
        if not self.internal_shape and type(key) is tuple and all(type(k) is int for k in key):
            try:
                i = int(np.ravel_multi_index(key, self.external_shape)) if key else 0
            except ValueError:
                return super().__getitem__(key)
            return self._data[i] if self._done[i] else np.ma.masked
        if not self.internal_shape and type(key) is tuple and len(key) == len(self.shape):
            data = self._data.reshape(self.external_shape)[key]
            done = self._done.reshape(self.external_shape)[key]
            if isinstance(data, np.ndarray):
                return np.ma.MaskedArray(data, mask=~done)
        return super().__getitem__(key)

    def persist(self) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_pickle(self.folder / _PERSIST_NAME, (self._data, self._done))


register_builtin(DictArray)
