"""Calling a pipeline directly: ``pipeline("y", x=1)`` and ``pipeline.run``."""

from __future__ import annotations

import pytest

from hpcflow import ErrorSnapshot, Func, InputError, Pipeline, PipelineError, func


def chain() -> Pipeline:
    @func("c")
    def add(a, b=2):  # type: ignore[no-untyped-def]
        return a + b

    @func("d", defaults={"k": 10})
    def scale(c, k=1):  # type: ignore[no-untyped-def]
        return c * k

    @func(("lo", "hi"))
    def split(d):  # type: ignore[no-untyped-def]
        return d - 1, d + 1

    return Pipeline([add, scale, split])


def test_call_and_run_compute_one_output_in_process() -> None:
    p = chain()
    assert p("c", a=1) == 3
    assert p("d", a=1, b=0) == 10  # the Func's defaults override the signature's
    assert p.run("d", {"a": 1, "k": 2}) == 6
    assert p.run("d", kwargs={"a": 1}) == 30
    assert p(("lo", "hi"), a=0, k=1) == (1, 3)


def test_given_intermediate_skips_its_producer() -> None:
    assert chain()("d", c=5, k=1) == 5


def test_full_output_returns_every_value_used() -> None:
    assert chain().run("d", {"a": 1}, full_output=True) == {
        "a": 1,
        "b": 2,
        "c": 3,
        "k": 10,
        "d": 30,
    }


def test_missing_input_is_named_with_its_func() -> None:
    with pytest.raises(InputError, match=r"missing input 'a' \(needed by 'add'\).*a=\.\.\."):
        chain()("d", b=1)


def test_unused_input_is_an_error_unless_allowed() -> None:
    p = chain()
    with pytest.raises(InputError, match=r"does not use \['zz'\]"):
        p("c", a=1, zz=3)
    assert p.run("c", {"a": 1, "zz": 3}, allow_unused=True) == 3


def test_no_name_means_the_only_final_output() -> None:
    p = Pipeline([Func(lambda x: x + 1, "y"), Func(lambda y: y * 3, "z")])
    assert p(x=1) == 6
    with pytest.raises(PipelineError, match=r"2 final outputs \['lo', 'hi'\]"):
        chain()(a=1)


def test_unknown_output_and_mapped_funcs_are_refused() -> None:
    with pytest.raises(PipelineError, match="no func produces 'nope'"):
        chain()("nope", a=1)
    mapped = Pipeline([Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(PipelineError, match=r"'<lambda>' \('x\[i\] -> y\[i\]'\).*pipeline\.map"):
        mapped("y", x=1)


def test_a_failure_leaves_the_snapshot_on_the_pipeline() -> None:
    def boom(x):  # type: ignore[no-untyped-def]
        raise ValueError(f"bad x={x}")

    p = Pipeline([Func(boom, "y")])
    assert p.error_snapshot is None
    with pytest.raises(ValueError, match="bad x=3") as info:
        p("y", x=3)
    assert any("pipeline.error_snapshot" in n for n in info.value.__notes__)
    snap = p.error_snapshot
    assert isinstance(snap, ErrorSnapshot)
    assert snap.kwargs == {"x": 3}
    assert snap.exception_type == "ValueError"
    with pytest.raises(ValueError, match="bad x=3"):
        snap.reproduce()
