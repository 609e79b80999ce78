"""The public FakeScheduler: recording, states set by a test, and running tasks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hpcflow.errors import InputError
from hpcflow.schedulers.base import JobDependency, TaskState, TaskStatus, get_scheduler
from hpcflow.testing import FakeScheduler, register_fake_scheduler
from tests.schedulers.fakes import request

WRITE = """
import os, sys
with open(f"out_{sys.argv[-1]}", "w") as fh:
    fh.write(os.environ["HPCFLOW_FAKE_JOB_ID"])
"""


def test_records_requests_and_hands_out_ids(tmp_path: Path) -> None:
    fake = FakeScheduler()
    first, second = request(tmp_path), request(tmp_path, name="second", n_tasks=1)
    assert (fake.submit(first), fake.submit(second)) == ("1", "2")
    assert fake.requests == {"1": first, "2": second}
    assert fake.states(["1", "2", "9"]) == {
        "1": {0: TaskStatus(TaskState.PENDING)}
        | {i: TaskStatus(TaskState.PENDING) for i in (1, 2)},
        "2": {0: TaskStatus(TaskState.PENDING)},
        "9": {},
    }
    assert fake.calls == {"submit": 2, "states": 1}


def test_set_state_and_cancel(tmp_path: Path) -> None:
    fake = FakeScheduler()
    job = fake.submit(request(tmp_path))
    fake.set_state(job, TaskState.COMPLETED, [0])
    fake.set_state(job, TaskStatus(TaskState.FAILED, "1:0"), [1])
    fake.cancel([job, "unknown"])
    got = fake.states([job])[job]
    assert [got[i].state for i in range(3)] == [
        TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED
    ]  # fmt: skip
    assert fake.cancelled == [job, "unknown"]
    with pytest.raises(InputError, match="not submitted"):
        fake.set_state("7", TaskState.RUNNING)
    with pytest.raises(InputError, match="no task 5"):
        fake.set_state(job, TaskState.RUNNING, [5])


def test_unknown_dependency_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="did not hand out"):
        FakeScheduler().submit(request(tmp_path, dependencies=(JobDependency("3"),)))


@pytest.mark.parametrize("mode", ["subprocess", "inline"])
def test_run_all_runs_tasks_in_dependency_order(tmp_path: Path, mode: str) -> None:
    fake = FakeScheduler()
    argv = (sys.executable, "-c", WRITE)
    up = fake.submit(request(tmp_path, argv=argv, n_tasks=2))
    fails = fake.submit(
        request(tmp_path, argv=(sys.executable, "-c", "raise SystemExit(3)"), n_tasks=1)
    )
    down = fake.submit(request(tmp_path, argv=argv, n_tasks=2, task_offset=2,
                               dependencies=(JobDependency(up, "aligned"),)))  # fmt: skip
    never = fake.submit(request(tmp_path, n_tasks=1, dependencies=(JobDependency(fails),)))
    anyway = fake.submit(request(tmp_path, argv=argv, n_tasks=1, task_offset=4,
                                 dependencies=(JobDependency(fails, "any"),)))  # fmt: skip
    assert fake.run_all(mode) == 6  # type: ignore[arg-type]
    got = fake.states([up, fails, down, never, anyway])
    assert {s.state for j in (up, down, anyway) for s in got[j].values()} == {TaskState.COMPLETED}
    assert got[fails][0] == TaskStatus(TaskState.FAILED, "3:0", "NonZeroExitCode")
    assert got[never][0] == TaskStatus(TaskState.CANCELLED, None, "DependencyNeverSatisfied")
    assert [(tmp_path / f"out_{n}").read_text() for n in range(5)] == [up, up, down, down, anyway]
    assert fake.run_all(mode) == 0  # type: ignore[arg-type]


def test_run_all_subprocess_writes_the_log(tmp_path: Path) -> None:
    fake = FakeScheduler(setup=["echo setup ran"])
    job = fake.submit(request(tmp_path, argv=("echo", "task"), n_tasks=1))
    fake.run_all()
    assert fake.task_log(tmp_path / "logs", job, 0).read_text() == "setup ran\ntask 0\n"
    fake.submit(request(tmp_path, argv=("echo", "task"), n_tasks=1))
    with pytest.raises(InputError, match="inline"):
        fake.run_all("inline")


def test_kill_writes_a_message_failure_reason_reads(tmp_path: Path) -> None:
    fake = FakeScheduler()
    job = fake.submit(request(tmp_path, n_tasks=1))
    fake.kill(job, 0, TaskState.TIMEOUT)
    assert fake.states([job])[job][0].state is TaskState.TIMEOUT
    log = fake.task_log(tmp_path / "logs", job, 0).read_text()
    assert FakeScheduler.failure_reason(log) is TaskState.TIMEOUT


def test_registration_is_explicit_and_shares_the_instance() -> None:
    fake = register_fake_scheduler()
    assert get_scheduler("fake") is fake
    mine = FakeScheduler(max_array_size=5)
    assert register_fake_scheduler(mine) is mine
    assert get_scheduler("fake").max_array_size() == 5
    with pytest.raises(InputError, match="max_array_size"):
        FakeScheduler(max_array_size=0)


def test_run_all_inline_runs_a_module_that_is_already_imported(tmp_path: Path) -> None:
    # runpy warns (an error under -W error) when the module is in sys.modules already,
    # which is the normal case for hpcflow.worker inside a test session
    import hpcflow.worker  # noqa: F401
    from hpcflow import Func, Pipeline, Run

    fake = FakeScheduler()
    double = Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")
    run = Pipeline([double]).submit({"x": [1, 2]}, tmp_path / "run", scheduler=fake)
    assert fake.run_all("inline") >= 1
    assert run.status().complete, fake.task_log(tmp_path / "run" / "logs" / "y", "1", 0)
    assert Run.open(tmp_path / "run").load_outputs("y").tolist() == [2, 4]
