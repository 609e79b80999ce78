"""Why a task ended: the scheduler's state, refined by the end of the task's log.

Shared by `hpcflow.Run.status` (counts by reason) and the follow-up jobs that retry
failed tasks (which resource to grow). What a scheduler writes into a log when it kills
a task is the backend's knowledge (`Scheduler.failure_reason`), and so is the name of
a task's log (`Scheduler.task_log`); this module only decides when to look.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from hpcflow.runfolder.records import StageRecord
from hpcflow.schedulers.base import Scheduler, TaskState, TaskStatus

__all__ = ["is_task_failure", "reason", "task_counts", "task_status", "tasks_of"]


def tasks_of(stage: StageRecord, positions: np.ndarray) -> np.ndarray:
    """Task of each element, given as positions within the stage's elements."""
    return positions // stage.chunksize


def task_counts(stage: StageRecord, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The tasks holding any of ``positions`` (ascending), and how many each holds.

    No sort and no per-element array: ``np.unique`` over 10^7 positions took 0.4 s,
    and each 10^7-element temporary costs about 0.1-0.2 s to allocate.
    """
    positions = np.asarray(positions, dtype=np.int64)
    if len(positions) < 2 or bool((positions[1:] >= positions[:-1]).all()):
        # ascending (as status and retries pass them): a binary search per task boundary
        bounds = np.arange(stage.n_tasks + 1, dtype=np.int64) * stage.chunksize
        counts = np.diff(np.searchsorted(positions, bounds))
    else:
        counts = np.bincount(tasks_of(stage, positions), minlength=stage.n_tasks)
    held = np.flatnonzero(counts)
    return held, counts[held]


def task_status(
    stage: StageRecord,
    task: int,
    states: dict[str, dict[int, TaskStatus]],
    logs: Path | None = None,
    *,
    scheduler: Scheduler,
) -> TaskStatus:
    """How task ``task`` of ``stage`` ended, from ``states`` (`Scheduler.states`) and,
    when ``logs`` (the run folder's log root) is given and the scheduler only says
    FAILED or CANCELLED, its log."""
    for a in stage.arrays:
        if a.first_task <= task < a.first_task + a.n_tasks:
            if a.job_id is None:
                return TaskStatus(TaskState.UNKNOWN, reason="never submitted")
            index = task - a.first_task
            ts = states.get(a.job_id, {}).get(index, TaskStatus(TaskState.UNKNOWN))
            log = (
                None
                if logs is None
                else scheduler.task_log(logs / stage.job_stage, a.job_id, index)
            )
            if ts.state is TaskState.CANCELLED and not ts.reason and log and not log.exists():
                # Once SLURM has purged a task cancelled for its dependency from squeue,
                # sacct says only CANCELLED. A task that never wrote its log never started.
                return TaskStatus(ts.state, ts.exit_code, NEVER_STARTED)
            # slurmstepd kills a task over its memory as FAILED 0:9 or, when it cancels
            # the job first, as CANCELLED (both seen): the log says which
            if ts.state in _REFINABLE and log is not None and not _waited(ts):
                return refine(ts, log, scheduler)
            return ts
    return TaskStatus(TaskState.UNKNOWN)


_REFINABLE = (TaskState.FAILED, TaskState.CANCELLED)
NEVER_STARTED = "never started (upstream failed, or cancelled while pending)"


def _waited(ts: TaskStatus) -> bool:
    """Cancelled before it started: its dependency failed (or someone cancelled it)."""
    why = ts.reason or ""
    return ts.state is TaskState.CANCELLED and ("Dependency" in why or why == NEVER_STARTED)


# The worker's first line; a requeued task appends a new attempt to the same log
# (--open-mode=append), and only the last attempt says how the task ended.
_ATTEMPT = re.compile(r"^hpcflow worker: \S+ task \d+ in ", re.MULTILINE)


def refine(ts: TaskStatus, log: Path, scheduler: Scheduler) -> TaskStatus:
    """``ts`` made precise by what the end of the task's log says about its last attempt."""
    try:
        with open(log, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 65536))  # the end of the log tells how it ended
            tail = fh.read().decode(errors="replace")
    except OSError:
        return ts
    starts = [m.start() for m in _ATTEMPT.finditer(tail)]
    state = type(scheduler).failure_reason(tail[starts[-1] if starts else 0 :])
    if state is None:
        return ts
    return TaskStatus(state, ts.exit_code, f"{ts.reason or ''} ({state} said by {log.name})")


def reason(ts: TaskStatus) -> str:
    """A short name for why a task ended, for counts in a status."""
    if ts.state is TaskState.CANCELLED and "Dependency" in (ts.reason or ""):
        return "CANCELLED (upstream failed)"
    if ts.state is TaskState.CANCELLED and ts.reason == NEVER_STARTED:
        return "CANCELLED (before it started)"
    if ts.state is TaskState.UNKNOWN:
        return "UNKNOWN (not reported by the scheduler)"
    return str(ts.state)


def is_task_failure(ts: TaskStatus) -> bool:
    """The task ended without success by itself (not cancelled for a failed upstream).

    A task the scheduler no longer reports (``UNKNOWN``) counts as failed: its elements
    are missing and nothing will compute them.
    """
    if ts.state in (TaskState.COMPLETED, TaskState.RUNNING, TaskState.PENDING):
        return False
    return not _waited(ts)
