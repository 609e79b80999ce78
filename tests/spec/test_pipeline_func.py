"""``pipeline.func("y")``: the sub-pipeline producing one output, as a function."""

from __future__ import annotations

import pytest

from hpcflow import Func, InputError, Pipeline, PipelineError


def pipeline() -> Pipeline:
    return Pipeline(
        [
            Func(lambda a, b: a + b, "c"),
            Func(lambda c, k=3: c * k, "d"),
            Func(lambda q: -q, "unrelated"),
        ]
    )


def test_func_handle_calls_only_what_the_output_needs() -> None:
    f = pipeline().func("d")
    assert f.root_args == ("a", "b", "k")
    assert [g.output_name for g in f.pipeline.sorted_funcs] == ["c", "d"]
    assert f(a=1, b=2) == 9
    assert f(1, 2, 1) == 3
    assert f.call_with_dict({"a": 1, "b": 1, "k": 2}) == 4
    assert f.call_full_output(a=1, b=2) == {"a": 1, "b": 2, "c": 3, "k": 3, "d": 9}


def test_func_handle_errors_name_the_problem() -> None:
    f = pipeline().func("d")
    with pytest.raises(InputError, match="missing input 'b'"):
        f(a=1)
    with pytest.raises(InputError, match=r"both positionally and by keyword"):
        f(1, a=1, b=2)
    with pytest.raises(InputError, match=r"at most 3 positional inputs"):
        f(1, 2, 3, 4)
    with pytest.raises(PipelineError, match="no func produces 'nope'"):
        pipeline().func("nope")
