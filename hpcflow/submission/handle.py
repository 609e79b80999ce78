"""`Run`: follow a submitted run from any process, any time after ``submit``.

Status comes from the run folder first (storage done-ness and chunk markers, no values
read); the scheduler is asked only about unfinished elements, once per `Run.status`
call, for every job of the run in one batched query.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpcflow.errors import ResumeError
from hpcflow.submission.classify import reason, task_status, tasks_of
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.lock import run_lock
from hpcflow.runfolder.markers import read_marked_errors
from hpcflow.runfolder.records import (
    StageRecord,
    SubmissionRecord,
    latest_owners,
    read_settings,
    read_submissions,
    stages_by_func,
)
from hpcflow.runfolder.results import load_outputs, open_storage
from hpcflow.element.snapshots import is_error
from hpcflow.schedulers.base import Scheduler, TaskState, TaskStatus, get_scheduler
from hpcflow.spec.pipeline import Pipeline
from hpcflow.storage._atomic import atomic_write_json, read_pickle
from hpcflow.storage.base import StorageBase

__all__ = ["OutputStatus", "Run", "RunStatus"]

# wait(): the scheduler is asked at most this often, backing off to the maximum
_FIRST_POLL = 3.0
_MAX_POLL = 60.0
_SETTLE = 30.0  # most seconds wait() gives accounting to report tasks that just ended
_EXAMPLES = 3  # failed elements described per output in a status


@dataclass
class OutputStatus:
    """Elements of one output, by where they are."""

    name: str
    total: int | None  # None while its shape is unknown (planned by a continuation)
    done: int = 0
    failed: int = 0  # computed, but the function raised (or an input had failed)
    running: int = 0
    pending: int = 0
    lost: Counter[str] = field(default_factory=Counter)  # not done, task ended: by reason
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

    @property
    def finished(self) -> bool:
        return self.active_jobs == 0

    @property
    def complete(self) -> bool:
        """Every element of every output computed (some may hold error snapshots)."""
        return not self.deferred and all(o.remaining == 0 for o in self.outputs.values())

    def __str__(self) -> str:
        state = "complete" if self.complete else ("finished" if self.finished else "running")
        lines = [f"run {self.run_folder}: {state}"]
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
            reasons = ", ".join(f"{k}: {v}" for k, v in sorted(self.failed_tasks.items()))
            lines.append(f"  tasks that ended without success: {reasons}; logs in {self.logs}")
        for o in self.outputs.values():
            for index, message in o.examples:
                lines.append(f"  {o.name}{list(index)} failed: {message}")
        if any(o.failed for o in self.outputs.values()):
            lines.append(
                "  failed elements hold hpcflow.ErrorSnapshot values (run.failures(name) lists "
                "them); their inputs and traceback are in the snapshot"
            )
        if self.deferred:
            lines.append(f"  waiting for a continuation job to plan: {self.deferred}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


class Run:
    """A submitted run. Get one from ``submit`` or with `Run.open`."""

    def __init__(
        self, folder: RunFolder, settings: dict[str, Any], scheduler: Scheduler | None = None
    ) -> None:
        self.folder = folder
        self.settings = settings
        self.scheduler = scheduler or get_scheduler(
            settings["scheduler"], settings["scheduler_options"]
        )

    @classmethod
    def open(cls, run_folder: str | Path) -> Run:
        """The run submitted to ``run_folder`` (from any process, any time later)."""
        folder = RunFolder(run_folder)
        return cls(folder, read_settings(folder))

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def run_id(self) -> str:
        return str(self.settings["run_id"])

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, scheduler={self.scheduler.name!r}, id={self.run_id!r})"

    def job_ids(self) -> list[str]:
        """Every job id the run has submitted so far (continuations included)."""
        return [
            a.job_id
            for sub in read_submissions(self.folder)
            for s in sub.stages
            for a in s.arrays
            if a.job_id is not None
        ]

    # ---------------------------------------------------------------- status
    def status(self) -> RunStatus:
        """Elements done, failed, running and pending per output; failed tasks by reason."""
        return self._status(ask_scheduler=True)

    def _status(self, *, ask_scheduler: bool) -> RunStatus:
        subs = read_submissions(self.folder)
        meta = self.folder.read_meta()
        stores: dict[str, StorageBase] = {}
        outputs: dict[str, OutputStatus] = {}
        # every stage of each func, in submission order: the first submission that planned
        # it covers all its elements; later ones (resume) cover what was missing then
        unfinished: list[tuple[StageRecord, np.ndarray, OutputStatus]] = []
        for key, stages in stages_by_func(subs).items():
            st = outputs[key] = OutputStatus(key, 0)
            first = _submission_of(stages[0])
            base = [s for s in stages if _submission_of(s) == first]
            not_done = [self._count_done(s, meta, stores, st) for s in base]
            remaining = np.sort(np.concatenate(not_done)) if not_done else np.zeros(0, np.int64)
            for stage, positions in latest_owners(self.folder, stages, remaining):
                unfinished.append((stage, positions, st))
        deferred = _deferred(subs)
        for name in deferred:
            outputs.setdefault(name, OutputStatus(name, None))
        active_cont = [
            s for sub in subs for s in sub.stages if s.is_continuation and not _cont_done(self, s)
        ]
        need = bool(unfinished or active_cont)
        states: dict[str, dict[int, TaskStatus]] = {}
        if need and ask_scheduler:
            ids = [a.job_id for sub in subs for s in sub.stages for a in s.arrays if a.job_id]
            states = self.scheduler.states(ids)
        failed_tasks: Counter[str] = Counter()
        active = unknown = 0
        logs = self.path / "logs"
        for stage, missing, st in unfinished:
            tasks = tasks_of(stage, missing)
            # one status lookup (and at most one log read) per task, not per element
            for t, count in zip(*np.unique(tasks, return_counts=True), strict=True):
                ts = task_status(stage, int(t), states, logs)
                if ts.state is TaskState.PREEMPTED:
                    # Submitted with --requeue: SLURM queues it again (after a short
                    # delay, during which accounting says PREEMPTED): still pending.
                    ts = TaskStatus(TaskState.PENDING, ts.exit_code, "preempted, requeued")
                if ts.state in (TaskState.RUNNING, TaskState.PENDING):
                    active += 1
                elif ts.state is TaskState.UNKNOWN and ask_scheduler:
                    unknown += 1
                elif ts.state is not TaskState.UNKNOWN and ts.state is not TaskState.COMPLETED:
                    failed_tasks[reason(ts)] += 1
                if ts.state is TaskState.RUNNING:
                    st.running += int(count)
                elif ts.state is TaskState.PENDING or (
                    ts.state is TaskState.UNKNOWN and not ask_scheduler
                ):
                    st.pending += int(count)
                else:
                    st.lost[reason(ts)] += int(count)
        for s in active_cont:
            ts = task_status(s, 0, states)
            if ts.state in (TaskState.RUNNING, TaskState.PENDING) or not ask_scheduler:
                active += 1
            elif ts.state is not TaskState.COMPLETED:
                failed_tasks[f"continuation {reason(ts)}"] += 1
        notes = subs[-1].notes if subs else []  # the latest follow-up's view is current
        return RunStatus(self.path, outputs, failed_tasks, active, deferred, logs, notes, unknown)

    def _count_done(
        self,
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
            path = self.folder.single_output_path(name)
            if not path.exists():
                return np.zeros(1, dtype=np.int64)
            if is_error(read_pickle(path)):
                st.failed += 1
            else:
                st.done += 1
            return np.zeros(0, dtype=np.int64)
        elements = stage.elements(self.folder)
        done = np.ones(len(elements), dtype=bool)
        for o in stage.outputs:
            if o not in stores:
                stores[o] = open_storage(self.folder, o, meta)
            done &= stores[o].done_linear(elements)
        marked = read_marked_errors(self.folder.marker_folder(tuple(stage.outputs)))
        failed, own = marked.any, marked.failed
        n_failed = int(np.isin(elements[done], failed).sum()) if len(failed) else 0
        st.failed += n_failed
        st.done += int(done.sum()) - n_failed
        store = stores[stage.outputs[0]]
        for li in own[: max(0, _EXAMPLES - len(st.examples))].tolist():
            st.examples.append((_unravel(store, li), _describe(store.get_linear(li))))
        return elements[~done]

    def failures(self, output_name: str) -> dict[tuple[int, ...], Any]:
        """Elements of ``output_name`` whose function raised: index -> `ErrorSnapshot`.

        Elements that only received a failed input (propagated errors) are not listed.
        """
        meta = self.folder.read_meta()
        if output_name not in meta.get("arrays", {}):
            path = self.folder.single_output_path(output_name)
            value = read_pickle(path) if path.exists() else None
            return {(): value} if is_error(value) else {}
        store = open_storage(self.folder, output_name, meta)
        key = next(
            (tuple(k) for k in _marker_keys(self.folder) if output_name in k), (output_name,)
        )
        own = read_marked_errors(self.folder.marker_folder(key)).failed
        out = {}
        for li in own.tolist():
            value = store.get_linear(li)
            if is_error(value):
                out[_unravel(store, li)] = value
        return out

    # ------------------------------------------------------------------ wait
    def wait(
        self, timeout: float | None = None, *, poll_interval: float = _FIRST_POLL
    ) -> RunStatus:
        """Block until nothing of the run is queued or running; the final status.

        The run folder is checked every second (cheap); the scheduler at most every
        ``poll_interval`` seconds (at least 1), backing off by 1.5x to one minute.

        Raises
        ------
        TimeoutError
            If the run is still active after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = max(1.0, poll_interval)
        next_ask = time.monotonic()
        settled_by: float | None = None
        while True:
            now = time.monotonic()
            if now >= next_ask:
                status = self.status()
                if status.finished and status.unknown_tasks:
                    # A task that just ended may be in neither squeue nor sacct for a few
                    # seconds; ask again (briefly) before calling how it ended unknown.
                    settled_by = settled_by or now + _SETTLE
                    if now < settled_by:
                        next_ask = now + _FIRST_POLL
                        continue
                if status.finished:
                    return status
                next_ask = now + interval
                interval = min(_MAX_POLL, interval * 1.5)
            else:
                status = self._status(ask_scheduler=False)
                if status.complete and not status.deferred:
                    if not status.active_jobs:
                        return status
                    # Every element is stored, but a follow-up job has yet to write its
                    # submission (and any notes): the folder check sees that; asking the
                    # scheduler every few seconds notices a follow-up that died. So
                    # wait() never returns with one of the run's jobs still queued.
                    next_ask = min(next_ask, now + _FIRST_POLL)
                    interval = min(interval, _FIRST_POLL)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {self.path} still active after {timeout} s:\n{status}")
            time.sleep(1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic())))

    # ---------------------------------------------------------------- cancel
    def cancel(self) -> None:
        """Cancel every job of the run; continuation jobs submit nothing more."""
        atomic_write_json(self.path / "cancelled", {"time": time.time()})
        ids = self.job_ids()
        if ids:
            self.scheduler.cancel(ids)

    # ---------------------------------------------------------------- resume
    def resume(self, *, retry_failed: bool = False, pipeline: Pipeline | None = None) -> int:
        """Submit what is missing, and what depends on it, as fresh arrays.

        Elements already done are never submitted again, except, with ``retry_failed``,
        those whose function raised and those that received such an error: their
        stored errors move to ``RUN/superseded/<k>/`` and they are computed again. Pass
        ``pipeline`` (the same funcs, outputs and mapspecs, with fixed code) when the
        fix is in functions that were pickled by value. Tasks that ran out of memory or
        time get more of it, as the func's `hpcflow.Retry` says. The run must be finished (none
        of its jobs queued or running): otherwise this raises `ResumeError`, since the
        elements still in flight would be submitted twice. Works from any process, long
        after the submitter has gone; a concurrent submit or resume of the same folder
        is refused (`hpcflow.runfolder.lock`). Returns the number of arrays submitted (0 when
        the run is complete).
        """
        from hpcflow.submission.submit import resume_run

        with run_lock(self.path, "resume"):
            status = self.status()
            if not status.finished:
                raise ResumeError(
                    f"run {self.path} still has {status.active_jobs} tasks queued or running; "
                    "wait for them (run.wait()) or cancel them (run.cancel()) before resuming"
                )
            return resume_run(
                self.folder, self.scheduler, retry_failed=retry_failed, pipeline=pipeline
            )

    # ----------------------------------------------------------------- load
    def load_outputs(self, *output_names: str) -> Any:
        """Values of outputs (missing elements masked); one name gives one value."""
        return load_outputs(*output_names, run_folder=self.path)


