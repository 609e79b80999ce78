"""The local scheduler, with its real detached runner and real task processes.

Every test has its own state directory. Orderings are checked causally (a task records
whether its predecessor's file already existed) or with time stamps written by the
tasks themselves, never by how long something took.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psutil
import pytest

from hpcflow.errors import InputError, SchedulerError
from hpcflow.schedulers import base
from hpcflow.schedulers.base import ArrayRequest, JobDependency, TaskState, TaskStatus
from hpcflow.schedulers.local import LocalScheduler
from hpcflow.schedulers.local._state import JobSpec
from hpcflow.spec.resources import Resources

NEVER = "DependencyNeverSatisfied"

# A task that writes its start and end times (for overlap counts), then sleeps a bit.
STAMP = """
import os, sys, time
n = sys.argv[-1]
start = time.monotonic()
time.sleep(0.1)
with open(f"span_{os.environ['HPCFLOW_JOB_ID']}_{n}", "w") as fh:
    fh.write(f"{start} {time.monotonic()} {os.environ['OMP_NUM_THREADS']}")
"""

# A task that waits (at most 30 s) until the file named by GATE exists.
GATE = """
import os, sys, time
deadline = time.monotonic() + 30
while not os.path.exists({gate!r}) and time.monotonic() < deadline:
    time.sleep(0.02)
open("done_" + sys.argv[-1], "w").close()
sys.exit(0 if os.path.exists({gate!r}) else 1)
"""


def py(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", textwrap.dedent(code))


def states_of(sched: LocalScheduler, job_id: str) -> list[TaskStatus]:
    tasks = sched.states([job_id])[job_id]
    return [tasks[i] for i in sorted(tasks)]


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def wait_finished(
    sched: LocalScheduler, job_ids: Sequence[str], timeout: float = 30.0
) -> dict[str, list[TaskStatus]]:
    def finished() -> dict[str, list[TaskStatus]] | None:
        got = sched.states(job_ids)
        if all(s.state.finished for tasks in got.values() for s in tasks.values()):
            return {j: [t[i] for i in sorted(t)] for j, t in got.items()}
        return None

    return wait_for(finished, f"jobs {list(job_ids)} to finish", timeout)  # type: ignore[no-any-return]


def runner_alive(state_dir: Path) -> bool:
    with open(state_dir / "runner.lock", "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False  # closing the file releases the probe's lock


def runner_pid(state_dir: Path, not_: int | None = None) -> int:
    """The pid the runner wrote in its lock file (waiting for one other than ``not_``)."""

    def read() -> int | None:
        text = (state_dir / "runner.lock").read_text().strip()
        return int(text) if text and int(text) != not_ else None

    return wait_for(read, "a runner to write its pid")  # type: ignore[no-any-return]


def gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def max_overlap(work: Path, job_id: str) -> tuple[int, int]:
    """Most cpus in use at once by the job's tasks, and how many tasks ran."""
    events = []
    spans = list(work.glob(f"span_{job_id}_*"))
    for f in spans:
        start, end, cpus = f.read_text().split()
        events += [(float(start), int(cpus)), (float(end), -int(cpus))]
    in_use = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):  # ends sort first on ties
        in_use += delta
        peak = max(peak, in_use)
    return peak, len(spans)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def make(state_dir: Path) -> Iterator[Callable[..., LocalScheduler]]:
    """LocalScheduler factory; at teardown everything left is cancelled and waited for."""

    def make(**kwargs: Any) -> LocalScheduler:
        return LocalScheduler(state_dir=state_dir, **kwargs)

    yield make
    sched = make(cpus=1)
    ids = [p.stem for p in (state_dir / "jobs").glob("*.json")]
    if ids:
        sched.cancel(ids)
        wait_finished(sched, ids)


def request(work: Path, argv: Sequence[str], n: int = 1, **kwargs: Any) -> ArrayRequest:
    kwargs.setdefault("resources", Resources())
    kwargs.setdefault("name", "test")
    kwargs.setdefault("log_dir", work / "logs")
    return ArrayRequest(argv=tuple(argv), n_tasks=n, workdir=work, **kwargs)


