"""``file_array`` storage: one cloudpickle file per element, written atomically."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator, Sequence
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
        # One small read per stored file, by name within its directory (one listing
        # and one open directory per thousand files; no path built per element). Threads
        # overlap the file system's latency (the cost on Lustre and GPFS); values this
        # process wrote or read are whole.
        from concurrent.futures import ThreadPoolExecutor  # only resume and status need it

        idx = np.asarray(indices, dtype=np.int64)
        groups = list(self._by_directory(idx))
        with ThreadPoolExecutor(min(_CHECK_THREADS, max(1, len(groups)))) as pool:
            found = list(
                pool.map(
                    self._damaged_among,
                    [idx[pos] for _, pos in groups],
                    [folder for folder, _ in groups],
                )
            )
        out = np.zeros(len(idx), dtype=bool)
        for (_, pos), bad in zip(groups, found, strict=True):
            out[pos] = bad
        return out

    def _damaged_among(self, batch: np.ndarray, folder: Path) -> np.ndarray:
        bad = np.zeros(len(batch), dtype=bool)
        names = _listdir(folder)
        if not names:
            return bad
        cached, fmt = self._cache, self.filename_template.format
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            for k, i in enumerate(batch.tolist()):
                name = fmt(i)
                if name in names and i not in cached:
                    bad[k] = not pickle_looks_whole(name, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
        return bad

    def _by_directory(self, idx: np.ndarray) -> Iterator[tuple[Path, np.ndarray]]:
        """(directory, positions in ``idx``) of the elements each directory holds."""
        assert self.folder is not None
        if self.size <= _FANOUT or not len(idx):
            yield self.folder, np.arange(len(idx))
            return
        keys = idx // _FANOUT  # one directory per thousand elements, at either depth
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        cuts = np.flatnonzero(np.diff(sorted_keys)) + 1
        for part in np.split(order, cuts):
            k = int(keys[part[0]])
            if self.size <= _FANOUT**2:
                yield self.folder / str(k), part
            else:
                yield self.folder / str(k // _FANOUT) / str(k % _FANOUT), part

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
        # One listing per directory beats one stat per element for big batches; names
        # are formatted, never joined into a path per element.
        out = np.empty(len(idx), dtype=bool)
        fmt = self.filename_template.format
        for folder, pos in self._by_directory(idx):
            names = _listdir(folder)
            out[pos] = [fmt(i) in names for i in idx[pos].tolist()] if names else False
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
