"""Scheduler backends behind one interface (`hpcflow.schedulers.base.Scheduler`).

Layout: ``base`` (the interface, the registry, `detect_job_environment`), ``_core`` (the
template method of command-line backends), ``_format`` (memory, walltime, array range,
log name, option-name rules), ``slurm``, ``pbs`` (+ ``_pbs_parse``), ``local/``.
"""

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
