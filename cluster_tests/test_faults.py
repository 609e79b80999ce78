"""Fault injection on the live mini SLURM cluster: every run ends with the right result.

Seven faults, each injected into a real run: a worker killed with SIGKILL mid-chunk,
``scancel`` of running tasks, preemption by the ``urgent`` partition, a task over its
memory, a task over its wall time, a compute node's slurmd (and everything it ran)
killed and restarted, and an application error in 1% of the elements. Each run is
completed by the scheduler's requeue, hpcflow's follow-up job (`hpcflow.Retry`) or one
``resume`` call, and its outputs must equal a local ``map`` of the same pipeline.

Every computation of an element leaves one file in ``trace`` (named by the element, the
worker's pid and a timestamp), so each test reports how many elements were computed more
than once; pytest prints the figures at the end of the session and docs/reliability.md
records them.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest
from minislurm_client import MiniSlurm

from hpcflow import Pipeline, Retry, Run, func
from hpcflow.runfolder.records import read_submissions

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 300
MB = 2**20


@func("z", mapspec="y[i] -> z[i]")
def plus(y: int) -> int:
    return y + 1


@func("total")
def total(z: Any) -> int:
    return int(np.sum(z))


def _trace(trace: str, x: int) -> None:
    Path(trace, f"{x}-{os.getpid()}-{time.monotonic_ns()}").touch()


@func("y", mapspec="x[i] -> y[i]")
def square(x: int, trace: str, pause: float, flawed: bool = False) -> int:
    _trace(trace, x)
    time.sleep(pause)
    if flawed and x % 100 == 7 and not Path(trace, "..", "fixed").exists():
        raise ValueError(f"element {x} fails until the function is fixed")
    return x * x


@func("y", mapspec="x[i] -> y[i]")
def held_square(x: int, trace: str, pause: float, hold: str, every: int, at: int) -> int:
    """`square`; elements with ``x % every == at`` first wait (at most 5 min) while the
    file ``hold`` exists, so that a fault can be injected while they are in flight."""
    _trace(trace, x)
    deadline = time.monotonic() + 300
    while x % every == at and Path(hold).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(pause)
    return x * x


def _reference(funcs: list[Any], x: list[int], tmp_path: Path, **extra: Any) -> dict[str, Any]:
    (tmp_path / "ref-trace").mkdir()
    (tmp_path / "fixed").touch()  # the reference is the fixed function's result
    inputs = {"x": x, "trace": str(tmp_path / "ref-trace"), **extra}
    res = Pipeline(funcs).map(inputs, parallel=False)
    (tmp_path / "fixed").unlink()
    return {"z": res["z"].output.tolist(), "total": res["total"].output}


@pytest.fixture
def runs(slurm_cluster: MiniSlurm) -> Iterator[list[Run]]:
    made: list[Run] = []
    yield made
    for run in made:
        run.cancel()


class Scenario:
    """One faulty run: submit, then check the result and report what ran twice."""

    def __init__(self, name: str, tmp_path: Path, runs: list[Run], report: list[str]) -> None:
        self.name = name
        self.tmp_path = tmp_path
        self.trace = tmp_path / "trace"
        self.trace.mkdir()
        self.runs = runs
        self.report = report

    def submit(self, funcs: list[Any], x: list[int], extra: dict[str, Any], **kw: Any) -> Run:
        self.funcs, self.x, self.extra = funcs, x, extra
        inputs = {"x": x, "trace": str(self.trace), **extra}
        run = Pipeline(funcs).submit(inputs, self.tmp_path / "run", scheduler="slurm", **kw)
        assert isinstance(run, Run)
        self.runs.append(run)
        self.run = run
        return run

    def traced(self) -> list[tuple[int, int]]:
        """(element, worker pid) of each computation so far."""
        out = []
        for p in self.trace.iterdir():
            x, pid, _ = p.name.split("-")
            out.append((int(x), int(pid)))
        return out

    def finish(self, how: str) -> Counter[int]:
        status = self.run.wait(timeout=WAIT)
        assert status.complete, status
        ref = _reference(self.funcs, self.x, self.tmp_path, **self.extra)
        assert self.run.load_outputs("z").tolist() == ref["z"]
        assert self.run.load_outputs("total") == ref["total"]
        counts = Counter(x for x, _ in self.traced())
        assert set(counts) == set(self.x)  # every element computed at least once
        twice = {x: n for x, n in counts.items() if n > 1}
        n_subs = len(read_submissions(self.run.folder))
        self.report.append(
            f"{self.name}: {len(self.x)} elements, {sum(counts.values())} computations, "
            f"{len(twice)} elements computed more than once ({sum(twice.values()) - len(twice)} "
            f"extra computations); completed by {how}; {n_subs} submissions"
        )
        return counts


def _wait_for(what: str, condition: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.2)
    return value


def _squeue(*fmt: str) -> list[list[str]]:
    out = subprocess.run(
        ["squeue", "-h", "--array", "-o", "|".join(fmt)], capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    return [line.split("|") for line in out.stdout.splitlines() if line.strip()]


def _y_tasks(run: Run, state: str = "RUNNING") -> list[list[str]]:
    """(task id, node) of the run's y tasks in ``state``."""
    return [
        [t, node]
        for t, name, st, node in _squeue("%i", "%j", "%T", "%N")
        if name == f"hpcflow-{run.run_id}-y" and st == state
    ]