def test_array_runs_every_task_with_its_number_and_appends_logs(
    make: Callable[..., LocalScheduler], weird_tmp_path: Path
) -> None:
    work = weird_tmp_path
    sched = make(cpus=2, setup=["export GREETING='hi there'"])
    prog = """
        import os, sys
        n = sys.argv[-1]
        env = [os.environ[k] for k in ("HPCFLOW_ARRAY_TASK_ID", "HPCFLOW_JOB_ID",
               "OMP_NUM_THREADS", "HPCFLOW_RESTART_COUNT", "GREETING")]
        with open(f"out_{n}", "w") as fh:
            fh.write(",".join(env))
        print("hello", n)
    """
    (work / "logs").mkdir()
    (work / "logs" / "1_1.log").write_text("earlier\n")  # job ids start at 1
    job = sched.submit(request(work, py(prog), 3, task_offset=10, name="arr"))
    assert job == "1"
    got = wait_finished(sched, [job])[job]
    assert got == [TaskStatus(TaskState.COMPLETED, "0:0", None)] * 3
    for index in range(3):
        text = (work / f"out_{10 + index}").read_text()
        assert text == f"{index},1,1,0,hi there"
    assert (work / "logs" / "1_1.log").read_text() == "earlier\nhello 11\n"
    assert (work / "logs" / "1_0.log").read_text() == "hello 10\n"
    record = json.loads((sched.state_dir / "tasks" / "1" / "2.json").read_text())
    assert record["state"] == "COMPLETED"
    assert record["start"] <= record["end"]
    assert record["pid"] > 0 and record["host"]
    assert sched.calls["submit"] == 1 and sched.calls["states"] >= 1


def test_work_completes_after_the_submitter_exits(
    make: Callable[..., LocalScheduler], work: Path, state_dir: Path
) -> None:
    child = """
        import sys
        from pathlib import Path
        from hpcflow.schedulers.base import ArrayRequest
        from hpcflow.schedulers.local import LocalScheduler
        from hpcflow.spec.resources import Resources
        state_dir, work, code = sys.argv[1:]
        sched = LocalScheduler(state_dir=state_dir, cpus=2)
        argv = (sys.executable, "-c", code)
        req = ArrayRequest(name="detached", argv=argv, n_tasks=2, resources=Resources(),
                           log_dir=Path(work) / "logs", workdir=Path(work))
        print(sched.submit(req))
    """
    gate = textwrap.dedent(GATE.format(gate="go"))
    args = [str(state_dir), str(work), gate]
    out = subprocess.run(
        [*py(child), *args], capture_output=True, text=True, timeout=60, check=True
    )
    job = out.stdout.strip()
    sched = make(cpus=2)
    # The submitter is gone and the tasks wait for the gate: nothing has finished yet.
    assert not any(s.state.finished for s in states_of(sched, job))
    (work / "go").touch()
    got = wait_finished(sched, [job])[job]
    assert [s.state for s in got] == [TaskState.COMPLETED] * 2
    assert (work / "done_0").exists() and (work / "done_1").exists()


def test_aligned_dependency_waits_task_by_task(
    make: Callable[..., LocalScheduler], work: Path
) -> None:
    sched = make(cpus=4)
    # A's task 1 finishes only once B's task 0 ran: with a whole-job wait this would
    # never happen (A1 fails after 30 s), so it shows B0 waited for A0 alone.
    upstream = """
        import os, sys, time
        n = sys.argv[-1]
        if n == "1":
            deadline = time.monotonic() + 30
            while not os.path.exists("b_0") and time.monotonic() < deadline:
                time.sleep(0.02)
            if not os.path.exists("b_0"):
                sys.exit(1)
        open(f"a_end_{n}", "w").close()
    """
    downstream = """
        import os, sys
        n = sys.argv[-1]
        with open(f"b_{n}", "w") as fh:
            fh.write(str(os.path.exists(f"a_end_{n}")))
    """
    a = sched.submit(request(work, py(upstream), 3, name="a"))
    dep = (JobDependency(a, "aligned"),)
    b = sched.submit(request(work, py(downstream), 3, name="b", dependencies=dep))
    got = wait_finished(sched, [a, b])
    assert [s.state for s in got[a] + got[b]] == [TaskState.COMPLETED] * 6
    assert [(work / f"b_{i}").read_text() for i in range(3)] == ["True"] * 3


