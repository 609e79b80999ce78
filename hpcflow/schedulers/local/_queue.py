"""The queue the local runner works through: which task starts, and how each one ends.

`Runner` runs the job arrays written under ``STATE_DIR/jobs`` on this machine the way
SLURM would: tasks start once their dependencies are met and the sum of the running
tasks' cpus and memory fits the capacity (first fit, in order of job id then task
index), walltime and memory are enforced, and each task's state is written to
``STATE_DIR/tasks/<id>/<index>.json``. Its process life (the lock, sleeping, exiting
when idle) is in `hpcflow.schedulers.local._runner`.

Outcomes, in SLURM's words:

- exit status 0: COMPLETED, ``exit_code`` ``"0:0"``;
- another exit status N: FAILED, ``"N:0"``, reason ``NonZeroExitCode``;
- killed by signal S (not sent by the runner): FAILED, ``"0:S"``;
- past its walltime: SIGTERM to its process group, SIGKILL `KILL_WAIT` seconds later:
  TIMEOUT;
- its process tree's resident memory above the request (sampled every
  `MEMORY_EVERY` seconds; tasks without a memory request are not limited): SIGKILL:
  OUT_OF_MEMORY, as with SLURM's OverMemoryKill;
- cancelled: SIGTERM, then SIGKILL: CANCELLED, reason ``cancelled``;
- a dependency that can no longer be met (an upstream task ended in anything but
  COMPLETED): CANCELLED, reason ``DependencyNeverSatisfied`` (SLURM with
  ``--kill-on-invalid-dep=yes``), so no task ever waits forever;
- left RUNNING by a runner that died (killed, or the machine rebooted): FAILED, reason
  ``runner died``. The exit status of such a task cannot be known (only its parent could
  reap it), so a task that is still alive is killed rather than adopted, as a node
  failure ends a job's processes; its pid and start time tell it from a reused pid.
  But a task that recorded its work stored (its ``tasks/<id>/<i>.done`` file, which
  ``python -m hpcflow.worker`` writes once every element of its chunks is stored, just
  before it exits 0) is COMPLETED, reason `RECONCILED`, and its dependents run.

When a task's leader exits, whatever is left of its process group is killed, as SLURM
ends every process of a job step.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen
from typing import Any

import psutil

from hpcflow.schedulers._format import task_log_name
from hpcflow.schedulers.base import TaskState, TaskStatus
from hpcflow.schedulers.local import _proc as proc
from hpcflow.schedulers.local._env import task_environment
from hpcflow.schedulers.local._state import JobSpec, StateDir, record_status
from hpcflow.schedulers.local._task import (
    DONE_FILE,
    JOB_ID,
    RESTART_COUNT,
    TASK_ID,
    kill_message,
)
from hpcflow.spec.resources import format_bytes, format_seconds

__all__ = ["RECONCILED", "Job", "Runner", "Running", "log"]

KILL_WAIT = 2.0
"""Seconds between SIGTERM and SIGKILL when cancelling or timing out a task."""
MEMORY_EVERY = 0.5
"""Seconds between two samples of the memory of tasks that have a memory request."""

_NEVER = "DependencyNeverSatisfied"
RECONCILED = "runner died; the task had recorded its work stored"
"""The reason of a task found COMPLETED by its done file after its runner died."""


@dataclass
class Job:
    """A job the runner knows, with the status of each task (``None``: pending)."""

    spec: JobSpec
    status: list[TaskStatus | None]
    n_completed: int = 0
    n_bad: int = 0  # finished in anything but COMPLETED
    n_running: int = 0
    cursor: int = 0  # every task below it has started or finished
    cancelled: bool = False

    @property
    def done(self) -> bool:
        return self.n_completed + self.n_bad == self.spec.n_tasks


@dataclass
class Running:
    """A task the runner started and has not reaped yet."""

    job: Job
    index: int
    popen: Popen[bytes]
    record: dict[str, Any]
    started: float  # time.monotonic()
    outcome: TaskState | None = None  # set once the runner decided to kill it
    reason: str | None = None
    term_at: float | None = None
    killed: bool = False
    max_rss: int | None = None


def log(message: str) -> None:
    """One line in ``runner.log`` (the runner's stderr)."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"{stamp} runner[{os.getpid()}] {message}", file=sys.stderr, flush=True)


class Runner:
    """The state of one runner while it holds the lock; see the module docstring."""

    def __init__(self, state: StateDir) -> None:
        self.state = state
        self.host = socket.gethostname()
        self.env = task_environment(os.environ)
        self.active: dict[int, Job] = {}
        self.done: dict[int, Job] = {}  # finished jobs, for their dependents
        self.rejected: set[int] = set()  # malformed job files
        self.seen: set[int] = set()  # job ids listed so far
        self.running: dict[tuple[int, int], Running] = {}
        self.used_cpus = 0
        self.used_memory = 0
        self.capacity = (int(psutil.cpu_count() or 1), int(psutil.virtual_memory().total))
        self._last_memory_check = 0.0
        self._dirty = True  # something changed that may let a task start

    # -- loading ------------------------------------------------------------------------

    def load(self) -> None:
        """Read every unfinished job, recovering the tasks a dead runner left RUNNING."""
        self.seen = self.state.job_ids()
        for job_id in sorted(self.state.unfinished_ids()):
            self._load_job(job_id)

    def _load_job(self, job_id: int) -> None:
        self.seen.add(job_id)
        try:
            spec = self.state.read_job(job_id)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            self._reject(job_id, f"malformed job file: {e}")
            return
        try:
            self._restore(spec)
        except Exception as e:  # one job's unreadable files must not stop the others
            log(f"job {job_id}: {traceback.format_exc()}")
            self.active.pop(job_id, None)
            self._reject(job_id, f"could not read the job's task states: {e}")

    def _restore(self, spec: JobSpec) -> None:
        job_id = spec.id
        self.state.task_dir(job_id).mkdir(parents=True, exist_ok=True)
        job = Job(spec, [None] * spec.n_tasks)
        self.active[job_id] = job
        records = self.state.read_tasks(job_id)
        cancelled = job_id in self.state.cancel_requests()
        for index, record in sorted(records.items()):
            if index >= spec.n_tasks:
                continue
            status = record_status(record)
            if not status.state.finished:
                # Only a runner holding the lock writes RUNNING, and it records the end
                # of every task before it lets the lock go: this one's runner died.
                pid, created = record.get("pid"), record.get("create_time")
                if isinstance(pid, int) and proc.is_same_group_leader(pid, created):
                    proc.kill_group(pid, proc.KILL)
                    log(f"killed orphaned task {job_id}_{index} (pid {pid})")
                # Looked at after the kill: nothing can write the file any more, so a
                # task is COMPLETED only if it stored its work before it was stopped.
                if self.state.task_done(job_id, index):
                    status = TaskStatus(TaskState.COMPLETED, None, RECONCILED)
                    log(f"task {job_id}_{index}: {RECONCILED}: COMPLETED")
                else:
                    state = TaskState.CANCELLED if cancelled else TaskState.FAILED
                    status = TaskStatus(state, None, "runner died")
                ended = {**record, **_status_fields(status), "end": time.time()}
                self.state.write_task(job_id, index, ended)
            self._set(job, index, status, write=False)
        if job.done:  # e.g. the runner died between the last task and the summary
            self._finish_job(job)
        self._dirty = True

    def _reject(self, job_id: int, reason: str) -> None:
        """Mark every task of a job that cannot be run FAILED (one task if n_tasks is unknown)."""
        log(f"job {job_id}: marked FAILED: {reason}")
        self.rejected.add(job_id)
        n = 1
        with contextlib.suppress(Exception):
            n = max(1, int(json.loads(self.state.job_file(job_id).read_bytes())["n_tasks"]))
        self.state.write_summary(job_id, [TaskStatus(TaskState.FAILED, None, reason)] * n)

    def _upstream(self, job_id: int) -> Job | None:
        """A job some task depends on, or None if it can never succeed."""
        job = self.active.get(job_id) or self.done.get(job_id)
        if job is not None or job_id in self.rejected:
            return job
        # Finished before this runner started: read it back once.
        summary = self.state.read_summary(job_id)
        try:
            spec = self.state.read_job(job_id)
        except (OSError, ValueError):
            return None
        if summary is None or len(summary) != spec.n_tasks:
            return None
        job = Job(spec, list(summary))
        job.n_completed = sum(s.state is TaskState.COMPLETED for s in summary)
        job.n_bad = spec.n_tasks - job.n_completed
        self.done[job_id] = job
        return job

    # -- one scan -----------------------------------------------------------------------

    def step(self) -> None:
        """Take in new jobs and cancel requests, watch the running tasks, start more."""
        for job_id in sorted(self.state.job_ids() - self.seen):
            self._load_job(job_id)
        self._apply_cancels()
        self._watch()
        # Read after watching: a task seen ending in this scan ended before this read,
        # so what it unblocks is judged by a capacity at least as recent as its end.
        self._read_capacity()
        if self._dirty:
            self._dirty = False
            self._dispatch()

    def _read_capacity(self) -> None:
        # A tiny file read each scan; caching on its mtime could miss a rewrite within
        # one timestamp tick.
        capacity = self.state.read_capacity()
        if capacity is not None and capacity != self.capacity:
            self.capacity = capacity
            self._dirty = True

    def _apply_cancels(self) -> None:
        for job_id in self.state.cancel_requests():
            job = self.active.get(job_id)
            if job is None:
                # Finished, malformed or unknown: nothing to do. A job file not listed
                # yet keeps its request for the next scan.
                if job_id in self.seen or not self.state.job_file(job_id).exists():
                    self.state.clear_cancel(job_id)
                continue
            job.cancelled = True
            log(f"job {job_id}: cancelled")
            for run in self.running.values():
                if run.job is job and run.outcome is None:
                    self._terminate(run, TaskState.CANCELLED, "cancelled", proc.TERM)
            cancelled = TaskStatus(TaskState.CANCELLED, None, "cancelled")
            self._skip_pending(job, cancelled)
            self.state.clear_cancel(job_id)

    def _watch(self) -> None:
        now = time.monotonic()
        limited = [r for r in self.running.values() if r.job.spec.memory and r.outcome is None]
        rss: dict[int, int] = {}
        if limited and now - self._last_memory_check >= MEMORY_EVERY:
            self._last_memory_check = now
            rss = proc.tree_rss(r.popen.pid for r in limited)
        for run in list(self.running.values()):
            try:
                self._watch_one(run, now, rss)
            except Exception:  # one task's trouble must never stop the runner
                log(f"task {run.job.spec.id}_{run.index}: {traceback.format_exc()}")

    def _watch_one(self, run: Running, now: float, rss: dict[int, int]) -> None:
        spec = run.job.spec
        if proc.exited(run.popen):
            self._reap(run)
        elif run.outcome is None:
            used = rss.get(run.popen.pid)
            if used is not None:
                run.max_rss = max(run.max_rss or 0, used)
            if spec.walltime is not None and now - run.started >= spec.walltime:
                reason = f"walltime of {format_seconds(spec.walltime)} exceeded"
                self._terminate(run, TaskState.TIMEOUT, reason, proc.TERM)
            elif spec.memory is not None and used is not None and used > spec.memory:
                reason = (
                    f"memory use {format_bytes(used)} exceeded the request of "
                    f"{format_bytes(spec.memory)}"
                )
                self._terminate(run, TaskState.OUT_OF_MEMORY, reason, proc.KILL)
        elif not run.killed and run.term_at is not None and now - run.term_at >= KILL_WAIT:
            proc.kill_group(run.popen.pid, proc.KILL)
            run.killed = True

    def _terminate(self, run: Running, outcome: TaskState, reason: str, sig: int) -> None:
        run.outcome, run.reason = outcome, reason
        proc.kill_group(run.popen.pid, sig)
        run.killed = sig == proc.KILL
        run.term_at = time.monotonic()
        log(f"task {run.job.spec.id}_{run.index}: {outcome.value}: {reason}")
        log_file = Path(run.record["log"])
        with contextlib.suppress(OSError), open(log_file, "a") as fh:
            fh.write(kill_message(outcome, reason))

    def _reap(self, run: Running) -> None:
        # The leader is a zombie until wait(), so its group id cannot have been reused:
        # kill any process it left behind, then reap it.
        proc.kill_group(run.popen.pid, proc.KILL)
        rc = run.popen.wait()
        job, spec = run.job, run.job.spec
        del self.running[(spec.id, run.index)]
        self.used_cpus -= spec.cpus
        self.used_memory -= spec.memory or 0
        job.n_running -= 1
        code = proc.exit_code(rc)
        if run.outcome is not None:
            status = TaskStatus(run.outcome, code, run.reason)
        elif rc == 0:
            status = TaskStatus(TaskState.COMPLETED, code, None)
        elif rc > 0:
            status = TaskStatus(TaskState.FAILED, code, "NonZeroExitCode")
        else:
            status = TaskStatus(TaskState.FAILED, code, f"killed by signal {-rc}")
        record = {**run.record, **_status_fields(status), "end": time.time()}
        if run.max_rss is not None:
            record["max_rss"] = run.max_rss
        self._set(job, run.index, status, record)

    # -- starting tasks -----------------------------------------------------------------

    def _dispatch(self) -> None:
        cap_cpus, cap_memory = self.capacity
        for job_id in sorted(self.active):
            job = self.active.get(job_id)
            if job is None or job.cancelled:
                continue
            spec = job.spec
            if spec.cpus > cap_cpus or (spec.memory or 0) > cap_memory:
                # Possible when a later submitter declared a smaller capacity.
                reason = (
                    f"needs cpus={spec.cpus}, memory={spec.memory} per task; the capacity "
                    f"is cpus={cap_cpus}, memory={cap_memory}"
                )
                self._skip_pending(job, TaskStatus(TaskState.FAILED, None, reason))
                continue
            verdict, aligned = self._dependencies(job)
            if verdict == "never":
                self._skip_pending(job, TaskStatus(TaskState.CANCELLED, None, _NEVER))
                continue
            if verdict == "wait":
                continue
            while job.cursor < spec.n_tasks and job.status[job.cursor] is not None:
                job.cursor += 1
            for index in range(job.cursor, spec.n_tasks):
                if job.status[index] is not None:
                    continue
                ready = True
                for up in aligned:
                    s = up.status[index]
                    if s is None or not s.state.finished:
                        ready = False
                    elif s.state is not TaskState.COMPLETED:
                        self._set(job, index, TaskStatus(TaskState.CANCELLED, None, _NEVER))
                        ready = False
                    if not ready:
                        break
                if not ready:
                    continue
                if (
                    (spec.max_parallel is not None and job.n_running >= spec.max_parallel)
                    or self.used_cpus + spec.cpus > cap_cpus
                    or self.used_memory + (spec.memory or 0) > cap_memory
                ):
                    # No other task of this job can start now (they all ask for the
                    # same), but with aligned dependencies keep looking for tasks whose
                    # upstream task failed, so they are cancelled now, not later.
                    if not aligned:
                        break
                    continue
                self._start(job, index)

    def _dependencies(self, job: Job) -> tuple[str, list[Job]]:
        """``"ok"``, ``"wait"`` or ``"never"`` for the whole-job dependencies, and the
        upstream jobs to check task by task."""
        aligned: list[Job] = []
        verdict = "ok"
        for upstream_id, kind in job.spec.dependencies:
            up = self._upstream(upstream_id)
            if up is None:
                return "never", []
            if kind == "aligned" and up.spec.n_tasks == job.spec.n_tasks:
                aligned.append(up)
            elif kind == "any":
                if up.n_completed + up.n_bad < up.spec.n_tasks:
                    verdict = "wait"
            elif up.n_bad:
                return "never", []
            elif up.n_completed < up.spec.n_tasks:
                verdict = "wait"
        return verdict, aligned

    def _start(self, job: Job, index: int) -> None:
        spec = job.spec
        number = spec.task_offset + index
        env = {
            **(self.env if spec.env is None else spec.env),
            JOB_ID: str(spec.id),
            TASK_ID: str(index),
            RESTART_COUNT: "0",
            DONE_FILE: str(self.state.done_file(spec.id, index)),
            "OMP_NUM_THREADS": str(spec.cpus),
        }
        log_file = Path(spec.log_dir) / task_log_name(str(spec.id), str(index))
        script = proc.task_script(spec.setup, spec.argv, str(number))
        try:
            popen = proc.start_task(script, workdir=spec.workdir, log_file=log_file, env=env)
        except Exception as e:  # OSError, or ValueError for a NUL byte in argv or env
            status = TaskStatus(TaskState.FAILED, None, f"could not start: {e}")
            self._set(job, index, status, {"start": time.time(), "host": self.host})
            return
        record = {
            **_status_fields(TaskStatus(TaskState.RUNNING)),
            "start": time.time(),
            "end": None,
            "pid": popen.pid,
            "create_time": proc.process_identity(popen.pid),
            "host": self.host,
            "log": str(log_file),
        }
        self.running[(spec.id, index)] = Running(job, index, popen, record, time.monotonic())
        job.status[index] = TaskStatus(TaskState.RUNNING)
        job.n_running += 1
        self.used_cpus += spec.cpus
        self.used_memory += spec.memory or 0
        self.state.write_task(spec.id, index, record)

    # -- recording ----------------------------------------------------------------------

    def _skip_pending(self, job: Job, status: TaskStatus) -> None:
        """Give every task of ``job`` that has not started the final ``status``."""
        for index in range(job.cursor, job.spec.n_tasks):
            if job.status[index] is None:
                self._set(job, index, status)

    def _set(
        self,
        job: Job,
        index: int,
        status: TaskStatus,
        record: dict[str, Any] | None = None,
        *,
        write: bool = True,
    ) -> None:
        """Record ``status`` for a task, and write its file (``record`` adds fields)."""
        if write:
            base = {"start": None, "end": time.time(), "pid": None, "host": None}
            full = {**base, **(record or {}), **_status_fields(status)}
            self.state.write_task(job.spec.id, index, full)
        job.status[index] = status
        if status.state.finished:
            if status.state is TaskState.COMPLETED:
                job.n_completed += 1
            else:
                job.n_bad += 1
            self._dirty = True
            if job.done:
                self._finish_job(job)

    def _finish_job(self, job: Job) -> None:
        statuses = [s for s in job.status if s is not None]
        self.state.write_summary(job.spec.id, statuses)
        self.active.pop(job.spec.id, None)
        self.done[job.spec.id] = job


def _status_fields(status: TaskStatus) -> dict[str, Any]:
    return {"state": status.state.value, "exit_code": status.exit_code, "reason": status.reason}
