"""What a running task learns about itself from its batch system's environment.

Pure readers, one per backend, kept apart from the backends' modules so that the job
side (`hpcflow.worker`) can ask them without importing any backend.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DONE_FILE",
    "JOB_ID",
    "RESTART_COUNT",
    "TASK_ID",
    "JobEnvironment",
    "detect",
    "env_int",
    "local_job_environment",
    "pbs_job_environment",
    "record_task_done",
    "slurm_job_environment",
]


@dataclass(frozen=True)
class JobEnvironment:
    """What a running task learns about itself from its environment variables.

    Attributes
    ----------
    scheduler
        The backend whose variables were found (``"slurm"``, ``"pbs"``, ...), or ``None``
        outside any job.
    job_id
        The id `Scheduler.submit` returned for the task's array (SLURM
        ``SLURM_ARRAY_JOB_ID``, PBS ``123[].server``), so it matches the run folder's
        records and the log names of `Scheduler.task_log`.
    array_index
        The task's index in its array (``None``: not an array task).
    restart_count
        How often the batch system restarted (requeued) the task, where it says so.
    """

    scheduler: str | None = None
    job_id: str | None = None
    array_index: int | None = None
    restart_count: int | None = None

    @property
    def found(self) -> bool:
        """Whether a batch system's variables were found."""
        return self.job_id is not None


def env_int(environ: Mapping[str, str], name: str) -> int | None:
    """The integer value of ``environ[name]``, or ``None`` if unset or not an integer.

    Examples
    --------
    >>> env_int({"N": "3"}, "N"), env_int({"N": "x"}, "N"), env_int({}, "N")
    (3, None, None)
    """
    text = environ.get(name, "").strip()
    return int(text) if text.isdigit() else None


def slurm_job_environment(environ: Mapping[str, str]) -> JobEnvironment:
    """The array job id, task index and restart count of a SLURM task, from ``environ``.

    The id is ``SLURM_ARRAY_JOB_ID`` (what ``sbatch`` printed; ``SLURM_JOB_ID`` is the
    task's own id), else ``SLURM_JOB_ID`` for a job that is not an array.

    Examples
    --------
    >>> slurm_job_environment({"SLURM_JOB_ID": "171", "SLURM_ARRAY_JOB_ID": "169",
    ...                        "SLURM_ARRAY_TASK_ID": "2", "SLURM_RESTART_COUNT": "1"})
    JobEnvironment(scheduler='slurm', job_id='169', array_index=2, restart_count=1)
    >>> slurm_job_environment({"HPCFLOW_JOB_ID": "3"}).found
    False
    """
    job_id = (environ.get("SLURM_ARRAY_JOB_ID") or environ.get("SLURM_JOB_ID") or "").strip()
    if not job_id:
        return JobEnvironment()
    return JobEnvironment(
        "slurm",
        job_id,
        env_int(environ, "SLURM_ARRAY_TASK_ID"),
        env_int(environ, "SLURM_RESTART_COUNT"),
    )


def pbs_job_environment(environ: Mapping[str, str], index_variable: str) -> JobEnvironment:
    """The array's job id and the subjob's index from ``environ`` (PBS Pro or Torque).

    ``PBS_JOBID`` of a subjob is ``123[4].server``; the array's id, as ``qsub`` printed
    it, is ``123[].server``. PBS has no restart counter in the environment.

    Examples
    --------
    >>> pbs_job_environment({"PBS_JOBID": "123[4].pbs01", "PBS_ARRAY_INDEX": "4"},
    ...                     "PBS_ARRAY_INDEX")
    JobEnvironment(scheduler='pbs', job_id='123[].pbs01', array_index=4, restart_count=None)
    >>> pbs_job_environment({"PBS_JOBID": "9.pbs01"}, "PBS_ARRAYID")
    JobEnvironment(scheduler='torque', job_id='9.pbs01', array_index=None, restart_count=None)
    """
    job_id = environ.get("PBS_JOBID", "").strip()
    if not job_id:
        return JobEnvironment()
    name = "torque" if index_variable == "PBS_ARRAYID" else "pbs"
    return JobEnvironment(
        name, re.sub(r"\[\d+\]", "[]", job_id, count=1), env_int(environ, index_variable)
    )


#: The variables the local scheduler's runner sets for each task (as SLURM's ``SLURM_ARRAY_JOB_ID``,
#: ``SLURM_ARRAY_TASK_ID`` and ``SLURM_RESTART_COUNT``).
JOB_ID = "HPCFLOW_JOB_ID"
TASK_ID = "HPCFLOW_ARRAY_TASK_ID"
RESTART_COUNT = "HPCFLOW_RESTART_COUNT"
#: Set by the local scheduler's runner: the file a task writes once its work is stored,
#: so that a runner that died meanwhile is not taken for the task's failure.
DONE_FILE = "HPCFLOW_TASK_DONE_FILE"


def record_task_done(environ: Mapping[str, str]) -> Path | None:
    """Write the file named by `DONE_FILE`, if set: this task's work is stored.

    Called by the job side only once everything the task computes is stored (values
    and chunk markers), just before it exits 0. If the local runner dies meanwhile, the
    next one reads this file instead of failing the task whose exit it cannot see.
    Returns the file written (``None`` outside the local scheduler).
    """
    name = environ.get(DONE_FILE, "").strip()
    if not name:
        return None
    from hpcflow._atomic import atomic_write_json  # only here: keeps this module light

    path = Path(name)
    atomic_write_json(path, {"pid": os.getpid(), "end": time.time()}, mode=0o600)
    return path


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


def detect(environ: Mapping[str, str]) -> JobEnvironment:
    """The first backend whose variables ``environ`` holds (see
    `hpcflow.schedulers.base.detect_job_environment`)."""
    for found in (
        local_job_environment(environ),
        slurm_job_environment(environ),
        # Torque's index variable, else a plain PBS job is PBS Pro's
        pbs_job_environment(environ, "PBS_ARRAYID")
        if "PBS_ARRAYID" in environ
        else JobEnvironment(),
        pbs_job_environment(environ, "PBS_ARRAY_INDEX"),
    ):
        if found.found:
            return found
    return JobEnvironment()
