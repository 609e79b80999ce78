"""MapSpec parsing, printing and index algebra (with property-based checks)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcflow import MapSpec, SpecError
from hpcflow.spec.mapspec import ArraySpec


@pytest.mark.parametrize(
    "text",
    [
        "x[i] -> y[i]",
        "x[i], y[j] -> z[i, j]",
        "a[i, :] -> b[i]",
        "... -> x[i]",
        "a[i] -> b[i, j]",
        "x[i, j], y[j, :, k] -> z[i, j, k]",
        "a[i] -> b[i], c[i]",
    ],
)
def test_round_trip(text: str) -> None:
    assert str(MapSpec.from_string(text)) == text


def test_whitespace_is_tolerated() -> None:
    spec = MapSpec.from_string("  x[ i ,j ],y[j]->z[i,  j]  ")
    assert str(spec) == "x[i, j], y[j] -> z[i, j]"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x[i] -> y[i] c", "expected ',' or the end"),
        ("x[i] y[i] -> z[i]", "expected '->'"),
        ("x[i] -> ", "expected an array name"),
        ("x -> y[i]", "needs its axes in brackets"),
        ("x[i] -> y", "needs its axes in brackets"),
        ("x[i, i] -> y[i]", "appears twice"),
        ("x[i] -> y[:]", "cannot reduce"),
        ("x[i, j] -> y[i]", "not in the output"),
        ("x[i] -> y[i], z[j]", "same axes"),
        ("x[i], x[i] -> y[i]", "more than once"),
        ("x[1] -> y[i]", "expected an axis name"),
        ("x[i -> y[i]", "expected ',' or ']'"),
        ("-> y[i]", "expected inputs before '->'"),
        ("x[i] -> y[i],", "expected an array name"),
    ],
)
def test_malformed_strings_raise_with_position(text: str, fragment: str) -> None:
    with pytest.raises(SpecError, match="column|mapspec") as info:
        MapSpec.from_string(text)
    assert fragment in str(info.value)
    assert isinstance(info.value, ValueError)


def test_error_points_at_the_problem() -> None:
    with pytest.raises(SpecError) as info:
        MapSpec.from_string("a[i] -> b[i] junk")
    assert "column 13" in str(info.value)
    assert "             ^" in str(info.value)


def test_non_string_is_rejected() -> None:
    with pytest.raises(SpecError, match="must be a string"):
        MapSpec.from_string(42)  # type: ignore[arg-type]


@pytest.mark.parametrize("quote", ["'", '"'])
def test_mapspec_wrapped_in_quotes_is_refused_with_the_unquoted_one(quote: str) -> None:
    text = f" {quote}a[i], b[j] -> c[i, j]{quote}"
    with pytest.raises(
        SpecError,
        match=r"wrapped in quotes; pass it without them: mapspec='a\[i\], b\[j\] -> c\[i, j\]'",
    ):
        MapSpec.from_string(text)


def test_properties() -> None:
    spec = MapSpec.from_string("x[i, :], y[j] -> z[i, j, k]")
    assert spec.input_names == ("x", "y")
    assert spec.output_names == ("z",)
    assert spec.external_indices == ("i", "j")
    assert spec.internal_indices == ("k",)
    assert spec.reduces


def test_keys_example() -> None:
    spec = MapSpec.from_string("x[i, j], y[j, :, k] -> z[i, j, k]")
    assert spec.input_keys((5, 2, 3), 23) == {"x": (3, 1), "y": (1, slice(None), 2)}
    assert spec.output_key((5, 2, 3), 23) == (3, 1, 2)


def test_output_key_checks_shape_and_range() -> None:
    spec = MapSpec.from_string("x[i] -> y[i]")
    with pytest.raises(SpecError, match="external axes"):
        spec.output_key((2, 3), 0)
    with pytest.raises(IndexError):
        spec.output_key((2,), 2)


def test_rename_and_rename_axes() -> None:
    spec = MapSpec.from_string("a[i, j], b[i, j] -> c[i, j]")
    assert str(spec.rename({"a": "x", "c": "out"})) == "x[i, j], b[i, j] -> out[i, j]"
    assert str(spec.rename_axes({"i": "x", "j": "y"})) == "a[x, y], b[x, y] -> c[x, y]"
    assert str(spec) == "a[i, j], b[i, j] -> c[i, j]"  # originals untouched


def test_specs_are_frozen_and_hashable() -> None:
    spec = MapSpec.from_string("x[i] -> y[i]")
    with pytest.raises(AttributeError):
        spec.inputs = ()  # type: ignore[misc]
    assert hash(spec) == hash(MapSpec.from_string("x[i] -> y[i]"))


AXES = ["i", "j", "k", "l"]


@st.composite
def mapspecs(draw: st.DrawFn) -> MapSpec:
    out_axes = draw(st.lists(st.sampled_from(AXES), min_size=1, max_size=4, unique=True))
    n_inputs = draw(st.integers(1, 3))
    inputs = []
    covered: set[str] = set()
    for n in range(n_inputs):
        axes = draw(
            st.lists(st.sampled_from(out_axes), min_size=1, max_size=len(out_axes), unique=True)
        )
        # sprinkle reductions
        with_red: list[str | None] = list(axes)
        if draw(st.booleans()):
            with_red.insert(draw(st.integers(0, len(with_red))), None)
        covered |= set(axes)
        inputs.append(ArraySpec(f"in{n}", tuple(with_red)))
    return MapSpec(tuple(inputs), (ArraySpec("out", tuple(out_axes)),))


@given(mapspecs())
@settings(max_examples=150, deadline=None)
def test_property_parse_print_round_trip(spec: MapSpec) -> None:
    assert MapSpec.from_string(str(spec)) == spec


@given(mapspecs(), st.data())
@settings(max_examples=100, deadline=None)
def test_property_keys_match_brute_force_loop(spec: MapSpec, data: st.DataObject) -> None:
    ext = spec.external_indices
    shape = tuple(data.draw(st.integers(1, 3)) for _ in ext)
    # a brute-force C-order nested loop over the external axes
    for linear, combo in enumerate(itertools.product(*(range(n) for n in shape))):
        pos = dict(zip(ext, combo, strict=True))
        assert spec.output_key(shape, linear) == combo
        expected = {
            inp.name: tuple(slice(None) if a is None else pos[a] for a in inp.axes)
            for inp in spec.inputs
        }
        assert spec.input_keys(shape, linear) == expected
        assert np.ravel_multi_index(combo, shape) == linear
