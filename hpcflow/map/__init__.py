"""The ``hpcflow.map`` namespace: running pipelines locally and reading their outputs."""

import functools
import typing as _typing
from typing import Any as _Any

from hpcflow.element import local as _local
from hpcflow.element.local import AsyncMap
from hpcflow.element.preview import MapShapes, map_shapes
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

if _typing.TYPE_CHECKING:
    from hpcflow.spec.pipeline import Pipeline


# The engine (hpcflow.element) sits below the submission layer, so it cannot ask whether
# a run folder's submitted jobs are still alive; these entry points go through
# Pipeline.map, which does, and which records the error snapshot.
@functools.wraps(_local.run_map)
def run_map(
    pipeline: "Pipeline", inputs: dict[str, _Any], run_folder: _Any = None,
    internal_shapes: _Any = None, **kw: _Any,
) -> ResultDict:  # fmt: skip
    return pipeline.map(inputs, run_folder, internal_shapes, **kw)


@functools.wraps(_local.run_map_async)
def run_map_async(
    pipeline: "Pipeline", inputs: dict[str, _Any], run_folder: _Any = None,
    internal_shapes: _Any = None, **kw: _Any,
) -> AsyncMap:  # fmt: skip
    return pipeline.map_async(inputs, run_folder, internal_shapes, **kw)


__all__ = [
    "AsyncMap",
    "DictArray",
    "ErrorSnapshot",
    "ChunkedFileArray",
    "FileArray",
    "MapShapes",
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
    "map_shapes",
    "register_storage",
    "run_map",
    "run_map_async",
    "storage_registry",
    "xarray_dataset_from_results",
]
