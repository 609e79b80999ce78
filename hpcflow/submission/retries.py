"""What to submit again: missing elements, why they are missing, and how to retry them.

Used in two places, with one rule set:

- a **follow-up job** (one task, `hpcflow.submission.followup`) runs after every array of
  submission ``K - 1`` has ended, however it ended (``afterany``). It plans the funcs
  whose shapes were unknown before and retries the elements of failed
  tasks within each func's `hpcflow.Retry` policy, as submission ``K``;
- ``resume`` does the same from the login node, without counting retries.

A task failure (out of memory, time limit, node failure, a killed worker...) is read
from one batched scheduler query and the end of the task's log
(`hpcflow.submission.classify`). The elements of a task killed for its memory get more memory,
those of a task over its time limit more wall time, up to the policy's caps; elements
that are missing only because an upstream task failed are resubmitted with their
upstream, with their own resources unchanged.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hpcflow.element.openrun import OpenRun
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import (
    StageRecord,
    SubmissionRecord,
    latest_owners,
    stages_by_func,
)
from hpcflow.schedulers.base import Scheduler, TaskState, TaskStatus
from hpcflow.spec.func import Func
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources, format_bytes, format_seconds
from hpcflow.spec.retry import Retry
from hpcflow.submission.classify import is_task_failure, task_status, tasks_of

__all__ = ["RetryPlan", "describe", "plan_retries", "policy_for"]

# What accounting shows for a task that has ended but is not recorded yet (or requeued).
# A PREEMPTED task is requeued (arrays are submitted with --requeue).
_NOT_ENDED = (TaskState.RUNNING, TaskState.PENDING, TaskState.UNKNOWN, TaskState.PREEMPTED)


@dataclass
class RetryPlan:
    """What the next submission plans.

    Attributes
    ----------
    todo
        Funcs (first output names) to plan: those with missing elements, and those never
        planned, except funcs that cannot be retried and everything downstream of them.
    elements
        For funcs planned before: only these linear indices.
    overrides
        Per func: the resources of each element (grown where its task ran out).
    retries
        Automatic retries made per func, this submission included.
    notes
        What was not retried, and why (shown by `hpcflow.Run.status`).
    attempts
        What is retried, why, and with which resources: one line per func, kept in the
        submission's record so that a status shows the attempt history.
    """

    todo: set[str] = field(default_factory=set)
    elements: dict[str, np.ndarray] = field(default_factory=dict)
    overrides: dict[str, Callable[[np.ndarray], list[Resources]]] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)


def policy_for(f: Func, settings: dict[str, Any]) -> Retry | None:
    """The func's own `Retry`, else the one given to ``submit(retry=...)``."""
    if f.retry is not None:
        return f.retry
    return Retry.from_value(settings.get("retry"))


