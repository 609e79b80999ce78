"""hpcflow's SLURM backend against the live mini cluster: submit, depend, watch, cancel.

Every job here is submitted by `SlurmScheduler` itself (real ``sbatch``), tracked by the
``slurm`` fixture so it is cancelled when the test ends, and watched through the
backend's own ``states()``; independent checks use the fixture's plain squeue/scontrol.

On an idle cluster the file takes about 30 s. The waits allow 120 s because the cluster
may be shared: other arrays queued first (FIFO) delay these jobs' start.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from minislurm_client import SlurmClient

from hpcflow.errors import SchedulerError
from hpcflow.schedulers.base import ArrayRequest, JobDependency, TaskState, TaskStatus
from hpcflow.schedulers.slurm import SlurmScheduler
from hpcflow.spec.resources import Resources

# Writes a file named after the task number (the last argument) into argv[1].
WRITE = "import sys,pathlib; pathlib.Path(sys.argv[1]).joinpath(sys.argv[2]).write_text('x')"
DONE = TaskStatus(TaskState.COMPLETED, "0:0")
# Seconds a job may take to start and finish; see the module docstring.
START_TIMEOUT = 120


def array(tmp: Path, name: str, code: str, *args: str, **changes: object) -> ArrayRequest:
    fields: dict[str, object] = {
        "name": name,
        "argv": (sys.executable, "-c", code, *args),
        "n_tasks": 3,
        "resources": Resources(walltime=300),
        "log_dir": tmp / "logs",
        "workdir": tmp,
    }
    fields.update(changes)
    return ArrayRequest(**fields)  # type: ignore[arg-type]


def wait_finished(
    slurm: SlurmClient,
    scheduler: SlurmScheduler,
    n_tasks: dict[str, int],
    timeout: float = START_TIMEOUT,
) -> dict[str, dict[int, TaskStatus]]:
    """Poll ``states()`` until every task of every job is reported finished."""

    def finished() -> dict[str, dict[int, TaskStatus]]:
        states = scheduler.states(list(n_tasks))
        for job, n in n_tasks.items():
            tasks = states[job]
            if sorted(tasks) != list(range(n)) or not all(s.state.finished for s in tasks.values()):
                return {}
        return states

    return slurm.wait_until(f"jobs {list(n_tasks)} to finish", finished, timeout)


def submit(slurm: SlurmClient, scheduler: SlurmScheduler, request: ArrayRequest) -> str:
    return slurm.track(scheduler.submit(request))


def test_aligned_dependency_runs_task_by_task(slurm: SlurmClient, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    scheduler = SlurmScheduler()
    first = submit(slurm, scheduler, array(tmp_path, "first", WRITE, str(out)))
    # Task n of the second array (numbers 10..12) reads file n - 10, written by task
    # n - 10 of the first: it fails if aftercorr let it start too early.
    check = (
        "import sys,pathlib; d=pathlib.Path(sys.argv[1]); n=int(sys.argv[2]); "
        "assert d.joinpath(str(n - 10)).read_text() == 'x'; d.joinpath(str(n)).write_text('y')"
    )
    second = submit(
        slurm,
        scheduler,
        array(
            tmp_path,
            "second",
            check,
            str(out),
            task_offset=10,
            dependencies=(JobDependency(first, "aligned"),),
        ),
    )
    states = wait_finished(slurm, scheduler, {first: 3, second: 3})
    assert states == {first: dict.fromkeys(range(3), DONE), second: dict.fromkeys(range(3), DONE)}
    assert sorted(int(p.name) for p in out.iterdir()) == [0, 1, 2, 10, 11, 12]
    assert scheduler.calls["sbatch"] == 2
    # one squeue and one sacct per states() call, whatever the number of jobs and tasks
    assert scheduler.calls["squeue"] == scheduler.calls["sacct"] >= 1


def test_whole_dependency_on_a_failed_task_is_cancelled(slurm: SlurmClient, tmp_path: Path) -> None:
    scheduler = SlurmScheduler()
    # task 1 exits 1; task 0 succeeds
    fails = submit(
        slurm,
        scheduler,
        array(tmp_path, "fails", "import sys; sys.exit(int(sys.argv[1]))", n_tasks=2),
    )
    waits = submit(
        slurm,
        scheduler,
        array(tmp_path, "waits", "pass", n_tasks=2, dependencies=(JobDependency(fails),)),
    )
    # Never pending forever: --kill-on-invalid-dep=yes cancels it once task 1 failed.
    states = wait_finished(slurm, scheduler, {fails: 2, waits: 2})
    assert states[fails] == {0: DONE, 1: TaskStatus(TaskState.FAILED, "1:0")}
    assert {s.state for s in states[waits].values()} == {TaskState.CANCELLED}
    assert slurm.squeue(waits) == []


def test_cancel_leaves_nothing_queued(slurm: SlurmClient, tmp_path: Path) -> None:
    scheduler = SlurmScheduler()
    job = submit(
        slurm,
        scheduler,
        array(tmp_path, "sleeps", "import time; time.sleep(120)", max_parallel=1),
    )

    def started() -> dict[int, TaskStatus]:
        tasks = scheduler.states([job])[job]
        first = tasks.get(0, TaskStatus(TaskState.UNKNOWN))
        return tasks if first.state is TaskState.RUNNING else {}

    tasks = slurm.wait_until("task 0 to run", started, START_TIMEOUT)
    # max_parallel=1 throttles the others, and squeue's reason says so
    assert tasks[1] == tasks[2] == TaskStatus(TaskState.PENDING, reason="JobArrayTaskLimit")

    scheduler.cancel([job])
    assert scheduler.calls["scancel"] == 1
    slurm.wait_gone(job, 15)
    states = wait_finished(slurm, scheduler, {job: 3})
    assert {s.state for s in states[job].values()} == {TaskState.CANCELLED}
    scheduler.cancel([job])  # cancelling a finished job is not an error
    scheduler.cancel([])
    assert scheduler.calls["scancel"] == 2


def test_paths_with_spaces_quotes_and_percent(slurm: SlurmClient, tmp_path: Path) -> None:
    run = tmp_path / "run 'single' \"double\" ; #hash 50%p"
    log_dir = run / "log dir"
    run.mkdir()
    out = run / "out"
    out.mkdir()
    code = (
        "import os,sys,pathlib; print('cwd', os.getcwd()); print('task', sys.argv[2]); "
        "print('stderr too', file=sys.stderr); "
        "pathlib.Path(sys.argv[1]).joinpath(sys.argv[2]).write_text('x')"
    )
    scheduler = SlurmScheduler(setup=[f"echo setup ran in {shlex.quote(run.name)}"])
    name = 'it\'s "weird"'
    job = submit(
        slurm,
        scheduler,
        array(tmp_path, name, code, str(out), n_tasks=2, log_dir=log_dir, workdir=run),
    )
    states = wait_finished(slurm, scheduler, {job: 2})
    assert states == {job: dict.fromkeys(range(2), DONE)}
    assert sorted(p.name for p in out.iterdir()) == ["0", "1"]
    assert (log_dir / f"{name}.sbatch").read_text() == scheduler.render(
        array(tmp_path, name, code, str(out), n_tasks=2, log_dir=log_dir, workdir=run)
    )
    for task in range(2):
        log = (log_dir / f"{job}_{task}.log").read_text()
        assert f"cwd {run}\n" in log
        assert f"task {task}\n" in log
        assert "stderr too\n" in log  # stderr goes to the same log
        assert f"setup ran in {run.name}\n" in log


def test_resources_reach_the_job(slurm: SlurmClient, tmp_path: Path) -> None:
    # 1200 MB of touched pages: killed under the default of 2 CPUs x 500 MB
    # (DefMemPerCPU; checked by hand: FAILED 0:9) but fine with memory="1.5GB", so
    # completing shows that --mem was applied.
    code = "import time; b = b'x' * (1200 << 20); time.sleep(2)"
    scheduler = SlurmScheduler()
    resources = Resources(memory="1.5GB", walltime=3725, cpus=2)
    job = submit(slurm, scheduler, array(tmp_path, "sized", code, n_tasks=1, resources=resources))
    assert wait_finished(slurm, scheduler, {job: 1}) == {job: {0: DONE}}
    task = slurm.tasks(job)["0"]
    # --time=0-01:02:05: SLURM keeps time limits in whole minutes and rounds up
    assert task["TimeLimit"] == "01:03:00"
    assert task["MinMemoryNode"] == "1.50G"  # --mem=1536M
    assert task["MinCPUsNode"] == "2"


def test_max_array_size_is_read_once(slurm: SlurmClient) -> None:
    scheduler = SlurmScheduler()
    assert scheduler.max_array_size() == 101
    assert scheduler.max_array_size() == 101
    assert scheduler.calls == {"scontrol": 1}


def test_sbatch_error_becomes_scheduler_error(slurm: SlurmClient, tmp_path: Path) -> None:
    scheduler = SlurmScheduler(partition="nosuchpartition")
    with pytest.raises(SchedulerError) as info:
        scheduler.submit(array(tmp_path, "bad", "pass"))
    message = str(info.value)
    assert "sbatch --parsable" in message
    assert str(tmp_path / "logs" / "bad.sbatch") in message
    assert "Invalid partition name specified" in message


def test_states_of_unknown_jobs(slurm: SlurmClient) -> None:
    # A job id the cluster never had: no tasks, no error, with one id and with several.
    scheduler = SlurmScheduler()
    unknown: Sequence[str] = ["999999999"]
    assert scheduler.states(unknown) == {"999999999": {}}
    assert scheduler.states([*unknown, "999999998"]) == {"999999999": {}, "999999998": {}}