# ---------------------------------------------------------------------------- scenarios


def test_worker_killed_mid_chunk(tmp_path: Path, runs: list[Run], fault_report: list[str]) -> None:
    s = Scenario("kill -9 of a worker mid-chunk", tmp_path, runs, fault_report)
    f = square.replace(retry=Retry(1))
    s.submit([f, plus, total], list(range(60)), {"pause": 0.3}, chunksizes=10)

    def mid_chunk() -> int | None:
        # a worker that has finished three or more elements of its chunk, not all
        per_pid = Counter(pid for _, pid in s.traced())
        return next((pid for pid, n in per_pid.items() if 3 <= n < 9), None)

    victim = _wait_for("a worker in the middle of its chunk", mid_chunk)
    os.kill(victim, signal.SIGKILL)
    counts = s.finish("the follow-up job's retry (retry=1)")
    killed = [x for x, pid in s.traced() if pid == victim]
    # the killed chunk's finished elements were not yet stored: they are the repeats
    assert {x for x, n in counts.items() if n > 1} <= set(killed)


def test_scancel_of_running_tasks(tmp_path: Path, runs: list[Run], fault_report: list[str]) -> None:
    s = Scenario("scancel of running array tasks", tmp_path, runs, fault_report)
    # Each task of 10 elements computes three, then holds its fourth until the scancel
    # (a fixed sleep could let a loaded machine finish the tasks first).
    hold = tmp_path / "hold"
    hold.touch()
    extra = {"pause": 0.3, "hold": str(hold), "every": 10, "at": 3}
    run = s.submit([held_square, plus, total], list(range(60)), extra, chunksizes=10)
    # z runs in y's tasks (fused): a kill mid-chunk must leave both resumable
    assert [st.fused_into for st in read_submissions(run.folder)[0].stages] == [None, "y", None]

    def two_held() -> list[int]:
        held = [x for x, _ in s.traced() if x % 10 == 3]
        return held[:2] if len(held) >= 2 else []

    try:
        held = _wait_for("two tasks holding an element", two_held)
        job = _y_tasks(run)[0][0].split("_")[0]
        subprocess.run(["scancel", *[f"{job}_{x // 10}" for x in held]], check=True)
    finally:
        hold.unlink()
    status = run.wait(timeout=WAIT)
    assert not status.complete
    assert status.failed_tasks["CANCELLED"] == 2, status
    assert run.resume() > 0
    counts = s.finish("one resume call")
    # SIGTERM lets a worker store what it finished: only the element in flight repeats
    assert sum(n - 1 for n in counts.values()) <= 2


