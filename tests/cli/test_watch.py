"""``hpcflow status --watch``: a live view that reads the run folder between scheduler
queries, asks the scheduler at most every 30 s, and exits when the run is over with
`hpcflow status`'s exit code.

The run is real (a `FakeScheduler` runs its tasks as subprocesses, on request); time
is a clock the test advances in the view's own ``sleep``, so no test waits 30 s.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from pathlib import Path

import cloudpickle
from rich.console import Console

from hpcflow import Pipeline, Run, func
from hpcflow.cli._exit import ExitCode, exit_code
from hpcflow.cli._watch import QUERY_EVERY, watch
from hpcflow.schedulers.base import TaskStatus
from hpcflow.testing import FakeScheduler

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@func("y", mapspec="x[i] -> y[i]")
def check(x: int) -> int:
    if x == 2:
        raise ValueError("two")
    return x


class Clocked(FakeScheduler):
    """A FakeScheduler that notes the (test) time of every status query."""

    def __init__(self, now: list[float]) -> None:
        super().__init__()
        self.now = now
        self.asked_at: list[float] = []

    def states(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskStatus]]:
        self.asked_at.append(self.now[0])
        return super().states(job_ids)


def _watch(tmp_path: Path, *, run_after: float, fail: bool) -> tuple[ExitCode, Clocked, Run, str]:
    now = [0.0]
    fake = Clocked(now)
    xs = [0, 1, 2, 3] if fail else [0, 1, 3]
    run = Pipeline([check]).submit({"x": xs}, tmp_path / "run", scheduler=fake, chunksizes=1)

    def sleep(seconds: float) -> None:
        before = now[0]
        now[0] += seconds
        if before < run_after <= now[0]:
            fake.run_all()  # the tasks run (as subprocesses) while the view is up

    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=False)
    code = watch(run, console=console, clock=lambda: now[0], sleep=sleep)
    return code, fake, run, out.getvalue()


def test_watch_asks_the_scheduler_at_most_every_30_s(tmp_path: Path) -> None:
    code, fake, run, text = _watch(tmp_path, run_after=200.0, fail=False)
    assert code == ExitCode.OK == exit_code(run.status(), cancelled=False)
    # about 100 folder reads (2 s apart) before the tasks ran, but few scheduler queries
    assert len(fake.asked_at) >= 2
    gaps = [b - a for a, b in zip(fake.asked_at, fake.asked_at[1:], strict=False)]
    assert all(g >= QUERY_EVERY for g in gaps), fake.asked_at
    assert len(fake.asked_at) <= 1 + 200 / QUERY_EVERY + 1
    assert "3/3" in text and "complete" in text


def test_watch_exit_code_is_that_of_status(tmp_path: Path) -> None:
    code, _, run, text = _watch(tmp_path, run_after=10.0, fail=True)
    assert code == ExitCode.FAILED == exit_code(run.status(), cancelled=False)
    assert "3/4" in text  # three done, one failed: the bar is full, the count says so
