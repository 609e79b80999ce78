"""``file_array`` storage: one cloudpickle file per element, written atomically."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hpcflow._atomic import atomic_write_pickle, pickle_looks_whole, read_pickle
from hpcflow.errors import StorageError
from hpcflow.storage.base import MISSING, StorageBase, register_builtin

__all__ = ["FileArray"]

# Directories with more than a few thousand entries are slow on Lustre and GPFS, so
# elements are spread over subdirectories of at most _FANOUT entries each.
_FANOUT = 1000
# Element files are written once, so values this process wrote or read can be served
# from memory; bounded so that huge arrays do not pile up in the driver.
_CACHE_SIZE = 16384
# threads checking element files for damage at resume
_CHECK_THREADS = 8


class FileArray(StorageBase):
    """One file per element: ``__{index}__.pickle`` (the C-order linear index).

    Arrays of up to 1,000 elements keep the files in ``folder``; larger ones put them
    in ``folder/<index // 1000>/`` and, above 1,000,000 elements,
    ``folder/<index // 10**6>/<index // 1000 % 1000>/``, so no directory holds more
    than about a thousand entries. A file exists only once its value is complete
    (temporary file plus rename), so existence is done-ness.
    """

    storage_id: ClassVar[str] = "file_array"
    requires_serialization: ClassVar[bool] = True
    dump_in_subprocess: ClassVar[bool] = True
    persistent: ClassVar[bool] = True
    saves_to_folder: ClassVar[bool] = True

    def __init__(
        self,
        folder: str | Path | None,
        shape: Sequence[int],
        internal_shape: Sequence[int] | None = None,
        shape_mask: Sequence[bool] | None = None,
        *,
        filename_template: str = "__{:d}__.pickle",
    ) -> None:
        if folder is None:
            raise StorageError("file_array storage needs a folder (pass run_folder=...)")
        super().__init__(folder, shape, internal_shape, shape_mask)
        self.filename_template = filename_template
        self._made: set[Path] = set()
        self._cache: OrderedDict[int, Any] = OrderedDict()

    @classmethod
    def from_data(cls, data: Any, folder: str | Path) -> FileArray:
        """Write ``data`` (a list or NumPy array) to ``folder``, one file per element.

        Passing the returned array as a mapped input sends only its folder and shape to
        workers, not the data; each element is read when it is needed.

        Examples
        --------
        >>> import tempfile
        >>> arr = FileArray.from_data([10, 20, 30], tempfile.mkdtemp())
        >>> arr.shape, arr[1]
        ((3,), 20)
        """
        values = np.asarray(data) if isinstance(data, np.ndarray) else _object_array(data)
        arr = cls(folder, values.shape)
        for i, v in enumerate(values.flat):
            arr.dump_linear(i, v)
        return arr

    def layout(self) -> tuple[Any, ...]:
        return (self.filename_template,)

    def path(self, index: int) -> Path:
        """The file of the element with linear index ``index``."""
        assert self.folder is not None
        name = self.filename_template.format(index)
        if self.size <= _FANOUT:
            return self.folder / name
        if self.size <= _FANOUT**2:
            return self.folder / str(index // _FANOUT) / name
        return self.folder / str(index // _FANOUT**2) / str(index // _FANOUT % _FANOUT) / name

    def dump_linear(self, index: int, value: Any) -> None:
        path = self.path(index)
        parent = path.parent
        if parent not in self._made:
            parent.mkdir(parents=True, exist_ok=True)
            self._made.add(parent)
        atomic_write_pickle(path, value)
        self._remember(index, value)

    def get_linear(self, index: int) -> Any:
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        try:
            value = read_pickle(self.path(index))
        except FileNotFoundError:
            return MISSING
        self._remember(index, value)
        return value

    def retire(self, indices: Sequence[int] | np.ndarray, to: Path) -> None:
        to.mkdir(parents=True, exist_ok=True)
        for i in np.unique(np.asarray(indices, dtype=np.int64)).tolist():
            path = self.path(i)
            if path.exists():
                os.replace(path, to / path.name)
            self._cache.pop(i, None)

    def damaged_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        # One small read per file. Threads overlap the file system's latency (the cost
        # on Lustre and GPFS); values this process wrote or read are whole.
        from concurrent.futures import ThreadPoolExecutor  # only resume needs it

        todo = [i for i in np.asarray(indices, dtype=np.int64).tolist() if i not in self._cache]
        batches = [todo[k : k + _FANOUT] for k in range(0, len(todo), _FANOUT)]
        with ThreadPoolExecutor(min(_CHECK_THREADS, max(1, len(batches)))) as pool:
            bad = {
                i
                for found in pool.map(self._damaged_among, batches)
                for i in found
            }  # fmt: skip
        return np.isin(np.asarray(indices, dtype=np.int64), list(bad))

    def _damaged_among(self, batch: list[int]) -> list[int]:
        return [i for i in batch if not pickle_looks_whole(self.path(i))]

    def _remember(self, index: int, value: Any) -> None:
        self._cache[index] = value
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)

    def __getstate__(self) -> dict[str, Any]:
        # Ship the handle, not the cache, to worker processes.
        return {**self.__dict__, "_cache": OrderedDict(), "_made": set()}

    def done_linear(self, indices: Sequence[int] | np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64)
        if len(idx) <= 8:
            return np.fromiter((self.path(int(i)).exists() for i in idx), bool, len(idx))
        # One listing per directory beats one stat per element for big batches.
        listings: dict[Path, set[str]] = {}
        out = np.empty(len(idx), dtype=bool)
        for n, i in enumerate(idx):
            path = self.path(int(i))
            names = listings.get(path.parent)
            if names is None:
                names = listings[path.parent] = _listdir(path.parent)
            out[n] = path.name in names
        return out


def _listdir(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except FileNotFoundError:
        return set()


def _object_array(data: Any) -> np.ndarray:
    if not isinstance(data, list | tuple):
        raise StorageError(
            f"FileArray.from_data needs a list or NumPy array, got {type(data).__name__}"
        )
    out = np.empty(len(data), dtype=object)
    for i, v in enumerate(data):
        out[i] = v
    return out


register_builtin(FileArray)
