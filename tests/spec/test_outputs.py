"""Multiple outputs: output pickers, dataclasses and pydantic models as funcs, shapes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pydantic
import pytest

from hpcflow import Func, Pipeline, PipelineError


@dataclasses.dataclass
class Point:
    x: int
    y: int = 2


class Model(pydantic.BaseModel):
    x: int
    y: int = 3


def test_output_picker_hands_out_each_output_by_its_own_name() -> None:
    f = Func(Point, ("x2", "y2"), renames={"x2": "px"}, output_picker=getattr)
    assert f.original_output_names == ("x2", "y2")
    # the function's own names are picked, whatever the pipeline calls them
    g = Func(lambda p: p, ("x", "y"), output_picker=lambda r, name: r[name])
    assert Pipeline([g])(("x", "y"), p={"x": 1, "y": 5}) == (1, 5)
    pick = Func(
        lambda a: Point(a, 10 * a), ("x", "y"), mapspec="a[i] -> x[i], y[i]",
        output_picker=getattr,
    )  # fmt: skip
    results = Pipeline([pick]).map({"a": [1, 2]}, parallel=True)
    assert results["x"].output.tolist() == [1, 2]
    assert results["y"].output.tolist() == [10, 20]


@pytest.mark.parametrize("cls", [Point, Model])
def test_dataclasses_and_pydantic_models_are_funcs(cls: type) -> None:
    make = Func(cls, "obj", mapspec="x[i] -> obj[i]")
    assert make.parameters == ("x", "y")
    total = Func(lambda obj: obj.x + obj.y, "s", mapspec="obj[i] -> s[i]")
    results = Pipeline([make, total]).map({"x": [1, 2]}, parallel=True)
    default_y = 2 if cls is Point else 3
    assert results["s"].output.tolist() == [1 + default_y, 2 + default_y]
    assert Pipeline([Func(cls, "obj")])("obj", x=1, y=7) == cls(x=1, y=7)


def test_outputs_consumed_with_different_axes_are_refused_with_the_way_out() -> None:
    def two(n: int) -> tuple[list[int], list[int]]:
        return list(range(n)), list(range(n + 1))

    c = Func(lambda a: 10 * a, "c", mapspec="a[i] -> c[i]")
    d = Func(lambda b: b, "d", mapspec="b[j] -> d[j]")
    with pytest.raises(PipelineError) as e:
        Pipeline([Func(two, ("a", "b")), c, d])
    msg = str(e.value)
    assert "'two'" in msg and "a[i]" in msg and "b[j]" in msg and "one func per shape" in msg
    # the way out the message names
    both = Func(two, "r")
    a = Func(lambda r: r[0], "a", mapspec="... -> a[i]")
    b = Func(lambda r: r[1], "b", mapspec="... -> b[j]")
    results = Pipeline([both, a, b, c, d]).map({"n": 2}, parallel=False)
    assert results["c"].output.tolist() == [0, 10]
    assert results["d"].output.tolist() == [0, 1, 2]


@dataclasses.dataclass
class Status:
    complete: list[int]
    incomplete: list[int]


def get_status(done: list[int], todo: list[int]) -> Status:
    return Status(list(done), list(todo))


def _faq_recipe() -> Pipeline:
    """The reference FAQ's recipe for outputs of different lengths from one function."""
    return Pipeline([
        Func(get_status, "status"),
        Func(lambda status: status.complete, "complete"),
        Func(lambda status: status.incomplete, "incomplete"),
        Func(lambda complete: complete, "loaded", mapspec="complete[i] -> loaded[i]"),
        Func(lambda incomplete: 10 * incomplete, "executed", mapspec="incomplete[j] -> executed[j]"),
        Func(lambda loaded, executed: [*loaded, *executed], "result"),
    ])  # fmt: skip


@pytest.mark.parametrize("internal_shapes", [None, {"complete": ("?",), "incomplete": ("?",)}])
@pytest.mark.parametrize("storage", ["dict", "file_array"])
def test_the_faq_recipe_for_outputs_of_different_shapes_runs_unchanged(
    tmp_path: Path, internal_shapes: dict[str, tuple[str]] | None, storage: str
) -> None:
    # one container output, then one unmapped func per part: each part gets its own axis
    results = _faq_recipe().map(
        {"done": [0], "todo": [1, 2, 3]}, tmp_path / "run",
        internal_shapes=internal_shapes, storage=storage, parallel=False,
    )  # fmt: skip
    assert results["loaded"].output.shape == (1,)
    assert results["executed"].output.shape == (3,)
    assert results["result"].output == [0, 10, 20, 30]


def test_the_faq_recipe_for_outputs_of_different_shapes_runs_submitted(tmp_path: Path) -> None:
    # the parts' lengths are known only after 'status' ran: a follow-up job submits the rest
    run = _faq_recipe().submit(
        {"done": [4, 5], "todo": [1]}, tmp_path / "run",
        scheduler="local", state_dir=str(tmp_path / "queue"),
    )  # fmt: skip
    status = run.wait(timeout=300)
    assert status.complete, status
    assert run.load_outputs("executed").tolist() == [10]
    assert run.load_outputs("result") == [4, 5, 10]
