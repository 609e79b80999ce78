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


# ------------------------------------------------------------ several axes at once
def test_add_mapspec_axis_with_several_axes_to_an_unmapped_func() -> None:
    p = Pipeline([Func(lambda a: a, "x")])
    q = p.add_mapspec_axis("a", axis="i, j")
    assert str(q.func_for("x").mapspec) == "a[i, j] -> x[i, j]"
    assert q.map({"a": [[1, 2], [3, 4]]}, parallel=False)["x"].output.tolist() == [[1, 2], [3, 4]]
    assert p.func_for("x").mapspec is None


@pytest.mark.parametrize(
    ("mapspec", "param", "expected"),
    [
        ("a[i] -> r[i]", "a", "a[i, k, l] -> r[i, k, l]"),
        ("a[i, j] -> r[i, j]", "a", "a[i, j, k, l] -> r[i, j, k, l]"),
        ("a[i], b[j] -> r[i, j]", "b", "a[i], b[j, k, l] -> r[i, j, k, l]"),
    ],
)
def test_add_mapspec_axis_with_several_axes_extends_existing_ones(
    mapspec: str, param: str, expected: str
) -> None:
    f = Func(lambda a, b=0: a, "r", mapspec=mapspec)
    q = Pipeline([f]).add_mapspec_axis(param, axis="k, l")
    assert str(q.func_for("r").mapspec) == expected


def test_several_axes_propagate_through_a_generated_axis() -> None:
    gen = Func(lambda a: [a, a, a], "c", mapspec="... -> c[i]")
    other = Func(lambda b: b, "d", mapspec="b[j] -> d[j]")
    both = Func(lambda c, d: c + d, "e", mapspec="c[i], d[j] -> e[i, j]")
    q = Pipeline([gen, other, both]).add_mapspec_axis("a", axis="k, l")
    assert [str(s) for s in q.mapspecs] == [
        "a[k, l] -> c[i, k, l]",
        "b[j] -> d[j]",
        "c[i, k, l], d[j] -> e[i, j, k, l]",
    ]
    out = q.map({"a": [[1]], "b": [1, 2]}, parallel=False)["e"].output
    assert out.shape == (3, 2, 1, 1)
    assert out.tolist() == [[[[2]], [[3]]]] * 3


def test_several_axes_equal_adding_them_one_by_one() -> None:
    p = Pipeline([Func(lambda a, b: a + b, "c"), Func(lambda c, b: c * b, "d")])
    at_once = p.add_mapspec_axis("a", "b", axis="i, j")
    in_turn = p.add_mapspec_axis("a", "b", axis="i").add_mapspec_axis("a", "b", axis="j")
    assert [str(s) for s in at_once.mapspecs] == [str(s) for s in in_turn.mapspecs]


@pytest.mark.parametrize(
    ("axis", "fragment"),
    [
        ("", "must be an axis name"),
        ("k l", "must be an axis name"),
        ("k,", "must be an axis name"),
        ("k, for", "must be an axis name"),
        ("k, l, k", r"names \['k'\] more than once"),
    ],
)
def test_bad_axis_names_are_refused(axis: str, fragment: str) -> None:
    p = Pipeline([Func(lambda a: a, "x")])
    with pytest.raises(SpecError, match=rf"add_mapspec_axis: axis={axis!r} {fragment}"):
        p.add_mapspec_axis("a", axis=axis)