def test_whole_dependency_waits_for_every_task(
    make: Callable[..., LocalScheduler], work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sched = make(cpus=4)
    upstream = """
        import os, sys, time
        n = sys.argv[-1]
        if n == "2":
            deadline = time.monotonic() + 30
            while not os.path.exists("go") and time.monotonic() < deadline:
                time.sleep(0.02)
        open(f"a_end_{n}", "w").close()
    """
    downstream = """
        import glob, os, sys
        with open(f"b_{sys.argv[-1]}", "w") as fh:
            fh.write(f"{len(glob.glob('a_end_*'))} {os.environ.get('HPCFLOW_TEST_MARK')}")
    """
    a = sched.submit(request(work, py(upstream), 3, name="a"))
    # B's tasks get the environment B was submitted with, not that of the runner
    # (which A's submission started before this variable existed); a variable outside
    # what tasks always get is passed only when named in export=.
    monkeypatch.setenv("HPCFLOW_TEST_MARK", "b")
    dep = (JobDependency(a, "whole"),)
    exporting = make(cpus=4, export=["HPCFLOW_TEST_MARK"])
    b = exporting.submit(request(work, py(downstream), 2, name="b", dependencies=dep))
    wait_for(lambda: (work / "a_end_0").exists() and (work / "a_end_1").exists(), "A0, A1")
    assert [s.state for s in states_of(sched, b)] == [TaskState.PENDING] * 2
    (work / "go").touch()
    got = wait_finished(sched, [a, b])
    assert [s.state for s in got[a] + got[b]] == [TaskState.COMPLETED] * 5
    assert [(work / f"b_{i}").read_text() for i in range(2)] == ["3 b", "3 b"]


def test_failed_upstream_cancels_its_dependents(
    make: Callable[..., LocalScheduler], work: Path
) -> None:
    sched = make(cpus=2)
    prog = """
        import os, signal, sys
        n = int(sys.argv[-1])
        if n == 1:
            sys.exit(3)
        if n == 2:
            os.kill(os.getpid(), signal.SIGKILL)
    """
    a = sched.submit(request(work, py(prog), 3))
    ok = ["true"]
    b = sched.submit(request(work, ok, 3, dependencies=(JobDependency(a, "aligned"),)))
    c = sched.submit(request(work, ok, 2, dependencies=(JobDependency(a, "whole"),)))
    d = sched.submit(request(work, ok, 1, dependencies=(JobDependency(b, "whole"),)))
    # "any" (afterany) runs once everything it waits for ended, failed and cancelled alike
    after = (JobDependency(a, "any"), JobDependency(b, "any"), JobDependency(d, "any"))
    e = sched.submit(request(work, ok, 1, dependencies=after))
    got = wait_finished(sched, [a, b, c, d, e])
    assert got[a] == [
        TaskStatus(TaskState.COMPLETED, "0:0", None),
        TaskStatus(TaskState.FAILED, "3:0", "NonZeroExitCode"),
        TaskStatus(TaskState.FAILED, "0:9", "killed by signal 9"),
    ]
    never = TaskStatus(TaskState.CANCELLED, None, NEVER)
    assert got[b] == [TaskStatus(TaskState.COMPLETED, "0:0", None), never, never]
    assert got[c] == [never, never]
    assert got[d] == [never]
    assert got[e] == [TaskStatus(TaskState.COMPLETED, "0:0", None)]


def test_cpu_capacity_is_never_exceeded(make: Callable[..., LocalScheduler], work: Path) -> None:
    sched = make(cpus=2)
    ones = sched.submit(request(work, py(STAMP), 6, resources=Resources(cpus=1)))
    twos = sched.submit(request(work, py(STAMP), 2, resources=Resources(cpus=2)))
    got = wait_finished(sched, [ones, twos])
    assert all(s.state is TaskState.COMPLETED for s in got[ones] + got[twos])
    events = []  # both jobs together, weighted by cpus
    for f in work.glob("span_*"):
        start, end, cpus = f.read_text().split()
        events += [(float(start), int(cpus)), (float(end), -int(cpus))]
    in_use = peak = 0
    for _, delta in sorted(events):
        in_use += delta
        peak = max(peak, in_use)
    assert len(events) == 16
    assert peak <= 2


def test_max_parallel_is_honoured(make: Callable[..., LocalScheduler], work: Path) -> None:
    sched = make(cpus=4)
    job = sched.submit(request(work, py(STAMP), 6, max_parallel=2))
    got = wait_finished(sched, [job])[job]
    assert all(s.state is TaskState.COMPLETED for s in got)
    peak, n = max_overlap(work, job)
    assert n == 6
    assert peak <= 2


def test_too_large_requests_are_refused_before_anything_is_written(
    make: Callable[..., LocalScheduler], work: Path, state_dir: Path
) -> None:
    sched = make(cpus=2, memory="1GB")
    with pytest.raises(InputError, match=r"'big' asks for cpus=3 .*capacity.*cpus=2"):
        sched.submit(request(work, ["true"], resources=Resources(cpus=3), name="big"))
    with pytest.raises(InputError, match=r"memory=2GB .*capacity.*memory=1GB"):
        sched.submit(request(work, ["true"], resources=Resources(memory="2GB")))
    with pytest.raises(InputError, match="one machine"):
        sched.submit(request(work, ["true"], resources=Resources(nodes=2)))
    with pytest.raises(InputError, match="does not know"):
        sched.submit(request(work, ["true"], dependencies=(JobDependency("7"),)))
    bad_kind = JobDependency("7", "after")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="'after'"):
        sched.submit(request(work, ["true"], dependencies=(bad_kind,)))
    assert not state_dir.exists()
    assert sched.calls["submit"] == 5


