"""What a submitted run's status is: counted from its folder, then one scheduler query.

Status comes from the run folder first (storage done-ness and chunk markers, no values
read); the scheduler is asked only about unfinished elements, once per call, for every
job of the run in one batched query.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.markers import read_marked_errors
from hpcflow.runfolder.records import (
    StageRecord,
    SubmissionRecord,
    latest_owners,
    read_submissions,
    stages_by_func,
)
from hpcflow.runfolder.results import open_storage
from hpcflow.schedulers.base import Scheduler, TaskState, TaskStatus
from hpcflow.storage.base import StorageBase
from hpcflow.submission.classify import is_task_failure, reason, task_counts, task_status
from hpcflow.submission.lost import SHOWN, LostTask, lost_task

__all__ = ["OutputStatus", "RunStatus", "read_status", "unravel"]

_EXAMPLES = 3  # failed elements described per output in a status


@dataclass
class OutputStatus:
    """Elements of one output, by where they are."""

    name: str
    total: int | None  # None while its shape is unknown (planned by a follow-up job)
    done: int = 0
    failed: int = 0  # computed, but the function raised (or an input had failed)
    running: int = 0
    pending: int = 0
    lost: Counter[str] = field(default_factory=Counter)  # not done, task ended: by reason
    # stored, but the file fails the cheap damage check (truncated, overwritten): not
    # done; resume sets them aside and computes them again
    damaged: int = 0
    # a few failed elements: (external index, "ExceptionType: message")
    examples: list[tuple[tuple[int, ...], str]] = field(default_factory=list)

    @property
    def remaining(self) -> int | None:
        return None if self.total is None else self.total - self.done - self.failed


@dataclass
class RunStatus:
    """Where a submitted run is. ``finished`` means nothing is queued or running."""

    run_folder: Path
    outputs: dict[str, OutputStatus]
    failed_tasks: Counter[str]  # tasks that ended without success, by reason
    active_jobs: int
    deferred: list[str]
    logs: Path
    notes: list[str] = field(default_factory=list)  # what follow-up jobs did not retry
    unknown_tasks: int = 0  # ended tasks the scheduler does not report (yet)
    # funcs (first output names) the submission meant to run that no stages record
    # plans or defers: the submitter was stopped while planning, or stages/ was deleted
    unplanned: list[str] = field(default_factory=list)
    # how the failed tasks' processes ended, by (reason, "exit 1" / "killed by signal 9")
    exits: Counter[tuple[str, str]] = field(default_factory=Counter)
    # the first few tasks that ended without success, each with its log (`lost_task`)
    lost_tasks: list[LostTask] = field(default_factory=list)
    # what each later submission retried, why and with which resources, oldest first
    history: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.active_jobs == 0

    @property
    def complete(self) -> bool:
        """Every element of every planned output computed (some may hold error snapshots),
        and every func of the submitted pipeline planned."""
        return (
            not self.unplanned
            and not self.deferred
            and all(o.remaining == 0 for o in self.outputs.values())
        )

    @property
    def state(self) -> str:
        """``"complete"``, ``"incomplete submission"`` (not every func was planned),
        ``"finished"`` (nothing runs, something is missing) or ``"running"``."""
        if self.complete:
            return "complete"
        if self.unplanned and self.finished:
            return "incomplete submission"
        return "finished" if self.finished else "running"

    def __str__(self) -> str:
        lines = [f"run {self.run_folder}: {self.state}"]
        width = max([len(n) for n in self.outputs] + [6])
        lines.append(
            f"  {'output':<{width}}  {'total':>9} {'done':>9} {'failed':>7} {'running':>8} "
            f"{'pending':>8}  lost"
        )
        for o in self.outputs.values():
            total = "?" if o.total is None else str(o.total)
            lost = ", ".join(f"{k}: {v}" for k, v in sorted(o.lost.items())) or "-"
            lines.append(
                f"  {o.name:<{width}}  {total:>9} {o.done:>9} {o.failed:>7} {o.running:>8} "
                f"{o.pending:>8}  {lost}"
            )
        if self.failed_tasks:
            reasons = ", ".join(
                f"{k}: {v}{self._exits_of(k)}" for k, v in sorted(self.failed_tasks.items())
            )
            lines.append(f"  tasks that ended without success: {reasons}; logs in {self.logs}")
            lines += [f"    {t}" for t in self.lost_tasks]
            more = sum(self.failed_tasks.values()) - len(self.lost_tasks)
            if more > 0 and self.lost_tasks:
                lines.append(
                    f"    ... and {more} more (hpcflow status --tasks counts them per job array)"
                )
        for o in self.outputs.values():
            if o.damaged:
                lines.append(
                    f"  {o.name}: {o.damaged} stored element(s) damaged (truncated or "
                    "overwritten files); run.resume() / hpcflow resume FOLDER sets them aside "
                    "and computes them again"
                )
        for o in self.outputs.values():
            for index, message in o.examples:
                lines.append(f"  {o.name}{list(index)} failed: {message}")
        if any(o.failed for o in self.outputs.values()):
            lines.append(
                "  failed elements hold hpcflow.ErrorSnapshot values (run.failures(name) lists "
                "them); their inputs and traceback are in the snapshot"
            )
        if self.unplanned:
            lines.append(
                f"  not planned by any submission: {self.unplanned} (the submitter was stopped "
                "while planning, or stages/ was deleted); submit what is missing with "
                "run.resume() / hpcflow resume FOLDER, or submit again with overwrite=True"
            )
        for h in self.history:
            lines.append(f"  attempt history: {h}")
        if self.deferred:
            lines.append(f"  waiting for a follow-up job to plan: {self.deferred}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def _exits_of(self, why: str) -> str:
        """`` (exit 1)`` when every task failed for ``why`` ended so, else counts such
        as `` (exit 1: 2, killed by signal 9: 1)``; empty when the scheduler gave none."""
        found = sorted((text, n) for (r, text), n in self.exits.items() if r == why)
        if len(found) == 1 and found[0][1] == self.failed_tasks[why]:
            return f" ({found[0][0]})"
        return f" ({', '.join(f'{t}: {n}' for t, n in found)})" if found else ""


def read_status(
    folder: RunFolder,
    scheduler: Scheduler,
    *,
    ask_scheduler: bool,
    expected: Sequence[str] | None = None,
) -> RunStatus:
    """The status of the run in ``folder``; the scheduler is asked only if
    ``ask_scheduler`` and something is unfinished.

    ``expected`` are the funcs (first output names) the submission meant to run, from
    ``submit.json``; those no stages record plans or defers are `RunStatus.unplanned`.
    Without it (a folder of an earlier hpcflow), a run with no stages record at all is
    unplanned.
    """
    subs = read_submissions(folder)
    meta = folder.read_meta()
    stores: dict[str, StorageBase] = {}
    outputs: dict[str, OutputStatus] = {}
    # every stage of each func, in submission order: the first submission that planned
    # it covers all its elements; later ones (resume) cover what was missing then
    unfinished: list[tuple[StageRecord, np.ndarray, OutputStatus]] = []
    for key, stages in stages_by_func(subs).items():
        st = outputs[key] = OutputStatus(key, 0)
        first = stages[0].submission
        base = [s for s in stages if s.submission == first]
        not_done = [_count_done(folder, s, meta, stores, st) for s in base]
        remaining = np.concatenate(not_done) if len(not_done) > 1 else not_done[0]
        for stage, positions in latest_owners(folder, stages, remaining):
            unfinished.append((stage, positions, st))
    deferred = _deferred(subs)
    for name in deferred:
        outputs.setdefault(name, OutputStatus(name, None))
    active_cont = [
        s for sub in subs for s in sub.stages if s.is_follow_up and not _follow_up_done(folder, s)
    ]
    need = bool(unfinished or active_cont)
    states: dict[str, dict[int, TaskStatus]] = {}
    if need and ask_scheduler:
        ids = {a.job_id for sub in subs for s in sub.stages for a in s.arrays if a.job_id}
        states = scheduler.states(sorted(ids))
    failed_tasks: Counter[str] = Counter()
    exits: Counter[tuple[str, str]] = Counter()
    active = unknown = 0
    lost: list[LostTask] = []
    logs = folder.logs_root
    counted: set[tuple[int, str, int]] = set()  # fused stages share their tasks
    for stage, missing, st in unfinished:
        # one status lookup (and at most one log read) per task, not per element
        for t, count in zip(*task_counts(stage, missing), strict=True):
            ts = task_status(stage, int(t), states, logs, scheduler=scheduler)
            if ts.state is TaskState.PREEMPTED:
                # Submitted with --requeue: SLURM queues it again (after a short
                # delay, during which accounting says PREEMPTED): still pending.
                ts = TaskStatus(TaskState.PENDING, ts.exit_code, "preempted, requeued")
            task = (stage.submission, stage.job_stage, int(t))
            if task not in counted:
                counted.add(task)
                if ts.state in (TaskState.RUNNING, TaskState.PENDING):
                    active += 1
                elif ts.state is TaskState.UNKNOWN and ask_scheduler:
                    unknown += 1
                elif ts.state is not TaskState.UNKNOWN and ts.state is not TaskState.COMPLETED:
                    failed_tasks[reason(ts)] += 1
                    if len(lost) < SHOWN and is_task_failure(ts):
                        lost.append(lost_task(stage, int(t), ts, logs, scheduler))
                    if ts.exit_text:
                        exits[reason(ts), ts.exit_text] += 1
            if ts.state is TaskState.RUNNING:
                st.running += int(count)
            elif ts.state is TaskState.PENDING or (
                ts.state is TaskState.UNKNOWN and not ask_scheduler
            ):
                st.pending += int(count)
            else:
                st.lost[reason(ts)] += int(count)
    for s in active_cont:
        ts = task_status(s, 0, states, scheduler=scheduler)
        if ts.state in (TaskState.RUNNING, TaskState.PENDING) or not ask_scheduler:
            active += 1
        elif ts.state is not TaskState.COMPLETED:
            failed_tasks[f"follow-up {reason(ts)}"] += 1
            if ts.exit_text:
                exits[f"follow-up {reason(ts)}", ts.exit_text] += 1
    notes = subs[-1].notes if subs else []  # the latest follow-up's view is current
    if expected is not None:
        unplanned = [name for name in expected if name not in outputs]
    else:
        unplanned = [] if subs else ["(every func: no stages record)"]
    return RunStatus(
        folder.path, outputs, failed_tasks, active, deferred, logs, notes, unknown, unplanned,
        exits, lost, [f"submission {sub.index}: {a}" for sub in subs for a in sub.attempts],
    )  # fmt: skip


def _count_done(
    folder: RunFolder,
    stage: StageRecord,
    meta: dict[str, Any],
    stores: dict[str, StorageBase],
    st: OutputStatus,
) -> np.ndarray:
    """Add the stage's elements to ``st``; the linear indices of those not done."""
    name = stage.outputs[0]
    assert st.total is not None
    st.total += stage.size
    if name not in meta.get("arrays", {}):  # a single-value func
        path = folder.single_output_path(name)
        if not path.exists():
            return np.zeros(1, dtype=np.int64)
        # its marker says whether it failed: the value is never unpickled here (it may
        # be big, need the user's modules, or be damaged)
        if len(read_marked_errors(folder.marker_folder(tuple(stage.outputs))).any):
            st.failed += 1
        else:
            st.done += 1
        return np.zeros(0, dtype=np.int64)
    elements = stage.elements(folder)
    done = np.ones(len(elements), dtype=bool)
    for o in stage.outputs:
        if o not in stores:
            stores[o] = open_storage(folder, o, meta)
        done &= stores[o].done_linear(elements)
    # the cheap check resume runs (both ends of each file, never unpickling): a
    # damaged element is not done, though its file exists
    bad = np.zeros(len(elements), dtype=bool)
    for o in stage.outputs:
        bad |= stores[o].damaged_linear(elements)
    n_bad = int(np.count_nonzero(bad & done))
    ok = done & ~bad if n_bad else done
    st.damaged += n_bad
    marked = read_marked_errors(folder.marker_folder(tuple(stage.outputs)))
    failed, own = marked.any, marked.failed
    n_failed = int(np.isin(elements[ok], failed).sum()) if len(failed) else 0
    st.failed += n_failed
    st.done += int(ok.sum()) - n_failed
    store = stores[stage.outputs[0]]
    shown = np.setdiff1d(own, elements[bad]) if n_bad else own  # never read a damaged file
    for li in shown[: max(0, _EXAMPLES - len(st.examples))].tolist():
        st.examples.append((unravel(store, li), _describe(store.get_linear(li))))
    return elements[~done] if done.any() else elements  # no copy of 10^7 pending


def _deferred(subs: list[SubmissionRecord]) -> list[str]:
    if not subs:
        return []
    planned = {s.outputs[0] for sub in subs for s in sub.stages if not s.is_follow_up}
    return [d for d in subs[-1].deferred if d not in planned]


def _follow_up_done(folder: RunFolder, stage: StageRecord) -> bool:
    """A follow-up job is done once the submission it makes exists."""
    return folder.submission_path(stage.submission + 1).exists()


def unravel(store: StorageBase, li: int) -> tuple[int, ...]:
    ext = tuple(n for n, m in zip(store.shape, store.shape_mask, strict=True) if m)
    return tuple(int(i) for i in np.unravel_index(li, ext)) if ext else ()


def _describe(value: Any) -> str:
    exc = getattr(value, "exception_type", None)
    if exc is not None:
        return f"{exc}: {getattr(value, 'message', '')}"
    return repr(value)[:200]
