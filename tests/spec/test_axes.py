"""Mapspec axis helpers: independent axes, renaming a pipeline's or a func's axes."""

from __future__ import annotations

import pytest

from hpcflow import Func, Pipeline, SpecError


def sweep() -> Pipeline:
    gen = Func(lambda n: list(range(n)), "x", mapspec="... -> x[i]")
    mul = Func(lambda x, y: x * y, "z", mapspec="x[i], y[j] -> z[i, j]")
    red = Func(lambda z: sum(z), "s", mapspec="z[:, j] -> s[j]")  # noqa: PLW0108 (sum is positional)
    return Pipeline([gen, mul, red])


def test_independent_axes_are_those_of_pipeline_inputs() -> None:
    p = sweep()
    assert p.independent_axes_in_mapspecs("z") == {"j"}
    assert p.independent_axes_in_mapspecs("s") == {"j"}
    assert p.independent_axes_in_mapspecs("x") == set()
    both = Pipeline([Func(lambda a, b: a + b, "c", mapspec="a[i], b[j] -> c[i, j]")])
    assert both.independent_axes_in_mapspecs("c") == {"i", "j"}


def test_mapspec_axes_and_dimensions() -> None:
    p = sweep()
    assert p.mapspec_axes == {"x": ("i",), "z": ("i", "j"), "y": ("j",), "s": ("j",)}
    assert p.mapspec_dimensions == {"x": 1, "z": 2, "y": 1, "s": 1}


def test_update_mapspec_axes_returns_a_new_pipeline_that_runs() -> None:
    p = sweep()
    q = p.update_mapspec_axes({"i": "a", "j": "b"})
    assert [str(f.mapspec) for f in q.sorted_funcs] == [
        "... -> x[a]", "x[a], y[b] -> z[a, b]", "z[:, b] -> s[b]",
    ]  # fmt: skip
    assert str(p.funcs[1].mapspec) == "x[i], y[j] -> z[i, j]"  # the original is untouched
    out = q.map({"n": 2, "y": [1, 2]}, parallel=False, internal_shapes={"x": 2})
    assert out["s"].output.tolist() == [1, 2]
    assert out.to_xarray()["z"].dims == ("a", "b")


def test_unknown_axis_is_named_with_the_axes_there_are() -> None:
    with pytest.raises(SpecError, match=r"renames axes \['k'\].*its axes are \['i', 'j'\]"):
        sweep().update_mapspec_axes({"k": "q"})
    with pytest.raises(SpecError, match="must be an identifier"):
        sweep().update_mapspec_axes({"i": "not ok"})


def test_func_update_mapspec_axes() -> None:
    f = Func(lambda a: a, "b", mapspec="a[i] -> b[i]")
    assert str(f.update_mapspec_axes({"i": "k"}).mapspec) == "a[k] -> b[k]"
    assert str(f.mapspec) == "a[i] -> b[i]"
    with pytest.raises(SpecError, match=r"renames axes \['j'\]"):
        f.update_mapspec_axes({"j": "k"})