@pytest.mark.slow
def test_memory_over_the_request_is_killed(make: Callable[..., LocalScheduler], work: Path) -> None:
    sched = make(cpus=1)
    hog = "import time; x = b'1' * (200 * 2**20); time.sleep(30)"
    job = sched.submit(request(work, py(hog), resources=Resources(memory="50MB")))
    [got] = wait_finished(sched, [job])[job]
    assert got.state is TaskState.OUT_OF_MEMORY
    assert got.exit_code == "0:9"
    assert got.reason is not None and "memory" in got.reason
    assert "OUT_OF_MEMORY" in (work / "logs" / f"{job}_0.log").read_text()


@pytest.mark.slow
def test_walltime_is_enforced(make: Callable[..., LocalScheduler], work: Path) -> None:
    sched = make(cpus=1)
    job = sched.submit(
        request(work, py("import time; time.sleep(30)"), resources=Resources(walltime=1))
    )
    [got] = wait_finished(sched, [job])[job]
    assert got.state is TaskState.TIMEOUT
    assert got.exit_code == "0:15"  # SIGTERM was enough


@pytest.mark.slow
def test_cancel_kills_running_and_drops_pending_tasks(
    make: Callable[..., LocalScheduler], work: Path
) -> None:
    sched = make(cpus=1)
    # Ignores SIGTERM, so the runner must follow up with SIGKILL.
    stubborn = """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        open("ignoring", "w").close()
        time.sleep(60)
    """
    a = sched.submit(request(work, py(stubborn), 3))
    b = sched.submit(request(work, ["true"], 3, dependencies=(JobDependency(a, "aligned"),)))
    wait_for((work / "ignoring").exists, "task 0 to ignore SIGTERM")
    pid = json.loads((sched.state_dir / "tasks" / a / "0.json").read_text())["pid"]
    sched.cancel([a, "999", "not-a-job"])
    got = wait_finished(sched, [a, b])
    assert got[a][0] == TaskStatus(TaskState.CANCELLED, "0:9", "cancelled")
    assert got[a][1:] == [TaskStatus(TaskState.CANCELLED, None, "cancelled")] * 2
    assert got[b] == [TaskStatus(TaskState.CANCELLED, None, NEVER)] * 3
    assert gone(pid)
    assert sched.calls["cancel"] == 1


