"""Scheduler backends behind one interface (`hpcflow.schedulers.base.Scheduler`)."""

from hpcflow.schedulers.base import (
    ArrayRequest,
    JobDependency,
    Scheduler,
    TaskState,
    TaskStatus,
    get_scheduler,
    register_scheduler,
    scheduler_names,
)

__all__ = [
    "ArrayRequest",
    "JobDependency",
    "Scheduler",
    "TaskState",
    "TaskStatus",
    "get_scheduler",
    "register_scheduler",
    "scheduler_names",
]