def plan_retries(
    orun: OpenRun,
    folder: RunFolder,
    subs: list[SubmissionRecord],
    *,
    sched: Scheduler,
    settings: dict[str, Any],
    missing: dict[str, np.ndarray | None],
    count: bool,
    settle: float = 0.0,
) -> RetryPlan:
    """Decide what to submit next for the ``missing`` elements of a run.

    Parameters
    ----------
    count
        True in a follow-up job: a func whose tasks failed is retried only while its
        policy allows. False for ``resume``: everything missing is resubmitted (the
        growth of memory and wall time still applies).
    settle
        Seconds to wait for the scheduler's accounting to show every task that owns a
        missing element as ended: a follow-up job starts the moment the last task ends,
        and ``sacct`` may still say RUNNING, or nothing, for a few seconds.
    """
    p = orun.pipeline
    by_func = stages_by_func(subs)
    used = dict(subs[-1].retries) if subs else {}
    plan = RetryPlan(retries=dict(used))
    wanted = {k: v for k, v in missing.items() if v is not None and len(v)}
    states: dict[str, dict[int, TaskStatus]] = {}
    logs = folder.logs_root
    if any(k in by_func for k in wanted):
        ids = sorted({a.job_id for sub in subs for s in sub.stages for a in s.arrays if a.job_id})
        owners = [
            (stage, task)
            for key, elements in wanted.items()
            for stage, positions in latest_owners(folder, by_func.get(key, []), elements)
            for task in np.unique(tasks_of(stage, positions)).tolist()
        ]
        deadline = time.monotonic() + settle
        while True:
            states = sched.states(ids)
            unsettled = [
                (s.name, t)
                for s, t in owners
                if task_status(s, t, states, scheduler=sched).state in _NOT_ENDED
            ]
            if not unsettled or time.monotonic() >= deadline:
                break
            time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
    blocked: set[str] = set()
    failed_keys: set[str] = set()
    records = {(st.submission, st.name): st for sub in subs for st in sub.stages}
    for key, elements in wanted.items():
        f = p.output_to_func[key]
        owned: list[np.ndarray] = []
        resources: list[Resources] = []
        reasons: list[str | None] = []
        for stage, positions in latest_owners(folder, by_func.get(key, []), elements):
            stage_elements = stage.elements_at(folder, positions)
            stage_res = Resources(**stage.resources)
            for task, idx in _by_task(stage_elements, tasks_of(stage, positions)):
                ts = task_status(stage, task, states, logs, scheduler=sched)
                if ts.state in (TaskState.RUNNING, TaskState.PENDING, TaskState.PREEMPTED):
                    continue  # still in flight (a requeued task): it will compute them
                owned.append(idx)
                resources += [stage_res] * len(idx)
                if _upstream_unfinished(folder, stage, task, records, wanted):
                    # fused into a stage whose own elements of this task are missing:
                    # the task ended in the upstream's part; it comes along, uncounted
                    ended: str | None = None
                elif is_task_failure(ts):
                    ended = str(ts.state)
                elif ts.state is TaskState.COMPLETED:
                    # It succeeded yet left elements missing: counted like a failure,
                    # so that a retry which cannot help is not repeated forever.
                    ended = "COMPLETED (elements missing)"
                else:
                    ended = None
                reasons += [ended] * len(idx)
        if not owned:
            if by_func.get(key):
                blocked.add(key)  # every missing element is in flight
            else:
                plan.elements[key] = elements  # planned by nobody yet: plan these
            continue
        idx = np.concatenate(owned)
        order = np.argsort(idx, kind="stable")
        idx = idx[order]
        res = [resources[i] for i in order.tolist()]
        why = [reasons[i] for i in order.tolist()]
        plan.elements[key] = idx
        failures = Counter(w for w in why if w is not None)
        policy = policy_for(f, settings)
        if failures:
            failed_keys.add(key)
            stop = _cannot_retry(
                key,
                failures,
                policy,
                used=used.get(key, 0),
                resources=res,
                reasons=why,
                count=count,
            )
            if stop is not None:
                plan.notes.append(stop)
                blocked.add(key)
                continue
        if policy is not None:
            res = [r if w is None else policy.escalate(r, w) for r, w in zip(res, why, strict=True)]
        plan.overrides[key] = _lookup(idx, res)
        if failures:
            grown = [r for r, w in zip(res, why, strict=True) if w is not None]
            n = used.get(key, 0) + 1 if count else None
            plan.attempts.append(_attempt(key, failures, grown, n))
    for key in list(blocked):
        blocked |= {d.output_names[0] for d in _descendants(p, key)}
    for f in p.sorted_funcs:
        key = f.output_names[0]
        if key in blocked:
            continue
        if missing.get(key) is None or key in plan.elements:
            plan.todo.add(key)
    for key in plan.todo & failed_keys:
        if count:
            plan.retries[key] = used.get(key, 0) + 1
    for key in set(plan.elements) - plan.todo:
        del plan.elements[key]
    for key in set(plan.overrides) - plan.todo:
        del plan.overrides[key]
    return plan


