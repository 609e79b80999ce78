"""``submit`` on the live mini SLURM cluster: real sbatch, arrays, dependencies, workers.

Results are compared with a local ``map`` of the same pipeline. The functions live in
this module and are pickled by value, so the workers (on the "compute nodes", which
share this host's filesystem) need not import the test module.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest
from minislurm_client import MiniSlurm

import hpcflow
from hpcflow import Pipeline, Run, func

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 240  # seconds; a healthy mini cluster finishes each test in well under a minute


@pytest.fixture
def runs(slurm_cluster: MiniSlurm) -> Iterator[list[Run]]:
    """Runs made by a test; whatever they left queued is cancelled at the end."""
    made: list[Run] = []
    yield made
    for run in made:
        run.cancel()


def _submit(runs: list[Run], p: Pipeline, inputs: dict[str, Any], folder: Path, **kw: Any) -> Run:
    run = p.submit(inputs, folder, scheduler="slurm", **kw)
    assert isinstance(run, Run)
    runs.append(run)
    return run


def _squeue(run: Run) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i %j %T", "-n", ",".join(_job_names(run))],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.split("\n") if out.stdout.strip() else []


def _job_names(run: Run) -> list[str]:
    from hpcflow.runfolder.records import read_submissions

    names = []
    for sub in read_submissions(run.folder):
        for s in sub.stages:
            suffix = len(s.arrays) > 1
            for a in s.arrays:
                names.append(
                    f"hpcflow-{run.run_id}-{s.name.lstrip(':')}" + (f"-{a.index}" if suffix else "")
                )
    return names


def test_three_stages_submitted_by_a_process_that_exited(tmp_path: Path, runs: list[Run]) -> None:
    folder = tmp_path / "sweep"
    script = textwrap.dedent(f"""
        import time, hpcflow
        @hpcflow.func("y", mapspec="x[i] -> y[i]")
        def stamp(x):
            return (time.time(), x * x)
        @hpcflow.func("z", mapspec="y[i] -> z[i]")
        def plus(y):
            return y[1] + 1
        @hpcflow.func("total")
        def total(z):
            return int(sum(z))
        run = hpcflow.Pipeline([stamp, plus, total]).submit(
            {{"x": list(range(40))}}, {str(folder)!r}, scheduler="slurm", chunksizes=4,
            extra_sbatch={{"begin": "now+3"}}, fuse=False)
        print(run.run_id, len(run.job_ids()), dict(run.scheduler.calls), time.time())
    """)
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
    run_id, n_jobs, *_ = child.stdout.split()
    exited_at = float(child.stdout.split()[-1])
    run = Run.open(folder)
    runs.append(run)
    assert run.run_id == run_id
    assert int(n_jobs) == 3
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    y = run.load_outputs("y")
    assert min(v[0] for v in y) > exited_at  # every element ran after the submitter exited
    assert run.load_outputs("total") == sum(x * x + 1 for x in range(40))
    assert _squeue(run) == []


def _memory_by_parity(x: int) -> dict[str, str]:
    return {"memory": "300MB" if x % 2 else "200MB"}


@func("o", mapspec="x[i], w[k] -> o[i, k]", resources=_memory_by_parity)
def outer(x: int, w: int) -> int:
    return x * w


@func("r", mapspec="o[:, k] -> r[k]")
def column_sum(o: Any) -> int:
    return int(sum(o))


def test_outer_product_with_per_element_resources_and_partial_reduction(
    tmp_path: Path, runs: list[Run]
) -> None:
    p = Pipeline([outer, column_sum])
    inputs = {"x": list(range(7)), "w": [1, 10, 100]}
    run = _submit(runs, p, inputs, tmp_path / "outer", chunksizes=3)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    expected = p.map(inputs, parallel=False)
    np.testing.assert_array_equal(run.load_outputs("o"), expected["o"].output)
    np.testing.assert_array_equal(run.load_outputs("r"), expected["r"].output)

    # two resource sets -> two arrays for 'o', with the memory SLURM was asked for
    def requested() -> set[str]:
        # wait() returns once the values are stored; accounting may lag a few seconds
        mem = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", "JobName,ReqMem", "-j", ",".join(run.job_ids())],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        return {line.split("|")[1] for line in mem.split() if "-o." in line}

    deadline = time.monotonic() + 60
    while requested() != {"200M", "300M"} and time.monotonic() < deadline:
        time.sleep(1)
    assert requested() == {"200M", "300M"}


@func("n", mapspec="x[i] -> n[i, j]")
def generate(x: int) -> list[int]:
    return list(range(x, x + 3))


@func("t", mapspec="n[i, :] -> t[i]")
def row_sum(n: Any) -> int:
    return int(sum(n))


def test_unknown_internal_shape_in_a_folder_with_spaces_and_quotes(
    tmp_path: Path, runs: list[Run]
) -> None:
    folder = tmp_path / 'it\'s a "quoted" run'
    p = Pipeline([generate, row_sum])
    run = _submit(runs, p, {"x": list(range(5))}, folder)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    assert run.load_outputs("t").tolist() == [3 * x + 3 for x in range(5)]
    assert (folder / "stages" / "1.json").exists()  # planned by the follow-up job


@func("y", mapspec="x[i] -> y[i]")
def triple(x: int) -> int:
    return 3 * x


@func("z", mapspec="y[i] -> z[i]")
def minus(y: int) -> int:
    return y - 1


def test_stage_split_at_max_array_size_keeps_per_task_dependencies(
    tmp_path: Path, runs: list[Run]
) -> None:
    p = Pipeline([triple, minus])
    run = _submit(runs, p, {"x": list(range(103))}, tmp_path / "split", chunksizes=1, fuse=False)
    # MaxArraySize=101 on the mini cluster: 103 tasks per stage -> arrays of 101 and 2
    assert len(run.job_ids()) == 4
    assert run.scheduler.calls["sbatch"] == 4
    assert sum(run.scheduler.calls.values()) <= 5  # plus one scontrol for the limit
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    assert run.load_outputs("z").tolist() == [3 * x - 1 for x in range(103)]


def test_cancel_leaves_nothing_queued(tmp_path: Path, runs: list[Run]) -> None:
    @func("y", mapspec="x[i] -> y[i]")
    def sleepy(x: int) -> int:
        time.sleep(60)
        return x

    run = _submit(runs, Pipeline([sleepy, minus]), {"x": list(range(12))}, tmp_path / "cancel")
    deadline = time.monotonic() + 60
    while not _squeue(run) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _squeue(run)
    run.cancel()
    deadline = time.monotonic() + 60
    while _squeue(run) and time.monotonic() < deadline:
        time.sleep(1)
    assert _squeue(run) == []
    status = run.status()
    assert status.finished
    assert status.outputs["y"].done == 0
    assert isinstance(hpcflow.Run.open(tmp_path / "cancel").status(), hpcflow.RunStatus)


@func("y", mapspec="x[i] -> y[i]", resources={"memory": "300MB"})
def hungry(x: int) -> int:
    if x == 1:
        block = bytearray(900 * 2**20)  # over the 300 MB asked for
        for i in range(0, len(block), 4096):  # touch every page so RSS really grows
            block[i] = 1
        time.sleep(5)
        return len(block)
    return x


def test_memory_kill_is_classified_from_sacct_and_the_log(tmp_path: Path, runs: list[Run]) -> None:
    run = _submit(runs, Pipeline([hungry, minus]), {"x": [0, 1, 2]}, tmp_path / "oom", chunksizes=1)
    status = run.wait(timeout=WAIT)
    assert status.finished
    # SLURM without cgroups says FAILED 0:9; the log says "exceeded memory limit"
    assert status.failed_tasks["OUT_OF_MEMORY"] == 1, status
    assert status.outputs["y"].lost["OUT_OF_MEMORY"] == 1
    assert status.outputs["z"].done == 2
    assert _squeue(run) == []  # the task waiting for the killed one did not stay pending
