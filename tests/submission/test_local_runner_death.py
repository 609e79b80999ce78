"""A local runner killed while a worker runs (issue 13, item 13).

The worker records its work stored (the file ``HPCFLOW_TASK_DONE_FILE`` names) just
before it exits 0; a runner that died meanwhile cannot see that exit, and the next
runner must not take the task for failed: it is COMPLETED and its dependents run. A
worker stopped before it stored its elements is still FAILED.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import psutil
import pytest

from hpcflow import Pipeline, Run, func
from hpcflow.schedulers.base import TaskState
from hpcflow.schedulers.local import LocalScheduler

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120  # seconds; generous for a loaded CI machine, never reached when things work


@func("y", mapspec="x[i] -> y[i]")
def gated(x: int, gate: str) -> int:
    """Says it started, then waits (at most 60 s) for the file ``gate``."""
    Path(f"{gate}.started").touch()
    deadline = time.monotonic() + 60
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.02)
    return 2 * x


@func("z", mapspec="y[i] -> z[i]")
def inc(y: int) -> int:
    return y + 1


def wait_for(predicate: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def runner_alive(queue: Path) -> bool:
    with open(queue / "runner.lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def kill_runner(queue: Path) -> None:
    os.kill(int((queue / "runner.lock").read_text()), signal.SIGKILL)
    wait_for(lambda: not runner_alive(queue), "the runner to die")


def start(tmp_path: Path) -> tuple[Run, Path, Path]:
    """A run whose one ``y`` task waits at its gate while its runner is killed."""
    queue, gate = tmp_path / "queue", tmp_path / "gate"
    run = Pipeline([gated, inc]).submit(
        {"x": [0, 1, 2], "gate": str(gate)}, tmp_path / "run", scheduler="local",
        state_dir=str(queue), chunksizes=3, fuse=False,
    )  # fmt: skip
    assert isinstance(run, Run)
    wait_for(Path(f"{gate}.started").exists, "the y task to start")
    kill_runner(queue)  # no status call from here on until the test says so
    return run, queue, gate


def task_states(queue: Path) -> dict[str, Any]:
    """Job "1" is y's array, job "2" z's (submitted in that order), once both finished.

    Waited for: a run is complete once its storage is, which may be a moment before
    the runner has reaped the last worker.
    """
    sched = LocalScheduler(state_dir=queue)

    def finished() -> dict[str, Any] | None:
        got = sched.states(["1", "2"])
        if not all(s.state.finished for tasks in got.values() for s in tasks.values()):
            return None
        return {job: [tasks[i] for i in sorted(tasks)] for job, tasks in got.items()}

    return wait_for(finished, "both jobs to finish")


@pytest.mark.slow
def test_a_task_that_stored_its_work_before_the_runner_died_is_completed(
    tmp_path: Path,
) -> None:
    run, queue, gate = start(tmp_path)
    pid = json.loads((queue / "tasks" / "1" / "0.json").read_text())["pid"]
    gate.touch()
    # The worker finishes with no runner alive: its exit status is lost, its record is not.
    wait_for(lambda: gone(pid), "the worker to exit")
    status = run.wait(timeout=WAIT)  # starts a new runner, which reconciles the task
    assert status.complete, status
    assert run.load_outputs("z").tolist() == [1, 3, 5]
    states = task_states(queue)
    assert [s.state for s in states["1"]] == [TaskState.COMPLETED]
    assert "recorded its work stored" in (states["1"][0].reason or "")
    assert [s.state for s in states["2"]] == [TaskState.COMPLETED]  # the dependent ran


@pytest.mark.slow
def test_a_task_stopped_before_it_stored_its_work_is_still_failed(tmp_path: Path) -> None:
    run, queue, _ = start(tmp_path)
    pid = json.loads((queue / "tasks" / "1" / "0.json").read_text())["pid"]
    status = run.wait(timeout=WAIT)  # the new runner kills the worker still at its gate
    assert not status.complete
    states = task_states(queue)
    assert [(s.state, s.reason) for s in states["1"]] == [(TaskState.FAILED, "runner died")]
    assert [s.state for s in states["2"]] == [TaskState.CANCELLED]
    assert status.outputs["y"].done == 0
    assert not (queue / "tasks" / "1" / "0.done").exists()
    wait_for(lambda: gone(pid), "the orphaned worker to be killed")