def test_preemption_by_the_urgent_partition(
    tmp_path: Path, runs: list[Run], fault_report: list[str]
) -> None:
    s = Scenario("preemption by the urgent partition", tmp_path, runs, fault_report)
    # Six tasks of 3 elements fill the six CPUs, each held in its first element until
    # the urgent job runs: SLURM can take 15 s or more to preempt (seen), and tasks that
    # ended meanwhile left it free CPUs instead (seen in CI). A task preempted near its
    # end may finish within GraceTime: Slurm 22.05 then records it TIMEOUT, does not
    # requeue it, and cancels its aftercorr dependents although its elements are
    # stored (seen). retry=1 lets the follow-up job resubmit those.
    hold = tmp_path / "hold"
    hold.touch()
    run = s.submit([held_square, plus, total], list(range(18)),
                   {"pause": 0.5, "hold": str(hold), "every": 3, "at": 0}, chunksizes=3,
                   partition="debug", retry=1)  # fmt: skip
    _wait_for("six running tasks", lambda: len(_y_tasks(run)) == 6)
    _wait_for("six held elements", lambda: len(s.traced()) == 6)
    urgent = subprocess.run(
        ["sbatch", "--parsable", "--partition=urgent", "--nodes=1", "--ntasks=2",
         f"--output={tmp_path}/urgent.log", "--wrap=sleep 2"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip

    def urgent_started() -> bool:
        out = subprocess.run(
            ["squeue", "-h", "-j", urgent, "-o", "%T"], capture_output=True, text=True,
            check=False,
        ).stdout.strip()  # fmt: skip
        return out not in ("PENDING", "CONFIGURING")  # running, or already gone

    try:
        # every CPU is held: the urgent job can only start by preempting two tasks
        _wait_for("the urgent job to preempt", urgent_started, timeout=180)
        hold.unlink()
        counts = s.finish("SLURM's requeue (and the follow-up job, see the test)")
    finally:
        hold.unlink(missing_ok=True)
        subprocess.run(["scancel", urgent], check=False)
    attempts = [
        int(p.read_text().split('"attempt": ')[1].split(",")[0])
        for p in (run.path / "markers").rglob("*.json")
    ]
    requeued = max(attempts) >= 1  # SLURM_RESTART_COUNT of a requeued task was recorded
    resubmitted = any(st.outputs for st in read_submissions(run.folder)[1].stages)
    assert requeued or resubmitted
    # two preempted tasks: each repeats at most the element it was computing
    assert sum(n - 1 for n in counts.values()) <= 2


@func(
    "y", mapspec="x[i] -> y[i]", resources={"memory": "200M"},
    retry=Retry(1, memory_factor=3),
)  # fmt: skip
def hungry(x: int, trace: str) -> int:
    _trace(trace, x)
    if x == 4:
        block = bytearray(350 * MB)  # over 200 MB; under the 600 MB of the retry
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(3)
    return x * x


def test_memory_overuse_recovered_by_escalation(
    tmp_path: Path, runs: list[Run], fault_report: list[str]
) -> None:
    s = Scenario("memory overuse, memory escalation", tmp_path, runs, fault_report)
    run = s.submit([hungry, plus, total], list(range(12)), {}, chunksizes=2)
    counts = s.finish("the follow-up job's retry with 3x memory")
    y1 = read_submissions(run.folder)[1].stages[0]
    assert (y1.name, y1.resources["memory"], y1.size) == ("y@1", 600 * MB, 2)
    # element 4 was killed first in its chunk (4, 5): only it ran twice
    assert {x: n for x, n in counts.items() if n > 1} == {4: 2}


@func(
    "y", mapspec="x[i] -> y[i]", resources={"walltime": "1:00"},
    retry=Retry(1, walltime_factor=2),
)  # fmt: skip
def slow(x: int, trace: str) -> int:
    _trace(trace, x)
    if x == 1 and "SLURM_JOB_ID" in os.environ:  # (not in the local reference run)
        # SLURM's time limits are whole minutes, so this element stands for work that
        # needs more than one: it waits out a 1-minute limit (and is killed) and is
        # quick under the 2 minutes of the retry.
        limit = subprocess.run(
            ["squeue", "-h", "-j", os.environ["SLURM_JOB_ID"], "-o", "%l"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        if limit == "1:00":
            time.sleep(600)
    return x * x


def test_walltime_overrun_recovered_by_escalation(
    tmp_path: Path, runs: list[Run], fault_report: list[str]
) -> None:
    s = Scenario("walltime overrun, walltime escalation", tmp_path, runs, fault_report)
    # no task margin: the first attempt's limit is exactly the element's minute
    run = s.submit([slow, plus, total], list(range(4)), {}, chunksizes=1, task_margin=0)
    counts = s.finish("the follow-up job's retry with 2x walltime")
    y1 = read_submissions(run.folder)[1].stages[0]
    assert (y1.name, y1.resources["walltime"]) == ("y@1", 120)
    assert {x for x, n in counts.items() if n > 1} == {1}


@pytest.mark.timeout(600)  # SLURM may take SlurmdTimeout (60 s) to give up on the node
def test_node_killed_and_restarted(
    tmp_path: Path, runs: list[Run], fault_report: list[str], slurm_cluster: MiniSlurm
) -> None:
    s = Scenario("slurmd of a node killed mid-run, restarted", tmp_path, runs, fault_report)
    f = square.replace(retry=Retry(2))
    run = s.submit([f, plus, total], list(range(36)), {"pause": 1.0}, chunksizes=3)
    on_n1 = _wait_for("a task running on n1", lambda: [t for t, n in _y_tasks(run) if n == "n1"])
    time.sleep(1.5)
    _kill_node("n1", slurm_cluster)
    try:
        counts = s.finish("SLURM's requeue and the follow-up job's retry (retry=2)")
    finally:
        _wait_for(
            "n1 to take jobs again", lambda: _node_state("n1") in {"idle", "mixed", "allocated"}
        )
    assert on_n1
    # what the killed tasks had finished was not stored (SIGKILL): at most a chunk each
    assert sum(n - 1 for n in counts.values()) <= 3 * len(on_n1) * 2


def _node_state(node: str) -> str:
    out = subprocess.run(
        ["sinfo", "-h", "-n", node, "-o", "%T"], capture_output=True, text=True, check=False
    )
    return out.stdout.strip().rstrip("*~#")


def _node_lost(node: str) -> bool:
    out = subprocess.run(
        ["sinfo", "-h", "-n", node, "-o", "%T"], capture_output=True, text=True, check=False
    )
    state = out.stdout.strip()
    return state.endswith("*") or state.startswith("down")


def _kill_node(node: str, cluster: MiniSlurm) -> None:
    """SIGKILL the node's slurmd, its step daemons and its jobs, then start slurmd again."""
    pidfile = cluster.state_dir / "run" / f"slurmd-{node}.pid"
    victims = [int(pidfile.read_text())]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        if f"SLURMD_NODENAME={node}".encode() in env:
            victims.append(int(proc.name))
            victims.append(int(stat.rsplit(")", 1)[1].split()[1]))  # its slurmstepd
    for pid in set(victims):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    # slurmd comes back only once SLURM has given up on the node (SlurmdTimeout=60 s):
    # restarted at once, it registered without the killed jobs, and slurmctld went on
    # reporting them RUNNING (seen), so nothing was requeued.
    _wait_for(f"SLURM to declare {node} not responding", lambda: _node_lost(node), 240)
    marker = f"HPCFLOW_MINISLURM_INSTANCE={cluster.state_dir}"
    subprocess.run(["env", marker, "slurmd", "-N", node], check=True, timeout=30)


def test_one_percent_application_errors_then_retry_failed(
    tmp_path: Path, runs: list[Run], fault_report: list[str]
) -> None:
    s = Scenario("1% application errors, resume --retry-failed", tmp_path, runs, fault_report)
    run = s.submit(
        [square, plus, total], list(range(200)), {"pause": 0.0, "flawed": True}, chunksizes=20
    )
    status = run.wait(timeout=WAIT)
    assert status.outputs["y"].failed == 2
    assert status.outputs["total"].failed == 1
    assert sorted(run.failures("y")) == [(7,), (107,)]
    (tmp_path / "fixed").touch()
    assert run.resume(retry_failed=True) > 0
    counts = s.finish("one resume --retry-failed call, after the fix")
    assert {x: n for x, n in counts.items() if n > 1} == {7: 2, 107: 2}
