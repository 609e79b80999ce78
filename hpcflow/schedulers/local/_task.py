"""What a task of the local scheduler sees, and what the runner says when it ends one.

Kept apart from the runner (no psutil here), so a task's worker can read its job id
cheaply; the variables and their reader live in `hpcflow.schedulers._jobenv`.
"""

from __future__ import annotations

import re

from hpcflow.schedulers._jobenv import (
    DONE_FILE,
    JOB_ID,
    RESTART_COUNT,
    TASK_ID,
    local_job_environment,
)
from hpcflow.schedulers.base import TaskState

__all__ = [
    "DONE_FILE",
    "JOB_ID",
    "RESTART_COUNT",
    "TASK_ID",
    "kill_message",
    "local_failure_reason",
    "local_job_environment",
]


_KILLED = re.compile(r"^hpcflow local scheduler: task ([A-Z_]+): ", re.MULTILINE)


def kill_message(state: TaskState, reason: str) -> str:
    """The line the runner appends to a task's log when it ends the task itself.

    Examples
    --------
    >>> kill_message(TaskState.TIMEOUT, "walltime of 1 s exceeded")
    'hpcflow local scheduler: task TIMEOUT: walltime of 1 s exceeded\\n'
    """
    return f"hpcflow local scheduler: task {state.value}: {reason}\n"


def local_failure_reason(log_text: str) -> TaskState | None:
    """The state of the runner's last `kill_message` in ``log_text``, if any.

    Examples
    --------
    >>> local_failure_reason("x\\nhpcflow local scheduler: task OUT_OF_MEMORY: memory use\\n")
    <TaskState.OUT_OF_MEMORY: 'OUT_OF_MEMORY'>
    >>> local_failure_reason("Traceback ...") is None
    True
    """
    found = _KILLED.findall(log_text)
    if not found:
        return None
    try:
        return TaskState(found[-1])
    except ValueError:
        return None
