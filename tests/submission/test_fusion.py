"""Fused stages on the real local scheduler: one array computes a chain of funcs.

Per-func outputs, markers, status, resume and rerun must behave exactly as when every
func has its own array.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from hpcflow import Pipeline, Resources, Run, func
from hpcflow.element.rerun import load_failed_element
from hpcflow.plan.stages import build_plan, fuse_stages
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import read_submissions

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120


@func("y", mapspec="x[i] -> y[i]")
def double(x: int) -> int:
    return 2 * x


@func("z", mapspec="y[i] -> z[i]")
def inc(y: int) -> int:
    if y == 6:
        raise ValueError("z does not like 6")
    return y + 1


@func("total")
def add_all(z: Any) -> int:
    return int(sum(v for v in z if isinstance(v, int | np.integer)))


def _local(tmp_path: Path) -> dict[str, Any]:
    return {"scheduler": "local", "state_dir": str(tmp_path / "queue")}


def _wait_for(predicate: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# ------------------------------------------------------------------ planning


def _plan(*funcs: Any, n: int = 10) -> list[tuple[str, str | None]]:
    p = Pipeline(list(funcs))
    shapes = {f.output_names[0]: ((n,) if f.mapspec else ()) for f in p.funcs}
    plan = build_plan(p, shapes, max_array_size=100, chunksizes=2)
    fuse_stages(plan)
    return [(s.name, s.fused_into) for s in plan.stages]


def test_an_element_aligned_chain_with_equal_resources_fuses() -> None:
    w = func("w", mapspec="z[i] -> w[i]")(lambda z: z)
    assert _plan(double, inc, w, add_all) == [
        ("y", None), ("z", "y"), ("w", "y"), ("total", None),
    ]  # fmt: skip


def test_different_resources_keep_separate_arrays() -> None:
    hungry = inc.replace(resources=Resources(memory="2GB"))
    assert _plan(double, hungry) == [("y", None), ("z", None)]


def test_a_reduction_or_an_outer_product_does_not_fuse() -> None:
    pairs = func("p", mapspec="y[i], x2[j] -> p[i, j]")(lambda y, x2: y * x2)
    row = func("r", mapspec="p[i, :] -> r[i]")(lambda p: p.sum())
    p = Pipeline([double, pairs, row])
    shapes = {"y": (4,), "p": (4, 3), "r": (4,)}
    plan = build_plan(p, shapes, max_array_size=100, chunksizes=2)
    fuse_stages(plan)
    assert [s.fused_into for s in plan.stages] == [None, None, None]


def test_per_element_resource_groups_do_not_fuse() -> None:
    grouped = inc.replace(resources=lambda y: Resources(memory="1GB" if y < 4 else "2GB"))
    p = Pipeline([double, grouped])
    plan = build_plan(
        p, {"y": (10,), "z": (10,)}, max_array_size=100, chunksizes=2,
        element_resources=lambda f, idx: [f.resources(y=2 * int(i)) for i in idx],  # type: ignore[misc,operator]
    )  # fmt: skip
    fuse_stages(plan)
    assert all(s.fused_into is None for s in plan.stages)


# ------------------------------------------------------------------- running


def test_a_fused_run_gives_what_map_gives_with_per_func_records(tmp_path: Path) -> None:
    p = Pipeline([double, inc, add_all])
    inputs = {"x": list(range(8))}
    run = p.submit(inputs, tmp_path / "run", **_local(tmp_path), chunksizes=3)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    expected = p.map(inputs, parallel=False, error_handling="continue")
    assert run.load_outputs("y").tolist() == expected["y"].output.tolist()
    z_values = run.load_outputs("z")
    assert [v for i, v in enumerate(z_values) if i != 3] == [2 * x + 1 for x in range(8) if x != 3]
    (sub,) = read_submissions(RunFolder(run.path))
    y, z, _ = sub.stages
    assert (z.fused_into, [a.job_id for a in z.arrays]) == ("y", [a.job_id for a in y.arrays])
    assert len(run.job_ids()) == 2  # y (with z) and total
    # each func keeps its own markers; status counts each output and each task once
    assert len(list((run.path / "markers" / "y").glob("*.json"))) == 3
    assert len(list((run.path / "markers" / "z").glob("*.json"))) == 3
    assert (status.outputs["y"].done, status.outputs["z"].done, status.outputs["z"].failed) == (
        8, 7, 1,
    )  # fmt: skip
    # rerun finds the failed element of the fused func and its task's log
    element = load_failed_element(run.path, "z", (3,))
    assert "z does not like 6" in element.describe()


def test_fuse_false_gives_every_func_its_own_arrays(tmp_path: Path) -> None:
    p = Pipeline([double, inc])
    run = p.submit({"x": list(range(4))}, tmp_path / "run", **_local(tmp_path), fuse=False)
    assert run.wait(timeout=WAIT).finished
    (sub,) = read_submissions(RunFolder(run.path))
    assert [s.fused_into for s in sub.stages] == [None, None]
    assert len(run.job_ids()) == 2


@func("y", mapspec="x[i] -> y[i]")
def slow_touch(x: int, trace: str) -> int:
    Path(trace, f"y-{x}-{time.monotonic_ns()}").touch()
    time.sleep(0.3)
    return x * 10


@func("z", mapspec="y[i] -> z[i]")
def plus_one(y: int, trace: str) -> int:
    Path(trace, f"z-{y // 10}-{time.monotonic_ns()}").touch()
    return y + 1


def test_a_fused_task_killed_mid_chunk_resumes_only_what_is_missing(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    run = Pipeline([slow_touch, plus_one]).submit(
        {"x": list(range(10)), "trace": str(trace)}, tmp_path / "run",
        **_local(tmp_path), chunksizes=10,
    )  # fmt: skip
    assert isinstance(run, Run)
    _wait_for(lambda: len(list(trace.glob("y-*"))) >= 3)
    task_file = next((tmp_path / "queue" / "tasks").glob("*/0.json"))
    os.kill(json.loads(task_file.read_text())["pid"], signal.SIGTERM)
    _wait_for(lambda: run.status().finished)
    status = run.status()
    done_y = status.outputs["y"].done
    assert 2 <= done_y < 10 and status.outputs["z"].done == 0
    assert status.failed_tasks.total() == 1  # one task, though two funcs ran in it
    # y's missing elements, then all of z: different elements, so no longer fused
    assert run.resume() == 2
    assert run.wait(timeout=WAIT).complete
    assert run.load_outputs("z").tolist() == [x * 10 + 1 for x in range(10)]
    ys = [int(p.name.split("-")[1]) for p in trace.glob("y-*")]
    assert len(ys) - 10 <= 1  # at most the element in flight ran twice
    assert sorted(int(p.name.split("-")[1]) for p in trace.glob("z-*")) == list(range(10))
    again = subprocess.run(
        [sys.executable, "-m", "hpcflow.worker", str(run.path), "y@1", "0"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "computed 0 elements" in again.stdout  # nothing is computed twice
