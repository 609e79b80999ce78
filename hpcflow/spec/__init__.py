"""Pure descriptions of pipelines: no I/O, no schedulers, no storage."""

from hpcflow.spec.func import Func, func
from hpcflow.spec.mapspec import ArraySpec, MapSpec
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources, parse_memory, parse_walltime

__all__ = [
    "ArraySpec",
    "Func",
    "MapSpec",
    "Pipeline",
    "Resources",
    "func",
    "parse_memory",
    "parse_walltime",
]