@pytest.mark.slow
def test_a_dead_runner_is_replaced_and_its_tasks_settled(
    make: Callable[..., LocalScheduler], work: Path, state_dir: Path
) -> None:
    sched = make(cpus=1)
    a = sched.submit(request(work, py("import time; time.sleep(60)"), 3))
    wait_for(lambda: states_of(sched, a)[0].state is TaskState.RUNNING, "task 0 to run")
    orphan = json.loads((state_dir / "tasks" / a / "0.json").read_text())["pid"]
    os.kill(runner_pid(state_dir), signal.SIGKILL)
    wait_for(lambda: not runner_alive(state_dir), "the runner to die")
    # No runner: cancelling marks the pending tasks at once, then a new runner settles
    # the task the dead one left RUNNING (and kills its still running process).
    sched.cancel([a])
    assert states_of(sched, a)[1:] == [TaskStatus(TaskState.CANCELLED, None, "cancelled")] * 2
    got = wait_finished(sched, [a])[a]
    assert got[0] == TaskStatus(TaskState.CANCELLED, None, "runner died")
    wait_for(lambda: gone(orphan), "the orphaned task to be killed")

    # A dead runner with work left is restarted by the next states() call.
    b = sched.submit(request(work, py("import time; time.sleep(60)"), 1))
    c = sched.submit(request(work, py("pass"), 2))
    wait_for(lambda: states_of(sched, b)[0].state is TaskState.RUNNING, "b to run")
    os.kill(runner_pid(state_dir), signal.SIGKILL)
    wait_for(lambda: not runner_alive(state_dir), "the runner to die")
    after = wait_finished(sched, [b, c])
    assert after[b] == [TaskStatus(TaskState.FAILED, None, "runner died")]
    assert [s.state for s in after[c]] == [TaskState.COMPLETED] * 2


@pytest.mark.slow
def test_runner_exits_when_idle_and_a_later_submit_starts_another(
    make: Callable[..., LocalScheduler], work: Path, state_dir: Path
) -> None:
    sched = make(cpus=1)
    first = sched.submit(request(work, ["true"]))
    pid = runner_pid(state_dir)
    wait_finished(sched, [first])
    wait_for(lambda: gone(pid), "the idle runner to exit")
    assert not runner_alive(state_dir)
    second = sched.submit(request(work, ["true"]))
    assert [s.state for s in wait_finished(sched, [second])[second]] == [TaskState.COMPLETED]
    runner_pid(state_dir, not_=pid)  # a second runner took the lock and wrote its pid
    assert (state_dir / "runner.log").read_text().count("idle, exiting") >= 1


