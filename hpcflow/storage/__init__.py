"""Storage backends for output arrays, and their registry.

The contract is `StorageBase`; backends are private modules re-exported here and
registered by name (``storage="file_array"``). Each backend module is imported the
first time its class or its name is asked for, so an array task loads only its own.
"""

import importlib as _importlib
import typing as _typing

from hpcflow.storage.base import (
    MISSING,
    StorageBase,
    get_storage_class,
    register_storage,
    storage_registry,
)

if _typing.TYPE_CHECKING:
    from hpcflow.storage._chunked_file_array import ChunkedFileArray
    from hpcflow.storage._dict import DictArray
    from hpcflow.storage._file_array import FileArray
    from hpcflow.storage._shared_memory_dict import SharedMemoryDictArray
    from hpcflow.storage._zarr import ZarrFileArray, ZarrMemoryArray, ZarrSharedMemoryArray

_CLASSES = {
    "ChunkedFileArray": "hpcflow.storage._chunked_file_array",
    "DictArray": "hpcflow.storage._dict",
    "FileArray": "hpcflow.storage._file_array",
    "SharedMemoryDictArray": "hpcflow.storage._shared_memory_dict",
    "ZarrFileArray": "hpcflow.storage._zarr",
    "ZarrMemoryArray": "hpcflow.storage._zarr",
    "ZarrSharedMemoryArray": "hpcflow.storage._zarr",
}

__all__ = [
    "MISSING",
    "ChunkedFileArray",
    "DictArray",
    "FileArray",
    "SharedMemoryDictArray",
    "ZarrFileArray",
    "ZarrMemoryArray",
    "ZarrSharedMemoryArray",
    "StorageBase",
    "get_storage_class",
    "register_storage",
    "storage_registry",
]


def __getattr__(name: str) -> _typing.Any:
    if name in _CLASSES:
        value = getattr(_importlib.import_module(_CLASSES[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpcflow.storage' has no attribute {name!r}")
