"""`Run`: follow a submitted run from any process, any time after ``submit``."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpcflow._atomic import atomic_write_json
from hpcflow.element.snapshots import is_error
from hpcflow.errors import ResumeError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.lock import run_lock
from hpcflow.runfolder.markers import read_marked_errors
from hpcflow.runfolder.records import read_settings, read_submissions
from hpcflow.runfolder.results import load_outputs, open_storage
from hpcflow.schedulers.base import Scheduler, get_scheduler
from hpcflow.spec.pipeline import Pipeline
from hpcflow.submission.resume import resume_run
from hpcflow.submission.status import RunStatus, read_status, unravel

if TYPE_CHECKING:
    from hpcflow.report.model import RunReport

__all__ = ["Run"]

# wait(): the scheduler is asked at most this often, backing off to the maximum
_FIRST_POLL = 3.0
_MAX_POLL = 60.0
_SETTLE = 30.0  # most seconds wait() gives accounting to report tasks that just ended


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
        """Every job id the run has submitted so far (follow-up jobs included)."""
        ids = [
            a.job_id
            for sub in read_submissions(self.folder)
            for s in sub.stages
            for a in s.arrays
            if a.job_id is not None
        ]
        return list(dict.fromkeys(ids))  # fused stages share their arrays' ids

    # ---------------------------------------------------------------- status
    def status(self) -> RunStatus:
        """Elements done, failed, running and pending per output; failed tasks by reason."""
        return self._status(ask_scheduler=True)

    def _status(self, *, ask_scheduler: bool) -> RunStatus:
        return read_status(
            self.folder, self.scheduler, ask_scheduler=ask_scheduler,
            expected=self.settings.get("planned_funcs"),
        )  # fmt: skip

    def failures(self, output_name: str) -> dict[tuple[int, ...], Any]:
        """Elements of ``output_name`` whose function raised: index -> `ErrorSnapshot`.

        Elements that only received a failed input (propagated errors) are not listed.
        """
        meta = self.folder.read_meta()
        if output_name not in meta.get("arrays", {}):
            path = self.folder.single_output_path(output_name)
            value = self.folder.read_single(path) if path.exists() else None
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
                out[unravel(store, li)] = value
        return out

    # ------------------------------------------------------------------ wait
    def wait(
        self,
        timeout: float | None = None,
        *,
        poll_interval: float = _FIRST_POLL,
        progress: bool | Callable[[RunStatus], None] = False,
    ) -> RunStatus:
        """Block until nothing of the run is queued or running; the final status.

        The run folder is checked every second (cheap); the scheduler at most every
        ``poll_interval`` seconds (at least 1), backing off by 1.5x to one minute.
        ``progress=True`` prints a line to stderr whenever the counts change (elements
        done, failed, running; elapsed time); a callable is called with each new
        status instead.

        Raises
        ------
        TimeoutError
            If the run is still active after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = max(1.0, poll_interval)
        next_ask = time.monotonic()
        settled_by: float | None = None
        lingering = False  # every element stored, but a task was still alive
        report = _Progress(self.path) if progress is True else (progress or None)
        while True:
            now = time.monotonic()
            if now >= next_ask:
                status = self.status()
                if report is not None:
                    report(status)
                if status.finished and status.unknown_tasks:
                    # A task that just ended may be in neither squeue nor sacct for a few
                    # seconds; ask again (briefly) before calling how it ended unknown.
                    settled_by = settled_by or now + _SETTLE
                    if now < settled_by:
                        next_ask = now + _FIRST_POLL
                        continue
                if status.finished and not self.live_tasks():
                    return status
                if status.finished:
                    # Every element is stored, but a task is still alive (a worker that
                    # has yet to exit): returning now would let a next step race it.
                    lingering = True
                    next_ask = now + _FIRST_POLL
                    continue
                next_ask = now + interval
                interval = min(_MAX_POLL, interval * 1.5)
            else:
                status = self._status(ask_scheduler=False)
                if report is not None:
                    report(status)
                if status.complete and not status.deferred:
                    # Every element is stored; the scheduler is asked (now, then every few
                    # seconds) whether a task or a follow-up job of the run is still
                    # alive, so wait() never returns with one of the run's jobs queued
                    # or running.
                    soon = now + _FIRST_POLL if status.active_jobs or lingering else now
                    next_ask = min(next_ask, soon)
                    interval = min(interval, _FIRST_POLL)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"run {self.path} still active after {timeout} s:\n{status}")
            time.sleep(1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic())))

    def live_tasks(self) -> int:
        """Tasks of the run the scheduler says are queued or running (one query)."""
        return sum(self.scheduler.live_tasks(self.job_ids()).values())

    # ---------------------------------------------------------------- cancel
    def cancel(self) -> None:
        """Cancel every job of the run; follow-up jobs submit nothing more."""
        atomic_write_json(self.folder.cancelled_path, {"time": time.time()})
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

    # ---------------------------------------------------------------- report
    def report(self) -> RunReport:
        """What each function asked for, used and should ask for next time, with every
        array task's accounting (one batched scheduler call); see `hpcflow.report`."""
        from hpcflow.report.collect import build_report

        return build_report(self.folder, self.scheduler, self.settings)

    def plot_timeline(self, path: str | Path | None = None) -> str:
        """The timeline of every array task (queue wait, run, final state) as SVG; also
        written to ``path`` if given. Shown as a picture in a notebook."""
        return self.report().plot_timeline(path)

    # ----------------------------------------------------------------- load
    def load_outputs(self, *output_names: str) -> Any:
        """Values of outputs (missing elements masked); one name gives one value."""
        return load_outputs(*output_names, run_folder=self.path)


def _marker_keys(folder: RunFolder) -> list[list[str]]:
    subs = read_submissions(folder)
    return [s.outputs for sub in subs for s in sub.stages if s.outputs]


class _Progress:
    """``wait(progress=True)``: a line on stderr whenever the counts change."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = time.monotonic()
        self.last: tuple[int, ...] | None = None

    def __call__(self, status: RunStatus) -> None:
        outs = status.outputs.values()
        total = sum(o.total or 0 for o in outs)
        done = sum(o.done for o in outs)
        failed = sum(o.failed for o in outs)
        running = sum(o.running for o in outs)
        counts = (done, failed, total)  # running is known only when the scheduler was asked
        if counts == self.last:
            return
        self.last = counts
        elapsed = time.monotonic() - self.start
        line = f"{self.path.name}: {done}/{total} elements done"
        if failed:
            line += f", {failed} failed"
        if running:
            line += f", {running} running"
        print(f"{line} ({elapsed:.0f} s)", file=sys.stderr, flush=True)
