"""The ``hpcflow.map`` namespace: running pipelines locally and reading their outputs."""

from hpcflow.run.engine import AsyncMap, run_map, run_map_async
from hpcflow.run.loading import load_dataframe, load_xarray_dataset
from hpcflow.run.results import Result, ResultDict, load_all_outputs, load_outputs
from hpcflow.run.snapshots import ErrorSnapshot, PropagatedErrorSnapshot
from hpcflow.spec.mapspec import MapSpec
from hpcflow.storage import (
    ChunkedFileArray,
    DictArray,
    FileArray,
    SharedMemoryDictArray,
    StorageBase,
    ZarrFileArray,
    ZarrMemoryArray,
    ZarrSharedMemoryArray,
    register_storage,
    storage_registry,
)

__all__ = [
    "AsyncMap",
    "DictArray",
    "ErrorSnapshot",
    "ChunkedFileArray",
    "FileArray",
    "SharedMemoryDictArray",
    "MapSpec",
    "PropagatedErrorSnapshot",
    "Result",
    "ResultDict",
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
