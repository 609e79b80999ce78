"""``pipefunc.map`` -> ``hpcflow.map``."""

from hpcflow.map import (
    DictArray,
    FileArray,
    MapSpec,
    SharedMemoryDictArray,
    StorageBase,
    ZarrFileArray,
    ZarrMemoryArray,
    ZarrSharedMemoryArray,
    load_all_outputs,
    load_dataframe,
    load_outputs,
    load_xarray_dataset,
    register_storage,
    storage_registry,
)
from pipefunc.map._run import run_map, run_map_async
from pipefunc.map._run_info import RunInfo

__all__ = [
    "DictArray",
    "FileArray",
    "MapSpec",
    "RunInfo",
    "SharedMemoryDictArray",
    "StorageBase",
    "ZarrFileArray",
    "ZarrMemoryArray",
    "ZarrSharedMemoryArray",
    "load_all_outputs",
    "load_dataframe",
    "load_outputs",
    "load_xarray_dataset",
    "register_storage",
    "run_map",
    "run_map_async",
    "storage_registry",
]
