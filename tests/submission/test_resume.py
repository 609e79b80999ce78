"""Resume of submitted runs (local scheduler): only what is missing runs again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

from hpcflow import Pipeline, Run, func
from hpcflow.errors import ResumeError
from hpcflow.runfolder.lock import LOCK_NAME, RunLockedError, run_lock

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120


@func("y", mapspec="x[i] -> y[i]")
def traced(x: int, trace: str, pause: float) -> int:
    Path(trace, f"{x}-{time.monotonic_ns()}").touch()  # one file per computation
    time.sleep(pause)
    return x + 100


@func("z", mapspec="y[i] -> z[i]")
def twice(y: int) -> int:
    return 2 * y


@func("total")
def add_all(z: Any) -> int:
    return int(sum(z))


def _computed(trace: Path) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in trace.iterdir())


def test_resume_after_cancel_computes_only_what_is_missing(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    p = Pipeline([traced, twice, add_all])
    inputs = {"x": list(range(12)), "trace": str(trace), "pause": 0.25}
    run = p.submit(inputs, tmp_path / "run", scheduler="local",
                   state_dir=str(tmp_path / "queue"), chunksizes=2, cpus=1)  # fmt: skip
    assert isinstance(run, Run)
    deadline = time.monotonic() + WAIT
    while run.status().outputs["y"].done < 4:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    with pytest.raises(ResumeError, match="still has .* queued or running"):
        run.resume()
    run.cancel()
    status = run.wait(timeout=WAIT)
    assert not status.complete
    done_before = status.outputs["y"].done
    assert 4 <= done_before < 12

    again = Run.open(run.path)  # another process would do the same
    assert again.resume() > 0
    status = again.wait(timeout=WAIT)
    assert status.complete, status
    assert again.load_outputs("total") == sum(2 * (x + 100) for x in range(12))
    computed = _computed(trace)
    twice_computed = len(computed) - 12
    # only elements in flight at the cancel can have been computed twice (one task: cpus=1
    # and two elements per task)
    assert 0 <= twice_computed <= 2
    subs = sorted(p.name for p in (run.path / "stages").glob("*.json"))
    assert subs == ["0.json", "1.json"]
    resumed = json.loads((run.path / "stages" / "1.json").read_text())["stages"]
    assert {s["name"] for s in resumed} == {"y@1", "z@1", "total@1"}
    assert resumed[0]["size"] == 12 - done_before
    assert "total" in str(status) and again.resume() == 0  # complete: nothing to do


def test_lock_refuses_a_second_holder_and_takes_over_a_dead_ones(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with (
        run_lock(folder, "submit"),
        pytest.raises(RunLockedError, match="locked by a submit"),
        run_lock(folder, "resume"),
    ):
        pass
    assert not (folder / LOCK_NAME).exists()
    # a lock left by a process that has died is stale: taken over without a fuss
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    holder = {"host": os.uname().nodename, "pid": int(dead.stdout), "purpose": "resume",
              "time": time.time()}  # fmt: skip
    (folder / LOCK_NAME).write_text(json.dumps(holder))
    with run_lock(folder, "submit"):
        assert json.loads((folder / LOCK_NAME).read_text())["pid"] == os.getpid()
    # one from another host cannot be checked: refused, with the way out
    (folder / LOCK_NAME).write_text(json.dumps({**holder, "host": "elsewhere"}))
    with pytest.raises(RunLockedError, match="hpcflow unlock"), run_lock(folder, "submit"):
        pass
    out = subprocess.run([sys.executable, "-m", "hpcflow.cli", "unlock", str(folder)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert "elsewhere" in out.stdout and not (folder / LOCK_NAME).exists()


def test_submit_into_a_locked_folder_names_the_holder(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    with run_lock(folder, "resume"), pytest.raises(RunLockedError, match="resume in process"):
        Pipeline([twice]).submit({"y": np.arange(3)}, folder, scheduler="local",
                                 state_dir=str(tmp_path / "queue"))  # fmt: skip
    assert not (folder / "run.json").exists()


@func("y", mapspec="x[i] -> y[i]", resources={"memory": "150MB"})
def hungry(x: int) -> int:
    if x == 1:
        block = bytearray(600 * 2**20)  # over the 150 MB asked for
        time.sleep(5)
        return len(block)
    return x


def test_memory_kill_is_reported_as_out_of_memory_and_resume_needs_more(tmp_path: Path) -> None:
    run = Pipeline([hungry, twice]).submit(
        {"x": [0, 1, 2]}, tmp_path / "run", scheduler="local",
        state_dir=str(tmp_path / "queue"), chunksizes=1,
    )  # fmt: skip
    assert isinstance(run, Run)
    status = run.wait(timeout=WAIT)
    assert status.failed_tasks["OUT_OF_MEMORY"] == 1
    assert status.failed_tasks["CANCELLED (upstream failed)"] == 1  # z[1] never runs
    assert status.outputs["y"].lost["OUT_OF_MEMORY"] == 1
    assert status.outputs["y"].done == 2 and status.outputs["z"].done == 2
    assert "OUT_OF_MEMORY: 1" in str(status)
    # the lost task is named, with its log and the memory in human units; the task
    # cancelled for its failed upstream is not a loss of its own
    (lost,) = status.lost_tasks
    assert lost.state == "OUT_OF_MEMORY" and lost.label.endswith("(stage 'y')")
    assert re.search(r"memory use \d+ MiB exceeded the request of 150 MiB", lost.detail)
    assert lost.log is not None and lost.log.is_file()
    assert f"{lost.label}: OUT_OF_MEMORY: memory use" in str(status)
    assert f"log: {lost.log}" in str(status)