def _deferred(subs: list[SubmissionRecord]) -> list[str]:
    if not subs:
        return []
    planned = {s.outputs[0] for sub in subs for s in sub.stages if not s.is_continuation}
    return [d for d in subs[-1].deferred if d not in planned]


def _submission_of(stage: StageRecord) -> int:
    """Submission index from a stage name (``y`` is 0, ``y@2`` is 2)."""
    _, _, k = stage.name.partition("@")
    return int(k) if k.isdigit() else 0


def _cont_done(run: Run, stage: StageRecord) -> bool:
    """A continuation is done once the submission it makes exists."""
    index = int(stage.name.rsplit("-", 1)[1])
    return (run.path / "stages" / f"{index}.json").exists()


def _marker_keys(folder: RunFolder) -> list[list[str]]:
    subs = read_submissions(folder)
    return [s.outputs for sub in subs for s in sub.stages if s.outputs]


def _unravel(store: StorageBase, li: int) -> tuple[int, ...]:
    ext = tuple(n for n, m in zip(store.shape, store.shape_mask, strict=True) if m)
    return tuple(int(i) for i in np.unravel_index(li, ext)) if ext else ()


def _describe(value: Any) -> str:
    exc = getattr(value, "exception_type", None)
    if exc is not None:
        return f"{exc}: {getattr(value, 'message', '')}"
    return repr(value)[:200]
