"""Storage backends for output arrays, and their registry.

The contract is `StorageBase`; backends are private modules re-exported here and
registered by name (``storage="file_array"``).
"""

from hpcflow.storage._chunked_file_array import ChunkedFileArray
from hpcflow.storage._dict import DictArray
from hpcflow.storage._file_array import FileArray
from hpcflow.storage._shared_memory_dict import SharedMemoryDictArray
from hpcflow.storage._zarr import ZarrFileArray, ZarrMemoryArray, ZarrSharedMemoryArray
from hpcflow.storage.base import (
    MISSING,
    StorageBase,
    get_storage_class,
    register_storage,
    storage_registry,
)

register_storage(ChunkedFileArray)
register_storage(DictArray)
register_storage(FileArray)
register_storage(SharedMemoryDictArray)
register_storage(ZarrFileArray)
register_storage(ZarrMemoryArray)
register_storage(ZarrSharedMemoryArray)

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
