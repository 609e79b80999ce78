"""Post-execution hooks run after each element: in map, direct calls and submitted runs."""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from hpcflow import Func, Pipeline
from hpcflow.testing import FakeScheduler


def double(x: int) -> int:
    return 2 * x


def record_into(folder: Path, func: Func, result: Any, kwargs: dict[str, Any]) -> None:
    """Write one file per call, so calls from several processes can all be counted."""
    name = f"{func.output_names[0]}-{kwargs['x']}-{os.getpid()}.json"
    (folder / name).write_text(json.dumps({"result": result, "kwargs": kwargs}))


def calls(folder: Path) -> list[dict[str, Any]]:
    return sorted(
        (json.loads(p.read_text()) for p in folder.glob("*.json")),
        key=lambda c: c["kwargs"]["x"],
    )


@pytest.fixture
def hook_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "hooks"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("parallel", [False, True])
def test_a_func_hook_runs_after_each_element_of_map(hook_dir: Path, parallel: bool) -> None:
    f = Func(
        double, "y", mapspec="x[i] -> y[i]", post_execution_hook=partial(record_into, hook_dir)
    )
    results = Pipeline([f]).map({"x": [1, 2, 3]}, parallel=parallel)
    assert results["y"].output.tolist() == [2, 4, 6]
    assert calls(hook_dir) == [
        {"result": 2, "kwargs": {"x": 1}},
        {"result": 4, "kwargs": {"x": 2}},
        {"result": 6, "kwargs": {"x": 3}},
    ]


def test_a_pipeline_hook_applies_to_funcs_without_their_own(hook_dir: Path) -> None:
    seen: list[str] = []

    def own(func: Func, result: Any, kwargs: dict[str, Any]) -> None:
        seen.append(func.name)

    a = Func(double, "y", mapspec="x[i] -> y[i]", post_execution_hook=own)
    b = Func(lambda y, x: y + 1, "z", mapspec="y[i], x[i] -> z[i]")
    hook = partial(record_into, hook_dir)
    p = Pipeline([a, b], post_execution_hook=hook)
    assert p.func_for("y").post_execution_hook is own
    assert p.func_for("z").post_execution_hook is hook
    p.map({"x": [1, 2]}, parallel=False)
    assert seen == ["double", "double"]
    assert [c["result"] for c in calls(hook_dir)] == [3, 5]


def test_a_hook_runs_in_a_direct_call(hook_dir: Path) -> None:
    p = Pipeline([Func(double, "y", post_execution_hook=partial(record_into, hook_dir))])
    assert p("y", x=4) == 8
    assert calls(hook_dir) == [{"result": 8, "kwargs": {"x": 4}}]


def test_a_raising_hook_fails_the_element(hook_dir: Path) -> None:
    def broken(func: Func, result: Any, kwargs: dict[str, Any]) -> None:
        raise RuntimeError("hook broke")

    f = Func(double, "y", mapspec="x[i] -> y[i]", post_execution_hook=broken)
    results = Pipeline([f]).map({"x": [1]}, parallel=False, error_handling="continue")
    snapshot = results["y"].output[0]
    assert "hook broke" in str(snapshot.exception)


def test_a_hook_runs_on_the_compute_node(hook_dir: Path, tmp_path: Path) -> None:
    fake = FakeScheduler()
    f = Func(
        double, "y", mapspec="x[i] -> y[i]", post_execution_hook=partial(record_into, hook_dir)
    )
    run = Pipeline([f]).submit({"x": [1, 2]}, tmp_path / "run", scheduler=fake)
    fake.run_all()  # each task in a subprocess, from the pickled pipeline
    assert run.status().complete
    found = calls(hook_dir)
    assert [c["result"] for c in found] == [2, 4]
    assert all(not p.name.endswith(f"-{os.getpid()}.json") for p in hook_dir.iterdir())


def test_a_hook_must_be_callable() -> None:
    from hpcflow import PipelineError, SpecError

    with pytest.raises(SpecError, match="post_execution_hook"):
        Func(double, "y", post_execution_hook="print")  # type: ignore[arg-type]
    with pytest.raises(PipelineError, match="post_execution_hook"):
        Pipeline([Func(double, "y")], post_execution_hook=1)  # type: ignore[arg-type]
