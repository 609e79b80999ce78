"""The ``hpcflow.map`` namespace: running pipelines locally and reading their outputs."""

from hpcflow.run.engine import AsyncMap, run_map, run_map_async
from hpcflow.run.results import Result, ResultDict, load_all_outputs, load_outputs
from hpcflow.run.snapshots import ErrorSnapshot, PropagatedErrorSnapshot
from hpcflow.spec.mapspec import MapSpec
from hpcflow.storage import (
    DictArray,
    FileArray,
    StorageBase,
    register_storage,
    storage_registry,
)

__all__ = [
    "AsyncMap",
    "DictArray",
    "ErrorSnapshot",
    "FileArray",
    "MapSpec",
    "PropagatedErrorSnapshot",
    "Result",
    "ResultDict",
    "StorageBase",
    "load_all_outputs",
    "load_outputs",
    "register_storage",
    "run_map",
    "run_map_async",
    "storage_registry",
]
