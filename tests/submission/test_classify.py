"""How `Run.status` names the reason a task ended, from the scheduler state and its log."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.runfolder.records import ArrayRecord, StageRecord
from hpcflow.schedulers.base import TaskState, TaskStatus
from hpcflow.schedulers.slurm import SlurmScheduler
from hpcflow.submission.classify import reason, task_status

SLURM = SlurmScheduler()

KILLED = (
    "slurmstepd-n1: error: StepId=299.batch exceeded memory limit (968146944 > 314572800), "
    "being killed\nslurmstepd-n1: error: *** JOB 299 ON n1 CANCELLED AT 2026-11-22T05:32:36 ***\n"
)


def _stage() -> StageRecord:
    return StageRecord(
        name="y", outputs=["y"], n_elements=3, size=3, chunksize=1, n_tasks=3, resources={},
        arrays=[ArrayRecord(0, 0, 3, job_id="294")],
    )  # fmt: skip


@pytest.mark.parametrize(
    ("scheduler_says", "log", "expected"),
    [
        # both were seen for one memory kill on the mini cluster, from run to run
        (TaskStatus(TaskState.FAILED, "0:9"), KILLED, "OUT_OF_MEMORY"),
        (TaskStatus(TaskState.CANCELLED, "0:15"), KILLED, "OUT_OF_MEMORY"),
        (TaskStatus(TaskState.CANCELLED, "0:15"), "*** JOB 1 CANCELLED AT x ***\n", "CANCELLED"),
        (
            TaskStatus(TaskState.FAILED, "1:0"),
            "*** JOB 3 CANCELLED DUE TO TIME LIMIT ***",
            "TIMEOUT",
        ),
        (TaskStatus(TaskState.FAILED, "1:0"), "Traceback ...\nValueError\n", "FAILED"),
        # a task cancelled because its upstream failed keeps that reason, whatever its log
        (
            TaskStatus(TaskState.CANCELLED, None, "DependencyNeverSatisfied"),
            KILLED,
            "CANCELLED (upstream failed)",
        ),
    ],
)
def test_reason_from_state_and_log(
    tmp_path: Path, scheduler_says: TaskStatus, log: str, expected: str
) -> None:
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "294_1.log").write_text("hpcflow worker: y task 1\n" + log)
    ts = task_status(_stage(), 1, {"294": {1: scheduler_says}}, tmp_path, scheduler=SLURM)
    assert reason(ts) == expected


def test_only_the_last_attempt_of_a_requeued_task_counts(tmp_path: Path) -> None:
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "294_1.log").write_text(
        "hpcflow worker: y task 1 in /r\n*** JOB 294 CANCELLED DUE TO PREEMPTION ***\n"
        "hpcflow worker: y task 1 in /r\n" + KILLED
    )
    ts = task_status(
        _stage(), 1, {"294": {1: TaskStatus(TaskState.FAILED, "0:9")}}, tmp_path, scheduler=SLURM
    )
    assert reason(ts) == "OUT_OF_MEMORY"
    (tmp_path / "y" / "294_1.log").write_text(
        "hpcflow worker: y task 1 in /r\n" + KILLED + "hpcflow worker: y task 1 in /r\nboom\n"
    )
    ts = task_status(
        _stage(), 1, {"294": {1: TaskStatus(TaskState.FAILED, "1:0")}}, tmp_path, scheduler=SLURM
    )
    assert reason(ts) == "FAILED"


def test_a_missing_log_leaves_the_scheduler_state(tmp_path: Path) -> None:
    ts = task_status(
        _stage(), 2, {"294": {2: TaskStatus(TaskState.FAILED, "0:9")}}, tmp_path, scheduler=SLURM
    )
    assert reason(ts) == "FAILED"


def test_a_cancelled_task_without_a_log_never_started(tmp_path: Path) -> None:
    from hpcflow.submission.classify import is_task_failure

    # sacct no longer gives DependencyNeverSatisfied once squeue has purged the task
    cancelled = {"294": {0: TaskStatus(TaskState.CANCELLED, "0:0")}}
    ts = task_status(_stage(), 0, cancelled, tmp_path, scheduler=SLURM)
    assert reason(ts) == "CANCELLED (before it started)"
    assert not is_task_failure(ts)
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "294_0.log").write_text("hpcflow worker: y task 0 in /r\n")
    ts = task_status(
        _stage(), 0, cancelled, tmp_path, scheduler=SLURM
    )  # it ran: scancel of a running task
    assert reason(ts) == "CANCELLED"
    assert is_task_failure(ts)


def test_task_counts_agree_with_unique_counts_in_any_order() -> None:
    import numpy as np

    from hpcflow.submission.classify import task_counts

    stage = StageRecord("y", ["y"], 1_000, 1_000, 7, 143, {})
    rng = np.random.default_rng(3)
    positions = np.unique(rng.integers(0, 1_000, 300))  # ascending, as status passes them
    for order in (positions, positions[::-1], rng.permutation(positions), positions[:1]):
        tasks, counts = task_counts(stage, order)
        want_tasks, want_counts = np.unique(order // 7, return_counts=True)
        assert tasks.tolist() == want_tasks.tolist()
        assert counts.tolist() == want_counts.tolist()
    tasks, counts = task_counts(stage, np.zeros(0, dtype=np.int64))
    assert (len(tasks), len(counts)) == (0, 0)
