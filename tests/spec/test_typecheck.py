"""Type annotations of connected funcs are checked when the pipeline is built."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from hpcflow import Func, Pipeline, SpecError
from hpcflow.spec.typecheck import Array


def make_int(x) -> int:  # type: ignore[no-untyped-def]
    return int(x)


def take_str(y: str) -> str:
    return y


def test_int_output_into_str_parameter_names_both_funcs_the_name_and_the_types() -> None:
    with pytest.raises(SpecError) as e:
        Pipeline([Func(make_int, "y"), Func(take_str, "z")])
    msg = str(e.value)
    for part in ("'y'", "'make_int'", "'take_str'", "int", "str", "validate_type_annotations"):
        assert part in msg


def test_the_check_can_be_turned_off_and_stays_off_in_derived_pipelines() -> None:
    p = Pipeline([Func(make_int, "y"), Func(take_str, "z")], validate_type_annotations=False)
    assert p("z", x=3) == 3  # runs: the annotations were only wrong, not the code
    assert p.subpipeline(output_names=["z"]).validate_type_annotations is False


def test_renamed_parameters_are_checked_under_their_pipeline_names() -> None:
    with pytest.raises(SpecError, match="'y'"):
        Pipeline([Func(make_int, "y"), Func(take_str, "z", renames={"y": "y"})])
    # renamed away: 'y' no longer feeds take_str, nothing to check
    Pipeline([Func(make_int, "y"), Func(take_str, "z", renames={"y": "w"})])


def test_compatible_and_uncheckable_annotations_are_accepted() -> None:
    def to_float(y: float) -> float:
        return y

    def untyped(y):  # type: ignore[no-untyped-def]
        return y

    def anything(y: Any) -> Any:
        return y

    def seq(y: Sequence[int] | None) -> int:
        return 0

    def make_list(x) -> list[int]:  # type: ignore[no-untyped-def]
        return [x]

    Pipeline([Func(make_int, "y"), Func(to_float, "z")])  # int -> float promotes
    Pipeline([Func(make_int, "y"), Func(untyped, "z")])
    Pipeline([Func(make_int, "y"), Func(anything, "z")])
    Pipeline([Func(make_list, "y"), Func(seq, "z")])
    with pytest.raises(SpecError, match="list\\[int\\]"):
        Pipeline([Func(make_list, "y"), Func(take_str, "z")])


def test_optional_output_into_a_plain_parameter_is_refused() -> None:
    def maybe(x) -> int | None:  # type: ignore[no-untyped-def]
        return x

    def needs_int(y: int) -> int:
        return y

    with pytest.raises(SpecError, match="needs_int"):
        Pipeline([Func(maybe, "y"), Func(needs_int, "z")])


def test_mapped_outputs_are_element_types_and_a_reduction_receives_an_array() -> None:
    def elem(y: int) -> int:
        return y

    def reduce_list(y: list[int]) -> int:
        return 0

    def reduce_array(y: np.ndarray) -> int:
        return 0

    def reduce_typed(y: Array[int]) -> int:  # type: ignore[valid-type]
        return 0

    def reduce_wrong(y: Array[str]) -> int:  # type: ignore[valid-type]
        return 0

    producer = Func(make_int, "y", mapspec="x[i] -> y[i]")
    Pipeline([producer, Func(elem, "z", mapspec="y[i] -> z[i]")])
    Pipeline([producer, Func(reduce_array, "z")])
    Pipeline([producer, Func(reduce_typed, "z")])
    with pytest.raises(SpecError, match="numpy array"):
        Pipeline([producer, Func(reduce_list, "z")])
    with pytest.raises(SpecError, match="reduce_wrong"):
        Pipeline([producer, Func(reduce_wrong, "z")])
    with pytest.raises(SpecError, match="take_str"):
        Pipeline([producer, Func(take_str, "z", mapspec="y[i] -> z[i]")])


def test_a_generated_axis_takes_its_element_type_from_the_sequence() -> None:
    def gen(n: int) -> list[int]:
        return list(range(n))

    p = [Func(gen, "y", mapspec="... -> y[i]", internal_shape="?")]
    Pipeline([*p, Func(make_int, "z", mapspec="y[i] -> z[i]", renames={"x": "y"})])
    with pytest.raises(SpecError, match="take_str"):
        Pipeline([*p, Func(take_str, "z", mapspec="y[i] -> z[i]")])


def test_multiple_outputs_take_their_types_from_a_tuple_annotation() -> None:
    def two(x) -> tuple[int, str]:  # type: ignore[no-untyped-def]
        return x, str(x)

    Pipeline([Func(two, ("a", "b")), Func(take_str, "z", renames={"y": "b"})])
    with pytest.raises(SpecError, match="'a'"):
        Pipeline([Func(two, ("a", "b")), Func(take_str, "z", renames={"y": "a"})])


def test_a_dataclass_as_a_func_outputs_itself() -> None:
    @dataclasses.dataclass
    class Point:
        x: int

    def norm(p: Point) -> int:
        return p.x

    Pipeline([Func(Point, "p"), Func(norm, "n")])
    with pytest.raises(SpecError, match="Point"):
        Pipeline([Func(Point, "y"), Func(take_str, "z")])