def _upstream_unfinished(
    folder: RunFolder,
    stage: StageRecord,
    task: int,
    records: dict[tuple[int, str], StageRecord],
    wanted: dict[str, np.ndarray],
) -> bool:
    """For a fused stage: did the stage it runs after leave elements of ``task`` missing?"""
    if stage.fused_into is None:
        return False
    head = records.get((stage.submission, stage.fused_into))
    if head is None or head.outputs[0] not in wanted:
        return False
    # the task's elements are few and sorted: one binary search per wanted element,
    # not np.isin (a sort of all of them, once per task)
    own = head.task_elements(folder, task)
    want = np.asarray(wanted[head.outputs[0]], dtype=np.int64)
    if not len(own) or not len(want):
        return False
    pos = np.minimum(np.searchsorted(own, want), len(own) - 1)
    return bool((own[pos] == want).any())


def _by_task(elements: np.ndarray, tasks: np.ndarray) -> list[tuple[int, np.ndarray]]:
    return [(int(t), elements[tasks == t]) for t in np.unique(tasks)]


def _cannot_retry(
    key: str,
    failures: Counter[str],
    policy: Retry | None,
    *,
    used: int,
    resources: list[Resources],
    reasons: list[str | None],
    count: bool,
) -> str | None:
    """Why ``key``'s failed tasks are not retried now, or None to retry them."""
    n = sum(failures.values())
    what = ", ".join(f"{k}: {v}" for k, v in sorted(failures.items()))
    head = f"{key}: {n} elements missing after task failures ({what})"
    if not count:
        return None
    if policy is None or policy.retries == 0:
        return f"{head}; no automatic retries (set retry= on the func or submit); run resume"
    if used >= policy.retries:
        return f"{head}; all {policy.retries} retries used; run resume to try again"
    grows = {"OUT_OF_MEMORY": "memory", "TIMEOUT": "walltime"}
    if set(failures) <= set(grows):
        # Every failure ran out of something; the same amount would fail the same way.
        stuck = [
            w
            for r, w in zip(resources, reasons, strict=True)
            if w is not None and not policy.can_grow(r, w)
        ]
        if len(stuck) == n:
            fields = sorted({grows[w] for w in stuck})
            return (
                f"{head}; {' and '.join(fields)} cannot grow (not set, or at the policy's cap); "
                "raise it and run resume"
            )
    return None


def _lookup(idx: np.ndarray, res: list[Resources]) -> Callable[[np.ndarray], list[Resources]]:
    table = dict(zip(idx.tolist(), res, strict=True))
    return lambda wanted: [table[i] for i in np.asarray(wanted).tolist()]


def _descendants(p: Pipeline, key: str) -> list[Func]:
    out: list[Func] = []
    frontier = {key}
    for f in p.sorted_funcs:  # producers come first, so one pass reaches every descendant
        if any(
            x in p.output_to_func and p.output_to_func[x].output_names[0] in frontier
            for x in f.parameters
        ):
            out.append(f)
            frontier.add(f.output_names[0])
    return out


def _attempt(key: str, failures: Counter[str], grown: list[Resources], n: int | None) -> str:
    """``y: 3 elements in tasks that ended OUT_OF_MEMORY: retry 1 with memory 450 MiB``."""
    why = ", ".join(f"{c} elements in tasks that ended {w}" for w, c in sorted(failures.items()))
    asked = []
    memory = max((r.memory for r in grown if r.memory is not None), default=None)
    walltime = max((r.walltime for r in grown if r.walltime is not None), default=None)
    if memory is not None:
        asked.append(f"memory {format_bytes(memory)}")
    if walltime is not None:
        asked.append(f"walltime {format_seconds(walltime)}")
    what = f"retry {n}" if n is not None else "resubmitted by resume"
    return f"{key}: {why}: {what}" + (f" with {', '.join(asked)}" if asked else "")


def describe(plan: RetryPlan) -> str:
    """One line for the follow-up job's log."""
    parts = [f"{k}: {len(v)} elements" for k, v in sorted(plan.elements.items())]
    return "; ".join(parts) or "nothing"
