"""Pure descriptions of pipelines: no I/O, no schedulers, no storage."""

from hpcflow.spec.func import Func, func
from hpcflow.spec.mapspec import ArraySpec, MapSpec
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources, parse_memory, parse_walltime
from hpcflow.spec.retry import Retry

__all__ = [
    "ArraySpec",
    "Func",
    "MapSpec",
    "Pipeline",
    "Resources",
    "Retry",
    "func",
    "parse_memory",
    "parse_walltime",
]