@pytest.mark.slow
def test_racing_submitters_all_complete(
    make: Callable[..., LocalScheduler], work: Path, state_dir: Path
) -> None:
    child = """
        import os, sys, time
        from pathlib import Path
        from hpcflow.schedulers.base import ArrayRequest
        from hpcflow.schedulers.local import LocalScheduler
        from hpcflow.spec.resources import Resources
        state_dir, work = sys.argv[1:]
        sched = LocalScheduler(state_dir=state_dir, cpus=2)
        req = ArrayRequest(name="race", argv=("true",), n_tasks=2, resources=Resources(),
                           log_dir=Path(work) / "logs", workdir=Path(work))
        while not os.path.exists(Path(work) / "go"):  # start together
            time.sleep(0.005)
        print(sched.submit(req))
    """
    procs = [
        subprocess.Popen([*py(child), str(state_dir), str(work)], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    (work / "go").touch()
    ids = []
    for p in procs:
        with p:
            out, _ = p.communicate(timeout=60)
        assert p.returncode == 0
        ids.append(out.strip())
    assert len(set(ids)) == 4
    sched = make(cpus=2)
    got = wait_finished(sched, ids)
    assert all(s.state is TaskState.COMPLETED for tasks in got.values() for s in tasks)


def test_malformed_job_file_fails_alone(
    make: Callable[..., LocalScheduler], work: Path, state_dir: Path
) -> None:
    sched = make(cpus=1)
    (state_dir / "jobs").mkdir(parents=True)
    (state_dir / "jobs" / "1.json").write_text("{not json")
    bad_dep = sched.submit(request(work, ["true"], dependencies=(JobDependency("1"),)))
    good = sched.submit(request(work, ["true"], 2))
    missing_dir = sched.submit(request(work / "missing", ["true"], log_dir=work / "logs"))
    got = wait_finished(sched, ["1", bad_dep, good, missing_dir])
    [bad] = got["1"]
    assert bad.state is TaskState.FAILED and "malformed job file" in (bad.reason or "")
    assert got[bad_dep] == [TaskStatus(TaskState.CANCELLED, None, NEVER)]
    assert [s.state for s in got[good]] == [TaskState.COMPLETED] * 2
    [failed] = got[missing_dir]
    assert failed.state is TaskState.FAILED and "could not start" in (failed.reason or "")


@pytest.mark.slow
def test_many_tasks_and_fast_states(make: Callable[..., LocalScheduler], work: Path) -> None:
    sched = make(cpus=4)
    job = sched.submit(request(work, ["true"], 200))
    got = wait_finished(sched, [job], timeout=120)[job]
    assert len(got) == 200
    assert all(s.state is TaskState.COMPLETED for s in got)
    # A new client reads the finished job's summary file, not 200 task files.
    again = LocalScheduler(state_dir=sched.state_dir).states([job, "12345", "x"])
    assert again[job] == dict(enumerate(got))
    assert again["12345"] == {} and again["x"] == {}


def test_render_options_and_registry(tmp_path: Path) -> None:
    state_dir = tmp_path / "never-created"
    sched = LocalScheduler(state_dir=state_dir, cpus=3, memory="2GB", setup=["module load x"])
    req = ArrayRequest(
        name="run-1/f",
        argv=("python", "-m", "hpcflow.worker", "a b"),
        n_tasks=4,
        task_offset=10,
        resources=Resources(cpus=2, memory="500MB", walltime="1:30:00"),
        log_dir=tmp_path / "logs",
        workdir=tmp_path,
        dependencies=(JobDependency("12", "aligned"),),
    )
    text = sched.render(req)
    assert text.startswith("# hpcflow local array run-1/f: 4 tasks, cpus=2, memory=500MB")
    assert "walltime=1:30:00" in text and "aligned:12" in text
    assert "TASK=$((10 + HPCFLOW_ARRAY_TASK_ID))" in text
    assert text.endswith("module load x\nexec python -m hpcflow.worker 'a b' \"$TASK\"\n")
    assert not state_dir.exists()
    options = sched.options()
    assert json.loads(json.dumps(options)) == options
    assert options["state_dir"] == str(state_dir.absolute())
    assert LocalScheduler(**options).options() == options
    assert sched.max_array_size() >= 100_000
    assert base._REGISTRY["local"] is LocalScheduler
    assert LocalScheduler.supports_per_task_dependencies


def test_defaults_come_from_the_environment_and_machine(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HPCFLOW_LOCAL_DIR", str(tmp_path / "q"))
    sched = LocalScheduler()
    assert sched.state_dir == tmp_path / "q"
    assert sched.cpus == psutil.cpu_count()
    assert sched.memory == psutil.virtual_memory().total
    with pytest.raises(InputError, match="cpus"):
        LocalScheduler(cpus=0)


def test_a_task_larger_than_a_lowered_capacity_fails_instead_of_waiting(
    make: Callable[..., LocalScheduler], work: Path
) -> None:
    big = make(cpus=2)
    gate = big.submit(request(work, py(GATE.format(gate="go"))))
    wide = big.submit(
        request(work, ["true"], resources=Resources(cpus=2), dependencies=(JobDependency(gate),))
    )
    small = make(cpus=1)  # a later submitter declares a smaller machine
    other = small.submit(request(work, ["true"]))
    (work / "go").touch()
    got = wait_finished(small, [gate, wide, other])
    [failed] = got[wide]
    assert failed.state is TaskState.FAILED and "capacity is cpus=1" in (failed.reason or "")
    assert got[gate][0].state is got[other][0].state is TaskState.COMPLETED


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"n_tasks": 0}, "n_tasks=0"),
        ({"argv": []}, "argv"),
        ({"cpus": "2"}, "'cpus'"),
        ({"dependencies": [{"job_id": "5", "kind": "whole"}]}, "not an earlier job"),
        ({"dependencies": [{"job_id": "1", "kind": "after"}]}, "malformed dependency"),
        ({"env": {"A": 1}}, "env"),
    ],
)
def test_job_files_are_checked(change: dict[str, Any], message: str, tmp_path: Path) -> None:
    spec = JobSpec(
        id=5, name="x", argv=("true",), n_tasks=2, task_offset=0, cpus=1, memory=None,
        walltime=None, log_dir=str(tmp_path), workdir=str(tmp_path), dependencies=((1, "aligned"),),
        max_parallel=None, setup=(), submit_time=0.0, env={"A": "b"},
    )  # fmt: skip
    assert JobSpec.from_json(5, json.loads(json.dumps(spec.to_json()))) == spec
    with pytest.raises(ValueError, match=message):
        JobSpec.from_json(5, {**spec.to_json(), **change})
    with pytest.raises(ValueError, match="JSON object"):
        JobSpec.from_json(5, [])


