"""A name-translating stand-in for ``pipefunc``, backed by hpcflow (benchmark use only)."""

from pipefunc._func import NestedPipeFunc, PipeFunc, pipefunc
from pipefunc._pipeline_cls import Pipeline

__all__ = ["NestedPipeFunc", "PipeFunc", "Pipeline", "pipefunc"]
