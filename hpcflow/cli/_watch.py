"""``hpcflow status RUN --watch``: a live rich view of a run until it is over.

One progress bar per output (done, failed, running, pending), the elapsed time, and an
ETA from the element times the chunk markers measured. The run folder is read every
`FOLDER_EVERY` seconds (cheap: markers and storage); the scheduler is asked at most
every `QUERY_EVERY` seconds (or the ``--interval`` given, if longer), since on a busy
cluster every ``squeue``/``sacct`` costs the controller. Running and pending counts come
from the last scheduler answer. The view ends when the run is over: every element
stored (read from the folder), or the scheduler says nothing is queued or running. The
exit code is `hpcflow status`'s (`hpcflow.cli._exit`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.console import Console, Group
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from hpcflow.cli._exit import ExitCode, exit_code
from hpcflow.plan.policy import measured_element_seconds
from hpcflow.report.fmt import fmt_seconds
from hpcflow.runfolder.markers import read_markers
from hpcflow.runfolder.records import read_submissions, stages_by_func
from hpcflow.submission.handle import Run
from hpcflow.submission.status import RunStatus, read_status

__all__ = ["FOLDER_EVERY", "QUERY_EVERY", "WatchState", "eta_seconds", "watch", "watch_view"]

QUERY_EVERY = 30.0  # seconds: the least time between two scheduler queries
FOLDER_EVERY = 2.0  # seconds between reads of the run folder


@dataclass
class WatchState:
    """What the view shows: the folder's counts, the last scheduler answer, timings."""

    status: RunStatus
    asked: RunStatus | None  # the last status the scheduler was asked for
    elapsed: float
    since_asked: float | None
    element_s: dict[str, float | None] = field(default_factory=dict)
    chunksize: dict[str, int] = field(default_factory=dict)


def watch(
    run: Run,
    *,
    interval: float = QUERY_EVERY,
    console: Console | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ExitCode:
    """Show the live view of ``run`` until it is over; `hpcflow status`'s exit code.

    ``interval`` is the time between scheduler queries, never less than `QUERY_EVERY`.
    ``clock`` and ``sleep`` are the time functions (a test passes its own).
    """
    every = max(QUERY_EVERY, interval)
    start = clock()
    expected = run.settings.get("planned_funcs")
    asked: RunStatus | None = None
    asked_at: float | None = None
    with Live(console=console or Console(), auto_refresh=False, transient=False) as live:
        while True:
            now = clock()
            if asked_at is None or now - asked_at >= every:
                asked, asked_at = run.status(), now
                status = asked
            else:
                status = read_status(
                    run.folder, run.scheduler, ask_scheduler=False, expected=expected
                )
            state = WatchState(
                status, asked, now - start, None if asked_at is None else now - asked_at,
                *_measured(run),
            )  # fmt: skip
            live.update(watch_view(run, state), refresh=True)
            over = status.complete or (status is asked and status.finished)
            if over:
                return exit_code(status, cancelled=run.folder.cancelled_path.exists())
            sleep(FOLDER_EVERY)


def _measured(run: Run) -> tuple[dict[str, float | None], dict[str, int]]:
    """Per output: seconds per element measured by its markers, and its chunk size."""
    seconds: dict[str, float | None] = {}
    chunks: dict[str, int] = {}
    for name, stages in stages_by_func(read_submissions(run.folder)).items():
        markers = read_markers(run.folder.marker_folder(tuple(stages[0].outputs)))
        seconds[name] = measured_element_seconds(markers)
        chunks[name] = stages[-1].chunksize
    return seconds, chunks


def eta_seconds(
    remaining: int, element_s: float | None, running: int, chunksize: int
) -> float | None:
    """Seconds until ``remaining`` elements are done, at the measured element time, with
    as many tasks in parallel as are running now (at least one); ``None`` if unknown.

    Examples
    --------
    >>> eta_seconds(100, 2.0, running=20, chunksize=10)  # 2 tasks in parallel
    100.0
    >>> eta_seconds(5, None, 0, 1) is None, eta_seconds(0, 3.0, 0, 1)
    (True, 0.0)
    """
    if remaining <= 0:
        return 0.0
    if element_s is None:
        return None
    parallel = max(1, math.ceil(running / max(1, chunksize)))
    return remaining * element_s / parallel


def watch_view(run: Run, state: WatchState) -> Group:
    """The view of one moment: a header line and one bar per output."""
    st = state.status
    asked = "never" if state.since_asked is None else f"{state.since_asked:.0f} s ago"
    # only the scheduler knows whether anything still runs: the folder alone cannot say
    where = st.state if st.complete or state.asked is None else state.asked.state
    header = Text(
        f"run {run.run_id} ({run.scheduler.name}) {run.path}: {where}, "
        f"elapsed {fmt_seconds(state.elapsed)}, scheduler asked {asked}"
    )
    table = Table(show_edge=False, box=None, pad_edge=False)
    for col in ("output", "progress", "done", "failed", "running", "pending", "ETA"):
        table.add_column(col, justify="left" if col in ("output", "progress") else "right")
    last = state.asked.outputs if state.asked is not None else {}
    for name, o in st.outputs.items():
        if o.total is None:
            table.add_row(
                name, Text("shape not known yet"), str(o.done), str(o.failed), "-", "-", "-"
            )
            continue
        before = last.get(name)
        remaining = o.total - o.done - o.failed
        # running as the scheduler last said, less what has been stored since
        running = min(before.running if before else 0, remaining)
        pending = max(0, remaining - running)
        eta = eta_seconds(
            remaining, state.element_s.get(name), running,
            state.chunksize.get(name, 1),
        )  # fmt: skip
        bar = ProgressBar(total=max(o.total, 1), completed=o.done + o.failed, width=30)
        table.add_row(
            name, bar, f"{o.done}/{o.total}", str(o.failed), str(running), str(pending),
            "done" if eta == 0 else fmt_seconds(eta),
        )  # fmt: skip
    parts: list[Text | Table] = [header, table]
    if st.failed_tasks:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(st.failed_tasks.items()))
        parts.append(Text(f"tasks that ended without success: {why}"))
    return Group(*parts)
