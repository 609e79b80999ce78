"""A task that ended without success, described for a person at a login node.

``hpcflow status`` counts lost tasks by reason; for the first few it names the task,
its log, and what it asked for against what it used, in units people read ("174 MiB
exceeded the request of 150 MiB").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcflow.runfolder.records import StageRecord
from hpcflow.schedulers.base import Scheduler, TaskState, TaskStatus
from hpcflow.spec.resources import format_bytes, format_seconds

__all__ = ["LostTask", "lost_task"]

SHOWN = 5  # lost tasks described one by one in a status; the rest are counted


@dataclass(frozen=True)
class LostTask:
    """One array task that ended without success."""

    label: str  # "job 12_3 (stage 'y')"
    state: str
    detail: str  # what it asked for and, where known, what it used
    log: Path | None

    def __str__(self) -> str:
        where = f"; log: {self.log}" if self.log is not None else ""
        return f"{self.label}: {self.state}{': ' + self.detail if self.detail else ''}{where}"


def lost_task(
    stage: StageRecord, task: int, ts: TaskStatus, logs: Path, scheduler: Scheduler
) -> LostTask:
    """``task`` of ``stage``, which ended as ``ts``, described."""
    job_id, index = None, task
    for a in stage.arrays:
        if a.first_task <= task < a.first_task + a.n_tasks:
            job_id, index = a.job_id, task - a.first_task
    if job_id is None:
        return LostTask(f"task {task} of stage {stage.job_stage!r}", str(ts.state), "", None)
    log = scheduler.task_log(logs / stage.job_stage, job_id, index)
    label = f"job {job_id}_{index} (stage {stage.job_stage!r})"
    return LostTask(label, str(ts.state), _detail(ts, stage.resources), log)


def _detail(ts: TaskStatus, resources: dict[str, Any]) -> str:
    said = (ts.reason or "").strip()
    parts = [said] if said and ts.state is not TaskState.UNKNOWN else []
    memory, walltime = resources.get("memory"), resources.get("walltime")
    if ts.state is TaskState.OUT_OF_MEMORY and memory and "request" not in said:
        parts.append(f"the request was {format_bytes(memory)}")
    if ts.state is TaskState.TIMEOUT and walltime and "walltime" not in said:
        parts.append(f"the time limit was {format_seconds(walltime)}")
    if ts.exit_text:
        parts.append(ts.exit_text)
    return "; ".join(parts)
