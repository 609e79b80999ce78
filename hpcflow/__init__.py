"""hpcflow: Python function pipelines with parameter sweeps, on laptops and HPC clusters.

>>> import hpcflow
>>> @hpcflow.func("y", mapspec="x[i] -> y[i]")
... def double(x):
...     return 2 * x
>>> results = hpcflow.Pipeline([double]).map({"x": [1, 2, 3]}, parallel=False)
>>> results["y"].output.tolist()
[2, 4, 6]

``Pipeline.map`` (local) and ``Pipeline.submit`` (job arrays) are the facade; `Run`
follows a submitted run. ``hpcflow.map`` is the namespace of the local engine's
functions (``run_map``, ``load_outputs``, ...); it is importable but not exported by
``from hpcflow import *``, where it would shadow the builtin ``map``. ``hpcflow.adaptive``
(adaptive sweeps, the ``adaptive`` extra) is loaded the same way, on first use.
"""

import importlib as _importlib
import typing as _typing

from hpcflow.errors import (
    CorruptDataError,
    HpcflowError,
    InputError,
    NothingToRerunError,
    PipelineError,
    ResumeError,
    RunFolderError,
    RunLockedError,
    SchedulerError,
    SpecError,
    StorageError,
    UnknownStorageError,
)
from hpcflow.spec import Func, MapSpec, Pipeline, Resources, Retry, func

if _typing.TYPE_CHECKING:
    from hpcflow import adaptive, map  # noqa: F401  (modules, lazily loaded)
    from hpcflow.element.snapshots import ErrorSnapshot, PropagatedErrorSnapshot
    from hpcflow.submission.handle import Run
    from hpcflow.submission.status import RunStatus

__version__ = "0.1.0"

__all__ = [
    "CorruptDataError",
    "ErrorSnapshot",
    "Func",
    "HpcflowError",
    "InputError",
    "MapSpec",
    "NothingToRerunError",
    "Pipeline",
    "PipelineError",
    "PropagatedErrorSnapshot",
    "Resources",
    "ResumeError",
    "Retry",
    "Run",
    "RunFolderError",
    "RunLockedError",
    "RunStatus",
    "SchedulerError",
    "SpecError",
    "StorageError",
    "UnknownStorageError",
    "__version__",
    "func",
]

# Imported on first use, so that an array task (``python -m hpcflow.worker``), which
# imports this package first, does not load the submission layer.
_LAZY = {
    "ErrorSnapshot": "hpcflow.element.snapshots",
    "PropagatedErrorSnapshot": "hpcflow.element.snapshots",
    "Run": "hpcflow.submission.handle",
    "RunStatus": "hpcflow.submission.status",
}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in ("map", "adaptive"):
        return _importlib.import_module(f"hpcflow.{name}")
    raise AttributeError(f"module 'hpcflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, "map", "adaptive"})
