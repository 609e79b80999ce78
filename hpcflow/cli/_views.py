"""What ``hpcflow status --json`` and ``hpcflow status --tasks`` print.

The JSON's keys are stable (documented in ``docs/cli.md``); counts are element counts,
times are seconds since the epoch.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from hpcflow.cli._exit import exit_code, state_name
from hpcflow.errors import HpcflowError
from hpcflow.runfolder.records import read_submissions
from hpcflow.schedulers.base import TaskState, TaskStatus
from hpcflow.submission.handle import Run
from hpcflow.submission.status import RunStatus

__all__ = ["status_json", "tasks_table"]


def status_json(run: Run, status: RunStatus) -> dict[str, Any]:
    """``status`` as plain JSON types."""
    cancelled = run.folder.cancelled_path.exists()
    return {
        "run_folder": str(run.path),
        "run_id": run.run_id,
        "scheduler": run.scheduler.name,
        "state": state_name(status, cancelled=cancelled),
        "exit_code": int(exit_code(status, cancelled=cancelled)),
        "complete": status.complete,
        "finished": status.finished,
        "cancelled": cancelled,
        "active_tasks": status.active_jobs,
        "unknown_tasks": status.unknown_tasks,
        "outputs": [
            {
                "name": o.name,
                "total": o.total,
                "done": o.done,
                "failed": o.failed,
                "damaged": o.damaged,
                "running": o.running,
                "pending": o.pending,
                "lost": dict(sorted(o.lost.items())),
                "examples": [{"index": list(i), "error": m} for i, m in o.examples],
            }
            for o in status.outputs.values()
        ],
        "failed_tasks": dict(sorted(status.failed_tasks.items())),
        "lost_tasks": [
            {"task": t.label, "state": t.state, "detail": t.detail, "log": str(t.log or "")}
            for t in status.lost_tasks
        ],
        "history": list(status.history),
        "deferred": list(status.deferred),
        "notes": list(status.notes),
        "logs": str(status.logs),
        "job_ids": run.job_ids(),
    }


def tasks_table(run: Run) -> str:
    """One row per job array of the run, like ``squeue``: job id, stage, task states."""
    subs = read_submissions(run.folder)
    rows: list[tuple[str, ...]] = []
    ids = sorted({a.job_id for s in subs for st in s.stages for a in st.arrays if a.job_id})
    states = run.scheduler.states(ids) if ids else {}
    try:  # start and end times, where the batch system's accounting has them
        used = run.scheduler.accounting(ids) if ids else {}
    except HpcflowError:  # accounting disabled or unreachable: times are unknown
        used = {}
    seen: set[str] = set()
    for sub in subs:
        submitted = _mtime(run, sub.index)
        for stage in sub.stages:
            if stage.fused_into:
                continue  # its tasks are those of the stage it is fused into
            for a in stage.arrays:
                if a.job_id is None or a.job_id in seen:
                    continue
                seen.add(a.job_id)
                per_task = states.get(a.job_id, {})
                counts = Counter(
                    str(per_task.get(i, TaskStatus(TaskState.UNKNOWN)).state)
                    for i in range(a.n_tasks)
                )
                codes = sorted(
                    {
                        f"{i}:{ts.exit_code}"
                        for i, ts in per_task.items()
                        if ts.exit_code not in (None, "0", "0:0")
                        and ts.state is not TaskState.COMPLETED
                    }
                )
                acct = used.get(a.job_id, {}).values()
                starts = [t.start for t in acct if t.start is not None]
                ends = [t.end for t in acct if t.end is not None]
                rows.append(
                    (
                        a.job_id,
                        stage.job_stage,
                        str(sub.index),
                        str(a.n_tasks),
                        submitted,
                        _clock(min(starts)) if starts else "-",
                        _clock(max(ends)) if ends and len(ends) == a.n_tasks else "-",
                        " ".join(f"{k}:{v}" for k, v in sorted(counts.items())),
                        " ".join(codes[:5]) + (" ..." if len(codes) > 5 else ""),
                    )
                )
    head = (
        "JOBID", "STAGE", "SUB", "TASKS", "SUBMITTED", "FIRST START", "LAST END", "STATES",
        "EXIT CODES (task:code)",
    )  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [head, *rows]
    ]
    if not rows:
        lines.append("(no job of this run was submitted)")
    return "\n".join(lines)


def _clock(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def _mtime(run: Run, index: int) -> str:
    try:
        t = run.folder.submission_path(index).stat().st_mtime
    except OSError:
        return "?"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))
