"""``shared_memory_dict`` storage: a dict served by a manager process.

Worker processes of a local pool write their elements straight into it, so values do
not travel back through the driver. It lives as long as the driver process.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hpcflow._atomic import atomic_write_pickle, read_pickle
from hpcflow.storage._spans import shared_manager
from hpcflow.storage.base import MISSING, StorageBase, register_builtin

__all__ = ["SharedMemoryDictArray"]

_PERSIST_NAME = "shared_memory_dict.cloudpickle"


class SharedMemoryDictArray(StorageBase):
    """In-memory storage shared with worker processes through a manager.

    With a ``folder``, `persist` writes all values to one file and a later instance
    for the same folder starts from them.
    """

    storage_id: ClassVar[str] = "shared_memory_dict"
    dump_in_subprocess: ClassVar[bool] = True
    saves_to_folder: ClassVar[bool] = True

    def __init__(
        self,
        folder: str | Path | None,
        shape: Sequence[int],
        internal_shape: Sequence[int] | None = None,
        shape_mask: Sequence[bool] | None = None,
    ) -> None:
        super().__init__(folder, shape, internal_shape, shape_mask)
        self._shared: Any = shared_manager().dict()
        if self.folder is not None and (self.folder / _PERSIST_NAME).exists():
            stored = read_pickle(self.folder / _PERSIST_NAME)
            if stored.get("size") == self.size:
                self._shared.update(stored["values"])

    def dump_linear(self, index: int, value: Any) -> None:
        self._shared[int(index)] = value

    def dump_chunk(self, indices: Sequence[int] | np.ndarray, values: Sequence[Any]) -> None:
        # one round trip to the manager per chunk, not per element
        self._shared.update({int(i): v for i, v in zip(indices, values, strict=True)})

    def get_linear(self, index: int) -> Any:
        return self._shared.get(int(index), MISSING)

    def done_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        keys = set(self._shared.keys())
        return np.fromiter((int(i) in keys for i in indices), bool, len(indices))

    def persist(self) -> None:
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_pickle(
                self.folder / _PERSIST_NAME, {"size": self.size, "values": dict(self._shared)}
            )


register_builtin(SharedMemoryDictArray)
