"""hpcflow: Python function pipelines with parameter sweeps, on laptops and HPC clusters.

>>> import hpcflow
>>> @hpcflow.func("y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> results = hpcflow.Pipeline([double]).map({"x": [1, 2, 3]}, parallel=False)
>>> results["y"].output.tolist()
[2, 4, 6]
"""

from hpcflow import map
from hpcflow.errors import (
    HpcflowError,
    InputError,
    PipelineError,
    ResumeError,
    RunFolderError,
    SchedulerError,
    SpecError,
    StorageError,
)
from hpcflow.submission.handle import Run, RunStatus
from hpcflow.element.snapshots import ErrorSnapshot, PropagatedErrorSnapshot
from hpcflow.spec import Func, MapSpec, Pipeline, Resources, Retry, func

__version__ = "0.1.0"

__all__ = [
    "ErrorSnapshot",
    "Func",
    "HpcflowError",
    "InputError",
    "MapSpec",
    "Pipeline",
    "PipelineError",
    "PropagatedErrorSnapshot",
    "Resources",
    "ResumeError",
    "Retry",
    "Run",
    "RunFolderError",
    "RunStatus",
    "SchedulerError",
    "SpecError",
    "StorageError",
    "__version__",
    "func",
    "map",
]
