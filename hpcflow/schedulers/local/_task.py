"""What a task of the local scheduler sees, and what the runner says when it ends one.

Kept apart from the runner (no psutil here), so a task's worker can read its job id
cheaply (`hpcflow.schedulers.base.detect_job_environment`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from hpcflow.schedulers.base import JobEnvironment, TaskState, env_int

__all__ = [
    "JOB_ID",
    "RESTART_COUNT",
    "TASK_ID",
    "kill_message",
    "local_failure_reason",
    "local_job_environment",
]

#: The variables the runner sets for each task (as SLURM's ``SLURM_ARRAY_JOB_ID``,
#: ``SLURM_ARRAY_TASK_ID`` and ``SLURM_RESTART_COUNT``).
JOB_ID = "HPCFLOW_JOB_ID"
TASK_ID = "HPCFLOW_ARRAY_TASK_ID"
RESTART_COUNT = "HPCFLOW_RESTART_COUNT"

_KILLED = re.compile(r"^hpcflow local scheduler: task ([A-Z_]+): ", re.MULTILINE)


def kill_message(state: TaskState, reason: str) -> str:
    """The line the runner appends to a task's log when it ends the task itself.

    Examples
    --------
    >>> kill_message(TaskState.TIMEOUT, "walltime of 1 s exceeded")
    'hpcflow local scheduler: task TIMEOUT: walltime of 1 s exceeded\\n'
    """
    return f"hpcflow local scheduler: task {state.value}: {reason}\n"


def local_job_environment(environ: Mapping[str, str]) -> JobEnvironment:
    """The local task's job id, array index and restart count (0) from ``environ``.

    Examples
    --------
    >>> local_job_environment({"HPCFLOW_JOB_ID": "4", "HPCFLOW_ARRAY_TASK_ID": "1",
    ...                        "HPCFLOW_RESTART_COUNT": "0"})
    JobEnvironment(scheduler='local', job_id='4', array_index=1, restart_count=0)
    >>> local_job_environment({}).found
    False
    """
    job_id = environ.get(JOB_ID, "").strip()
    if not job_id:
        return JobEnvironment()
    return JobEnvironment(
        "local", job_id, env_int(environ, TASK_ID), env_int(environ, RESTART_COUNT)
    )


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
