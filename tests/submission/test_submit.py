"""Submit through the real detached local scheduler: plan, run folder, worker, Run.

Every test submits real job arrays to a `LocalScheduler` whose queue lives in the
test's tmp_path; its runner is a separate, detached process that starts the workers
(`python -m hpcflow.worker`) as subprocesses. The SLURM side of the same path runs in
cluster_tests/test_submit_slurm.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import pytest

import hpcflow
from hpcflow import Pipeline, Resources, Run, func
from hpcflow.errors import InputError, RunFolderError
from hpcflow.submission.submit import SubmissionPlan

# Workers unpickle the pipeline; pickling this module's functions by value means they
# need not import the test module (and pytest with it).
cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120  # seconds; generous for a loaded CI machine, never reached when things work


@func("y", mapspec="x[i] -> y[i]")
def double(x: int) -> int:
    return 2 * x


@func("z", mapspec="y[i] -> z[i]")
def inc(y: int) -> int:
    return y + 1


@func("total")
def add_all(z: Any) -> int:
    return int(sum(z))


@func("y", mapspec="x[i] -> y[i]")
def fragile(x: int) -> int:
    if x % 5 == 3:
        raise ValueError(f"bad x={x}")
    return 2 * x


def _local(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"scheduler": "local", "state_dir": str(tmp_path / "queue"), **extra}


def _submit(p: Pipeline, inputs: dict[str, Any], folder: Path, tmp_path: Path, **kw: Any) -> Run:
    run = p.submit(inputs, folder, **_local(tmp_path), **kw)
    assert isinstance(run, Run)
    return run


def test_three_stage_sweep_matches_local_map(tmp_path: Path) -> None:
    p = Pipeline([double, inc, add_all])
    inputs = {"x": list(range(23))}
    run = _submit(p, inputs, tmp_path / "run", tmp_path, chunksizes=5)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    expected = p.map(inputs, parallel=False)
    assert run.load_outputs("total") == expected["total"].output
    np.testing.assert_array_equal(run.load_outputs("z"), expected["z"].output)
    assert status.outputs["z"].done == 23 and status.outputs["z"].failed == 0
    # one array per stage; the element-wise stage waits task by task, the reduction whole
    stages = json.loads((run.path / "stages" / "0.json").read_text())["stages"]
    assert [(s["name"], s["n_tasks"], s["dependencies"]) for s in stages] == [
        ("y", 5, []),
        ("z", 5, [["y", "aligned"]]),
        ("total", 1, [["z", "whole"]]),
    ]


def test_submitter_exits_before_the_work_runs(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    script = textwrap.dedent(f"""
        import hpcflow
        @hpcflow.func("y", mapspec="x[i] -> y[i]")
        def slow_square(x):
            import time; time.sleep(0.2)
            return x * x
        run = hpcflow.Pipeline([slow_square]).submit(
            {{"x": list(range(6))}}, {str(folder)!r}, scheduler="local",
            state_dir={str(tmp_path / "queue")!r}, chunksizes=1)
        print(run.run_id)
    """)
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
    run = Run.open(folder)  # a different process from the submitter, which has exited
    assert run.run_id == child.stdout.strip()
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    assert run.load_outputs("y").tolist() == [x * x for x in range(6)]


def test_element_failures_are_recorded_and_nothing_hangs(tmp_path: Path) -> None:
    p = Pipeline([fragile, inc])
    run = _submit(p, {"x": list(range(10))}, tmp_path / "run", tmp_path, chunksizes=3)
    status = run.wait(timeout=WAIT)
    assert status.finished
    assert status.outputs["y"].failed == 2 and status.outputs["y"].done == 8
    assert status.outputs["z"].failed == 2  # propagated from the failed inputs
    y = run.load_outputs("y")
    assert isinstance(y[3], hpcflow.ErrorSnapshot) and "bad x=3" in str(y[3].exception)
    assert isinstance(run.load_outputs("z")[8], hpcflow.PropagatedErrorSnapshot)
    assert "failed elements" in str(status)
    assert "y[3] failed: ValueError: bad x=3" in str(status)
    failures = run.failures("y")
    assert sorted(failures) == [(3,), (8,)]
    assert failures[(8,)].kwargs == {"x": 8}
    assert run.failures("z") == {}  # z only received failed inputs


def test_raise_mode_cancels_what_waits_for_a_failed_task(tmp_path: Path) -> None:
    p = Pipeline([fragile, inc])
    run = _submit(
        p, {"x": list(range(10))}, tmp_path / "run", tmp_path, chunksizes=5,
        error_handling="raise", fuse=False,
    )  # fmt: skip
    status = run.wait(timeout=WAIT)
    assert status.finished and not status.complete
    # x=3 and x=8 fail, one in each task: both y tasks fail, so both z tasks are cancelled
    assert status.failed_tasks["FAILED"] == 2
    assert status.failed_tasks["CANCELLED (upstream failed)"] == 2
    assert status.outputs["z"].lost["CANCELLED (upstream failed)"] == 10
    assert "logs in" in str(status)


@func("n", mapspec="x[i] -> n[i, j]")
def generate(x: int) -> list[int]:
    return list(range(x, x + 3))


@func("m", mapspec="n[i, j] -> m[i, j]")
def square(n: int) -> int:
    return n * n


@func("t", mapspec="m[i, :] -> t[i]")
def row_sum(m: Any) -> int:
    return int(sum(m))


def test_unknown_internal_shape_is_planned_by_a_continuation_job(tmp_path: Path) -> None:
    p = Pipeline([double, generate, square, row_sum])
    inputs = {"x": list(range(4))}
    dry = p.plan(inputs, tmp_path / "run", **_local(tmp_path))
    assert isinstance(dry, SubmissionPlan)
    assert dry.deferred == ["n", "m", "t"]
    assert [a.stage for a in dry.arrays] == ["y", "follow-up-1"]
    run = _submit(p, inputs, tmp_path / "run", tmp_path)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    expected = p.map(inputs, parallel=False)
    np.testing.assert_array_equal(run.load_outputs("t"), expected["t"].output)
    assert (run.path / "stages" / "1.json").exists()


def _memory_by_parity(x: int) -> dict[str, str]:
    return {"memory": "300MB" if x % 2 else "200MB"}


@func("o", mapspec="x[i], w[k] -> o[i, k]", resources=_memory_by_parity)
def outer(x: int, w: int) -> int:
    return x * w


@func("r", mapspec="o[:, k] -> r[k]")
def column_sum(o: Any) -> int:
    return int(sum(o))


def test_per_element_resources_give_one_array_per_resource_set(tmp_path: Path) -> None:
    p = Pipeline([outer, column_sum])
    inputs = {"x": list(range(5)), "w": [1, 10]}
    run = _submit(p, inputs, tmp_path / "run", tmp_path, chunksizes=2)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    stages = json.loads((run.path / "stages" / "0.json").read_text())["stages"]
    groups = {s["name"]: s for s in stages if s["name"].startswith("o.")}
    assert sorted(g["resources"]["memory"] for g in groups.values()) == [200 * 2**20, 300 * 2**20]
    assert sorted(g["size"] for g in groups.values()) == [4, 6]  # x odd: 2 x 2, even: 3 x 2
    expected = p.map(inputs, parallel=False)
    np.testing.assert_array_equal(run.load_outputs("o"), expected["o"].output)
    assert run.load_outputs("r").tolist() == [10, 100]


@pytest.mark.parametrize(("fuse", "tasks"), [(False, 8), (True, 4)])
def test_cancel_leaves_nothing_queued(tmp_path: Path, fuse: bool, tasks: int) -> None:
    @func("y", mapspec="x[i] -> y[i]")
    def sleepy(x: int) -> int:
        import time

        time.sleep(30)
        return x

    run = _submit(
        Pipeline([sleepy, inc]), {"x": list(range(4))}, tmp_path / "run", tmp_path,
        chunksizes=1, fuse=fuse,
    )  # fmt: skip
    run.cancel()
    status = run.wait(timeout=WAIT)
    assert status.finished and status.outputs["y"].done == 0
    # every task of the run is cancelled: 4 each of y and z, or 4 that compute both
    assert sum(status.failed_tasks.values()) == tasks
    assert set(status.failed_tasks) <= {"CANCELLED", "CANCELLED (upstream failed)"}
    assert (run.path / "cancelled").exists()


def test_run_folder_with_spaces_and_quotes(tmp_path: Path) -> None:
    folder = tmp_path / 'it\'s a "run" folder'
    run = _submit(Pipeline([double]), {"x": [1, 2, 3]}, folder, tmp_path)
    assert run.wait(timeout=WAIT).complete
    assert run.load_outputs("y").tolist() == [2, 4, 6]


def test_dry_run_writes_and_submits_nothing(tmp_path: Path) -> None:
    p = Pipeline([double, inc, add_all], default_resources=Resources(cpus=1, memory="1GB"))
    folder = tmp_path / "run"
    dry = p.plan({"x": list(range(10))}, folder, **_local(tmp_path), chunksizes=4, fuse=False)
    assert isinstance(dry, SubmissionPlan)
    assert not folder.exists() and not (tmp_path / "queue").exists()
    assert [(a.stage, a.n_tasks, a.n_elements) for a in dry.arrays] == [
        ("y", 3, 10), ("z", 3, 10), ("total", 1, 1),
    ]  # fmt: skip
    text = str(dry)
    assert "hpcflow.worker" in text and "memory" in text and "waits for: <y[0]>" in text


def test_dry_run_shows_resources_in_human_units(tmp_path: Path) -> None:
    # The dry run printed the raw dict ({'memory': 209715200, 'walltime': 600}), bytes
    # and seconds a reader has to convert, while every other view shows units.
    res = Resources(cpus=2, memory="200MB", walltime="0:10:00", partition="debug")
    dry = Pipeline([double], default_resources=res).plan(
        {"x": [1, 2]}, tmp_path / "run", **_local(tmp_path)
    )
    text = str(dry)
    line = "resources per element: cpus=2, memory=200 MiB, walltime=0:10:00, partition=debug"
    assert line in text, text
    assert "209715200" not in text
    bare = Pipeline([double]).plan({"x": [1, 2]}, tmp_path / "bare", **_local(tmp_path))
    assert "resources per element: scheduler defaults" in str(bare)


def test_bad_input_fails_before_anything_is_written(tmp_path: Path) -> None:
    p = Pipeline([double])
    folder = tmp_path / "run"
    with pytest.raises(InputError, match="scheduler='nope' is not known"):
        p.submit({"x": [1]}, folder, scheduler="nope")
    with pytest.raises(InputError, match="storage='dict' keeps values"):
        p.submit({"x": [1]}, folder, **_local(tmp_path), storage="dict")
    with pytest.raises(InputError, match="missing inputs"):
        p.submit({}, folder, **_local(tmp_path))
    with pytest.raises(InputError, match="max_parallel"):
        p.submit({"x": [1]}, folder, **_local(tmp_path), max_parallel=0)
    with pytest.raises(InputError, match="cpus"):
        Pipeline([double.replace(resources={"cpus": 10_000})]).submit(
            {"x": [1]}, folder, **_local(tmp_path)
        )
    assert not folder.exists() or not any(folder.iterdir())
    assert not list((tmp_path / "queue").glob("jobs/*"))


def test_an_existing_run_is_never_overwritten_silently(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    first = _submit(Pipeline([double]), {"x": [1, 2]}, folder, tmp_path)
    assert first.wait(timeout=WAIT).complete
    with pytest.raises(RunFolderError, match="already holds a run"):
        _submit(Pipeline([double]), {"x": [5]}, folder, tmp_path)
    assert first.load_outputs("y").tolist() == [2, 4]
    second = _submit(Pipeline([double]), {"x": [5]}, folder, tmp_path, overwrite=True)
    assert second.wait(timeout=WAIT).complete
    assert second.load_outputs("y").tolist() == [10]


def test_submit_writes_a_few_files_whatever_the_size(tmp_path: Path) -> None:
    def files_after_submit(n: int) -> int:
        folder = tmp_path / f"run{n}"
        dry = Pipeline([double, inc]).plan(
            {"x": np.arange(n)}, folder, **_local(tmp_path), chunksizes=max(1, n // 10)
        )
        assert isinstance(dry, SubmissionPlan)
        for a in dry.arrays:  # a task's command is a few short arguments, never data
            assert len(" ".join(a.script.split("\n")[-3:])) < 2000
        run = _submit(Pipeline([double, inc]), {"x": np.arange(n)}, folder, tmp_path,
                      chunksizes=max(1, n // 10))  # fmt: skip
        run.cancel()
        # element values, markers and logs come from the tasks (which may have started)
        made_by_tasks = {"outputs", "markers", "logs"}
        written = [p for p in folder.rglob("*") if p.is_file() and not made_by_tasks & set(p.parts)]
        return len(written)

    assert files_after_submit(100_000) == files_after_submit(100)


def test_slurm_dry_run_renders_dependencies_on_arrays_not_yet_submitted(tmp_path: Path) -> None:
    # No cluster needed: a dry run asks for MaxArraySize and, without scontrol, notes it.
    p = Pipeline([double, inc, add_all])
    dry = p.plan({"x": list(range(4))}, tmp_path / "run", scheduler="slurm", fuse=False)
    assert isinstance(dry, SubmissionPlan)
    scripts = {a.stage: a.script for a in dry.arrays}
    assert "#SBATCH --dependency='aftercorr:<y[0]>'" in scripts["z"]  # quoted for the shell
    assert "#SBATCH --dependency='afterok:<z[0]>'" in scripts["total"]
    assert not (tmp_path / "run").exists()


@func("y1")
def plus_one(x: int) -> int:
    return x + 1


def test_unmapped_first_output_is_stored(tmp_path: Path) -> None:
    # the worker writes the single value before anything has created outputs/
    run = _submit(Pipeline([plus_one]), {"x": 1}, tmp_path / "run", tmp_path)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    assert run.load_outputs("y1") == 2


@pytest.mark.parametrize(
    ("inputs", "options", "error"),
    [
        ({}, {}, "missing inputs"),  # a missing input
        ({"xx": [1]}, {}, "unexpected inputs"),  # a misspelled one
        # planning fails after the new run folder was written: no node fits
        ({"x": [1, 2]}, {"slots": 0}, "which no node can run"),
    ],
)
def test_overwrite_with_bad_input_keeps_the_old_run(
    tmp_path: Path, inputs: dict[str, Any], options: dict[str, Any], error: str
) -> None:
    from hpcflow.testing import FakeScheduler

    folder = tmp_path / "run"
    Pipeline([double]).map({"x": [1, 2, 3]}, folder, parallel=False)
    (folder / "notes.txt").write_text("mine")
    (folder / "outputs" / "plots").mkdir(parents=True)
    (folder / "outputs" / "plots" / "y.png").write_text("my plot")
    with pytest.raises(InputError, match=error):
        Pipeline([double]).submit(
            inputs, folder, scheduler=FakeScheduler(**options), overwrite=True
        )
    assert hpcflow.map.load_outputs("y", run_folder=folder).tolist() == [2, 4, 6]
    assert (folder / "notes.txt").read_text() == "mine"
    assert (folder / "outputs" / "plots" / "y.png").read_text() == "my plot"
    assert not list(folder.glob(".hpcflow-replaced-*"))


def test_overwrite_that_succeeds_removes_the_old_run(tmp_path: Path) -> None:
    from hpcflow.testing import FakeScheduler

    folder = tmp_path / "run"
    Pipeline([double]).map({"x": [1, 2, 3]}, folder, parallel=False)
    # files of the user's inside hpcflow's folders are not the old run's: they stay
    (folder / "outputs" / "plots").mkdir(parents=True)
    (folder / "outputs" / "plots" / "y.png").write_text("my plot")
    (folder / "inputs" / "README").write_text("how I made x")
    Pipeline([double]).submit({"x": [5]}, folder, scheduler=FakeScheduler(), overwrite=True)
    assert (folder / "outputs" / "plots" / "y.png").read_text() == "my plot"
    assert (folder / "inputs" / "README").read_text() == "how I made x"
    assert not list(folder.glob(".hpcflow-replaced-*"))
    assert (folder / "submit.json").exists()
    new = hpcflow.map.load_outputs("y", run_folder=folder)  # the new run: 1 element, not done
    assert len(new) == 1 and np.ma.getmaskarray(new).all()


def _memory_of(x: int) -> dict[str, str]:
    return {"memory": f"{100 // x}MB"}  # ZeroDivisionError for x == 0


@func("y", mapspec="x[i] -> y[i]", resources=_memory_of)
def sized(x: int) -> int:
    return x


def test_resources_callable_error_names_func_callable_and_element(tmp_path: Path) -> None:
    from hpcflow.testing import FakeScheduler

    with pytest.raises(InputError) as info:
        Pipeline([sized]).submit({"x": [4, 2, 0, 1]}, tmp_path / "run", scheduler=FakeScheduler())
    message = str(info.value)
    assert "'_memory_of'" in message and "'sized'" in message
    assert "element [2]" in message and "x=0" in message and "ZeroDivisionError" in message
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    assert not (tmp_path / "run" / "submit.json").exists()


def test_a_misspelt_output_in_a_storage_dict_is_refused_before_submitting(
    tmp_path: Path,
) -> None:
    from hpcflow.testing import FakeScheduler

    @func("y", mapspec="x[i] -> y[i]")
    def double(x: int) -> int:
        return 2 * x

    folder = tmp_path / "run"
    storage = {"yy": "chunked_file_array", "": "file_array"}
    for call in (Pipeline([double]).submit, Pipeline([double]).plan):
        with pytest.raises(InputError, match="storage has key 'yy', which is no output"):
            call({"x": [1]}, folder, scheduler=FakeScheduler(), storage=storage)
    assert not folder.exists()