def test_runner_imports_the_submitters_hpcflow_from_a_source_checkout(
    tmp_path: Path, state_dir: Path, work: Path
) -> None:
    """A submitter that imports hpcflow from its working directory (a checkout, not an
    installed package) gets a runner running that same code, though the runner works
    from "/" (before the fix it imported another hpcflow, or died at import, and the
    jobs stayed pending for ever)."""
    import shutil

    import hpcflow

    checkout = tmp_path / "checkout"
    shutil.copytree(Path(hpcflow.__file__).parent, checkout / "hpcflow")
    runner = checkout / "hpcflow" / "schedulers" / "local" / "_runner.py"
    mark = tmp_path / "runner-imported-from"
    # the copy's runner says where it was imported from, then runs as usual
    future = "from __future__ import annotations\n"
    assert future in runner.read_text()
    runner.write_text(
        runner.read_text().replace(
            future,
            f"{future}import pathlib as _p\n_p.Path({str(mark)!r}).write_text(__file__)\n",
            1,
        )
    )
    child = """
        import sys
        from pathlib import Path
        import hpcflow
        assert hpcflow.__file__.startswith(str(Path.cwd())), hpcflow.__file__
        from hpcflow.schedulers.base import ArrayRequest
        from hpcflow.schedulers.local import LocalScheduler
        from hpcflow.spec.resources import Resources
        state_dir, work = sys.argv[1:]
        sched = LocalScheduler(state_dir=state_dir, cpus=1)
        req = ArrayRequest(name="checkout", argv=(sys.executable, "-c", "pass"), n_tasks=1,
                           resources=Resources(), log_dir=Path(work) / "logs",
                           workdir=Path(work))
        print(sched.submit(req))
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(child), str(state_dir), str(work)],
        cwd=checkout, env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    job = out.stdout.strip()
    deadline = time.monotonic() + 30
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert mark.read_text() == str(runner)
    got = wait_finished(LocalScheduler(state_dir=state_dir), [job])[job]
    assert [s.state for s in got] == [TaskState.COMPLETED]


# -- a state directory others could write (issue 13, item 1) ---------------------------


def _planted_job(state_dir: Path, work: Path, job_id: int = 1) -> Path:
    """A job file as another user could plant it: its command leaves a trace."""
    spec = JobSpec(
        id=job_id, name="planted", argv=("touch", str(work / "pwned")), n_tasks=1,
        task_offset=0, cpus=1, memory=None, walltime=None, log_dir=str(work / "logs"),
        workdir=str(work), dependencies=(), max_parallel=None, setup=(), submit_time=0.0,
    )  # fmt: skip
    path = state_dir / "jobs" / f"{job_id}.json"
    path.write_text(json.dumps(spec.to_json()))
    return path


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        (lambda root: root.chmod(0o777), "others may write it"),
        (lambda root: (root / "jobs").chmod(0o770), "others may write it"),
        (lambda root: os.chown(root, 65534, 65534), "owned by uid 65534"),
    ],
    ids=["world-writable", "group-writable-jobs-folder", "another-user"],
)
def test_a_state_dir_others_could_write_is_refused(
    spoil: Callable[[Path], None], message: str, work: Path, state_dir: Path
) -> None:
    (state_dir / "jobs").mkdir(parents=True, mode=0o700)
    state_dir.chmod(0o700)
    _planted_job(state_dir, work)
    spoil(state_dir)
    sched = LocalScheduler(state_dir=state_dir, cpus=1)
    with pytest.raises(SchedulerError, match=message) as info:
        sched.submit(request(work, ["true"]))
    text = str(info.value)
    assert str(state_dir) in text and "HPCFLOW_LOCAL_DIR" in text and "state_dir=" in text
    with pytest.raises(SchedulerError, match=message):
        sched.states(["1"])  # which would start a runner
    with pytest.raises(SchedulerError, match=message):
        sched.cancel(["1"])
    assert sorted(p.name for p in (state_dir / "jobs").iterdir()) == ["1.json"]
    assert not (state_dir / "runner.lock").exists()  # no runner was started
    # A runner started by hand refuses the folder too, before reading any job.
    runner = [sys.executable, "-m", "hpcflow.schedulers.local._runner", str(state_dir)]
    done = subprocess.run(runner, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2
    assert message in done.stderr and str(state_dir) in done.stderr
    assert not (work / "pwned").exists()


@pytest.mark.parametrize(
    "spoil",
    [
        lambda job: os.chown(job, 65534, 65534),
        lambda job: job.chmod(0o666),
        lambda job: (
            job.rename(job.with_suffix(".real")),
            job.symlink_to(job.with_suffix(".real")),
        ),
    ],
    ids=["another-user", "world-writable", "symlink"],
)
def test_a_job_file_not_yours_is_not_run(
    spoil: Callable[[Path], Any], make: Callable[..., LocalScheduler], work: Path, state_dir: Path
) -> None:
    (state_dir / "jobs").mkdir(parents=True, mode=0o700)
    state_dir.chmod(0o700)
    spoil(_planted_job(state_dir, work))
    sched = make(cpus=1)
    good = sched.submit(request(work, ["true"]))
    got = wait_finished(sched, ["1", good])
    [planted] = got["1"]
    assert planted.state is TaskState.FAILED
    assert "untrusted job file" in (planted.reason or "")
    assert got[good] == [TaskStatus(TaskState.COMPLETED, "0:0", None)]
    assert not (work / "pwned").exists()  # job 1 is finished: its command never ran


def test_job_files_are_private_and_keep_no_secrets(
    make: Callable[..., LocalScheduler],
    work: Path,
    state_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HPCFLOW_TEST_SECRET", "hunter2-secret")
    monkeypatch.setenv("MY_API_TOKEN", "tok-123-secret")
    monkeypatch.setenv("MY_SETTING", "passed-on")
    monkeypatch.setenv("LC_HPCFLOW_TEST", "locale-kept")
    sched = make(cpus=1, export=["MY_SETTING"])
    dump = "import json, os; open('env.json', 'w').write(json.dumps(dict(os.environ)))"
    job = sched.submit(request(work, py(dump)))
    assert [s.state for s in wait_finished(sched, [job])[job]] == [TaskState.COMPLETED]
    job_file = state_dir / "jobs" / f"{job}.json"
    assert stat.S_IMODE(job_file.stat().st_mode) == 0o600
    for folder in (state_dir, *(state_dir / d for d in ("jobs", "tasks", "cancel", "finished"))):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    for name in ("counter", "runner.lock", "runner.log", "capacity.json", f"tasks/{job}/0.json"):
        assert stat.S_IMODE((state_dir / name).stat().st_mode) == 0o600, name
    text = job_file.read_text()
    assert "secret" not in text
    env = json.loads((work / "env.json").read_text())
    assert not {"HPCFLOW_TEST_SECRET", "MY_API_TOKEN"} & set(env)
    assert env["MY_SETTING"] == "passed-on" and env["LC_HPCFLOW_TEST"] == "locale-kept"
    # what a worker needs to import hpcflow and the user's modules is kept
    for name in ("PATH", "HOME", "PYTHONPATH"):
        if name in os.environ:
            assert env[name] == os.environ[name], name
    assert env["HPCFLOW_JOB_ID"] == job
    with pytest.raises(InputError, match="export"):
        LocalScheduler(state_dir=state_dir, export="MY_SETTING")
