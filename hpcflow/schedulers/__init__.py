"""Scheduler backends behind one interface (`hpcflow.schedulers.base.Scheduler`).

Layout: ``base`` (the interface, the registry, `detect_job_environment`), ``_core`` (the
template method of command-line backends), ``_format`` (memory, walltime, array range,
log name, option-name rules), ``slurm``, ``pbs`` (+ ``_pbs_parse``), ``local/``.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from hpcflow.schedulers.base import (
        ArrayRequest,
        Capacity,
        JobDependency,
        JobEnvironment,
        Scheduler,
        TaskState,
        TaskStatus,
        detect_job_environment,
        get_scheduler,
        register_scheduler,
        scheduler_names,
        scheduler_ref,
    )

__all__ = [
    "ArrayRequest",
    "Capacity",
    "JobDependency",
    "JobEnvironment",
    "Scheduler",
    "TaskState",
    "TaskStatus",
    "detect_job_environment",
    "get_scheduler",
    "register_scheduler",
    "scheduler_names",
    "scheduler_ref",
]


def __getattr__(name: str) -> _typing.Any:
    # loaded on first use: the job side reads its job id from `_jobenv` alone
    if name in __all__:
        value = getattr(_importlib.import_module("hpcflow.schedulers.base"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpcflow.schedulers' has no attribute {name!r}")
