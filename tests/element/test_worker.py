"""The job side: an interrupted task stores what it computed and never counts as done."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest

from hpcflow import Pipeline, Run, func
from hpcflow.element.worker import INTERRUPTED_EXIT, REPLACED_EXIT

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@func("y", mapspec="x[i] -> y[i]")
def slow_touch(x: int, trace: str) -> int:
    """Leaves a file per computed element (so the test sees progress), then sleeps."""
    Path(trace, f"{x}-{os.getpid()}").touch()
    time.sleep(0.3)
    return x * 10


def _wait_for(predicate, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_sigterm_stores_finished_elements_and_a_rerun_computes_only_the_rest(
    tmp_path: Path,
) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    folder = tmp_path / "run"
    run = Pipeline([slow_touch]).submit(
        {"x": list(range(10)), "trace": str(trace)}, folder, scheduler="local",
        state_dir=str(tmp_path / "queue"), chunksizes=10,
    )  # fmt: skip
    assert isinstance(run, Run)
    _wait_for(lambda: len(list(trace.iterdir())) >= 3)
    task_file = next((tmp_path / "queue" / "tasks").glob("*/0.json"))
    pid = json.loads(task_file.read_text())["pid"]
    os.kill(pid, signal.SIGTERM)  # what SLURM sends on preemption or scancel
    _wait_for(lambda: run.status().finished)
    status = run.status()
    first = {int(p.name.split("-")[0]) for p in trace.iterdir()}
    y = status.outputs["y"]
    # everything computed before the signal is stored; nothing else claims to be done
    # (the element in flight when the signal came is not done)
    assert 2 <= len(first) - 1 <= y.done <= len(first) < 10
    assert not list((folder / "markers").rglob("*.json"))  # the chunk is not finished
    state = json.loads(task_file.read_text())
    assert state["state"] == "FAILED"
    assert state["exit_code"] == f"{INTERRUPTED_EXIT}:0"
    log = next((folder / "logs" / "y").glob("*.log")).read_text()
    assert "interrupted (received SIGTERM)" in log

    # the task again (as a requeue would run it): only the missing elements are computed
    again = subprocess.run(
        [sys.executable, "-m", "hpcflow.worker", str(folder), "y", "0"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    assert f"computed {10 - y.done} element" in again.stdout
    assert run.load_outputs("y").tolist() == [x * 10 for x in range(10)]
    computed_twice = len(list(trace.iterdir())) - 10
    assert computed_twice <= len(first) - y.done  # only the element in flight, if any
    assert list((folder / "markers").rglob("*.json"))


@func("doubled", mapspec="a[i] -> doubled[i]")
def double_a(a: int) -> int:
    return 2 * a


@func("summed")
def sum_b(b: list[int]) -> int:
    return sum(b)


def test_a_task_unpickles_only_the_inputs_its_func_reads(tmp_path: Path) -> None:
    from hpcflow.element.worker import run_task
    from hpcflow.testing import FakeScheduler

    folder = tmp_path / "run"
    Pipeline([double_a, sum_b]).submit(
        {"a": [1, 2, 3], "b": [4, 5]}, folder, scheduler=FakeScheduler(), chunksizes=3
    )
    # b is not read by "doubled"'s task: a task that loaded every input would fail here
    (folder / "inputs" / "b.cloudpickle").write_bytes(b"not a pickle")
    assert run_task(str(folder), "doubled", 0, job_id="77", attempt=2) == 3
    assert Run.open(folder).load_outputs("doubled").tolist() == [2, 4, 6]
    (marker,) = (folder / "markers" / "doubled").glob("*.json")
    recorded = json.loads(marker.read_text())
    assert (recorded["job"], recorded["attempt"]) == ("77", 2)


JOB_SIDE_NEVER_IMPORTS = (
    "hpcflow.submission",
    "hpcflow.element.local",
    "hpcflow.schedulers.local._queue",  # the local runner's machinery
    "psutil",
    "asyncio",
    "rich",
    "zarr",
    "multiprocessing.managers",
    "concurrent.futures.process",
    # building-time spec helpers: a compute node unpickles a pipeline, it never builds one
    "hpcflow.spec.typecheck",
    "hpcflow.spec.nested",
    "hpcflow.spec.pipeline_func",
    "hpcflow.report",
)


def test_the_job_side_imports_neither_submission_nor_the_engine(tmp_path: Path) -> None:
    from hpcflow.testing import FakeScheduler

    folder = tmp_path / "run"
    Pipeline([double_a]).submit({"a": [1, 2]}, folder, scheduler=FakeScheduler())
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['hpcflow.worker', {str(folder)!r}, 'doubled', '0']\n"
        "try:\n    runpy.run_module('hpcflow.worker', run_name='__main__')\n"
        "except SystemExit as e:\n    assert e.code == 0, e.code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    loaded = [
        m for m in out if any(m == p or m.startswith(p + ".") for p in JOB_SIDE_NEVER_IMPORTS)
    ]
    assert loaded == []
    assert "hpcflow.element.execute" in out  # it did compute, through the element path
    assert Run.open(folder).load_outputs("doubled").tolist()[0] == 2


@func("y", mapspec="x[i] -> y[i]")
def gated(x: int, trace: str) -> int:
    """Element 1 waits (bounded) for ``trace/open`` after saying it started."""
    Path(trace, f"started-{x}").touch()
    if x == 1:
        deadline = time.monotonic() + 120
        while not Path(trace, "open").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    return x * 10


@pytest.mark.parametrize(("storage", "stored"), [("file_array", 1), ("chunked_file_array", 0)])
def test_a_task_writes_nothing_into_a_folder_that_now_holds_another_run(
    tmp_path: Path, storage: str, stored: int
) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    folder = tmp_path / "run"
    run = Pipeline([gated]).submit(
        {"x": list(range(3)), "trace": str(trace)}, folder, scheduler="local",
        state_dir=str(tmp_path / "queue"), chunksizes=3, storage=storage,
    )  # fmt: skip
    assert isinstance(run, Run)
    assert json.loads((folder / "run.json").read_text())["run_id"] == run.run_id
    _wait_for((trace / "started-1").exists, timeout=120)
    # another run takes the folder while element 1 is being computed
    meta = json.loads((folder / "run.json").read_text())
    (folder / "run.json").write_text(json.dumps({**meta, "run_id": "another"}))
    (trace / "open").touch()
    _wait_for(lambda: run.status().finished, timeout=120)
    # element 0 was stored before (file_array stores element by element); nothing after
    assert run.status().outputs["y"].done == stored
    assert not list((folder / "markers").rglob("*.json"))
    task_file = next((tmp_path / "queue" / "tasks").glob("*/0.json"))
    assert json.loads(task_file.read_text())["exit_code"] == f"{REPLACED_EXIT}:0"
    log = next((folder / "logs" / "y").glob("*.log")).read_text()
    assert (
        f"run folder {folder} now holds run another; this task belongs to run {run.run_id}; "
        "nothing written"
    ) in log
