"""Scoped names (``foo.x``) in run folders: map, resume, load, clear, and a submitted run.

A scoped name is stored as ``foo__x`` in every path (inputs, outputs, markers, stage
labels and their log folders) and loaded back by its scoped name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from hpcflow import Func, Pipeline
from hpcflow.map import load_outputs

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120  # seconds; generous for a loaded machine, never reached when things work


def add(a: int, b: int) -> int:
    return a + b


def total(c: Any) -> int:
    return int(sum(c))


def broken(a: int, b: int) -> int:
    raise AssertionError("resume recomputed an element it had stored")


def _pipeline(fn: Any = add) -> Pipeline:
    return Pipeline(
        [
            Func(fn, "c", mapspec="a[i] -> c[i]", scope="foo"),
            Func(total, "s", renames={"c": "foo.c"}),
        ]
    )


INPUTS = {"foo": {"a": [1, 2, 3], "b": 10}}


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_scoped_map_into_a_run_folder_uses_one_on_disk_form(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    results = _pipeline().map(INPUTS, run_folder=folder, parallel=False)
    assert results["s"].output == 36
    files = _files(folder)
    assert {"inputs/foo__a.cloudpickle", "inputs/foo__b.cloudpickle"} <= files
    assert "markers/foo__c/0-3.json" in files
    assert (folder / "outputs" / "foo__c").is_dir()
    assert not any("." in p.split("/")[-2] for p in files if "/" in p)  # no dotted folders
    np.testing.assert_array_equal(load_outputs("foo.c", run_folder=folder), [11, 12, 13])


def test_scoped_map_resumes_without_recomputing(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    _pipeline().map(INPUTS, run_folder=folder, parallel=False)
    again = _pipeline(broken).map(INPUTS, run_folder=folder, parallel=False, resume=True)
    np.testing.assert_array_equal(again["foo.c"].output, [11, 12, 13])
    assert again["s"].output == 36


def test_a_fresh_map_clears_a_scoped_run(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    _pipeline().map(INPUTS, run_folder=folder, parallel=False)
    (folder / "notes.txt").write_text("mine")
    other = Pipeline([Func(add, "c", scope="bar")])
    other.map({"bar": {"a": 1, "b": 2}}, run_folder=folder, parallel=False)
    left = _files(folder)
    assert not any("foo__" in p for p in left), left
    assert "notes.txt" in left and "inputs/bar__a.cloudpickle" in left


def test_scoped_pipeline_submitted_to_the_local_scheduler(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    run = _pipeline().submit(
        INPUTS, folder, scheduler="local", state_dir=str(tmp_path / "queue"), chunksizes=2
    )
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    np.testing.assert_array_equal(run.load_outputs("foo.c"), [11, 12, 13])
    assert run.load_outputs("s") == 36
    stages = json.loads((folder / "stages" / "0.json").read_text())["stages"]
    assert [s["name"] for s in stages] == ["foo__c", "s"]
    assert (folder / "logs" / "foo__c").is_dir()
    assert status.outputs["foo.c"].done == 3


def fails_on_two(a: int, b: int) -> int:
    if a == 2:
        raise ValueError("bad a=2")
    return a + b


def test_scoped_submitted_run_resumes_with_retry_failed(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    run = _pipeline(fails_on_two).submit(
        INPUTS,
        folder,
        scheduler="local",
        state_dir=str(tmp_path / "queue"),
        error_handling="continue",
    )
    status = run.wait(timeout=WAIT)
    assert status.outputs["foo.c"].failed == 1, status
    run.resume(retry_failed=True)
    status = run.wait(timeout=WAIT)
    assert status.outputs["foo.c"].failed == 1, status  # it fails again, deterministically
    # the first failure is set aside under the same on-disk name
    assert (folder / "superseded" / "1" / "outputs" / "foo__c").is_dir()
    assert (folder / "superseded" / "1" / "markers" / "foo__c").is_dir()
