"""The ``hpcflow.map`` namespace: running pipelines locally and reading their outputs."""

from hpcflow.element.local import AsyncMap, run_map, run_map_async
from hpcflow.element.snapshots import ErrorSnapshot, PropagatedErrorSnapshot
from hpcflow.runfolder.frames import dataframe_from_results, xarray_dataset_from_results
from hpcflow.runfolder.loading import load_dataframe, load_xarray_dataset
from hpcflow.runfolder.results import Result, ResultDict, load_all_outputs, load_outputs
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
    "dataframe_from_results",
    "load_all_outputs",
    "load_dataframe",
    "load_outputs",
    "load_xarray_dataset",
    "register_storage",
    "run_map",
    "run_map_async",
    "storage_registry",
    "xarray_dataset_from_results",
]
