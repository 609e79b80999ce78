"""MapSpec parsing, printing and index algebra (with property-based checks)."""

from __future__ import annotations

import itertools
from typing import Any

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


# ------------------------------------------------------------ ArraySpec / MapSpec helpers
def test_arrayspec_rank_validate_add_and_rename_axes() -> None:
    a = ArraySpec("a", ("i", None, "j"))
    assert a.rank == 3
    a.validate((2, 3, 4))
    a.validate((2, 3, 4, 5))  # trailing axes belong to the elements, as in map
    with pytest.raises(SpecError, match=r"a\[i, :, j\] indexes 3 axes .* shape \(2, 3\)"):
        a.validate((2, 3))
    assert str(a.add_axes("k", None)) == "a[i, :, j, k, :]"
    with pytest.raises(SpecError, match="cannot add axis 'j' to a"):
        a.add_axes("j")
    renamed = a.rename_axes({"i": "x", "z": "w"})
    assert renamed == ArraySpec("a", ("x", None, "j"))
    assert a.axes == ("i", None, "j")  # frozen: a new spec, this one unchanged


def test_mapspec_add_axes_and_to_string() -> None:
    spec = MapSpec.from_string("a[i], b[j] -> c[i, j]")
    new = spec.add_axes("k")
    assert new.to_string() == "a[i, k], b[j, k] -> c[i, j, k]"
    assert MapSpec.from_string(new.to_string()) == new
    assert spec.to_string() == "a[i], b[j] -> c[i, j]"
    with pytest.raises(SpecError, match="cannot add axis 'i'"):
        spec.add_axes("i")
    with pytest.raises(SpecError, match="output c.* uses ':'"):
        spec.add_axes(None)


@pytest.mark.parametrize(
    ("text", "inputs", "internal", "shape", "mask"),
    [
        ("a[i], b[i] -> q[i]", {"a": (3,), "b": (3,)}, None, (3,), (True,)),
        ("... -> b[j]", {}, {"b": (3,)}, (3,), (False,)),
        ("... -> b[j]", {}, {"b": 3}, (3,), (False,)),
        ("... -> b[j]", {}, None, ("?",), (False,)),
        ("x[i, j], y[j, k] -> z[i, j, k, l]", {"x": (2, 3), "y": (3, 4)}, {"z": (5,)},
         (2, 3, 4, 5), (True, True, True, False)),
        ("a[j] -> b[i, j, k, l]", {"a": (2,)}, {"b": (3, 4, 5)}, (3, 2, 4, 5),
         (False, True, False, False)),
        ("a[i, :] -> b[i]", {"a": (2, 7)}, None, (2,), (True,)),
        ("a[i], b[j] -> c[i, j]", {"a": ("?",), "b": (4,)}, None, ("?", 4), (True, True)),
        ("a[i] -> c[i]", {"a": (3, 9)}, None, (3,), (True,)),  # (3, 9): rows of 9
    ],
)  # fmt: skip
def test_mapspec_shape(
    text: str, inputs: dict, internal: dict | None, shape: tuple, mask: tuple
) -> None:
    assert MapSpec.from_string(text).shape(inputs, internal) == (shape, mask)


@pytest.mark.parametrize(
    ("text", "inputs", "internal", "error"),
    [
        ("a[i] -> b[i, j]", {"a": (3,), "extra": (3,)}, None, r"names \['extra'\], which"),
        ("a[i], b[j] -> c[i, j]", {"a": (3,)}, None, r"lacks \['b'\]"),
        ("a[i, j], b[j] -> c[i, j]", {"a": (2, 3), "b": (4,)}, None,
         "axis 'j' has length 3 in 'a' but 4 in 'b'"),
        ("a[i, j] -> b[i, j, k]", {"a": (2, 3)}, {"b": ()}, r"internal_shapes\['b'\]=\(\) is too short"),
        ("a[i] -> b[i, j]", {"a": (3,)}, {"extra": (3,)}, "names 'extra', which is not an output"),
        ("a[i] -> c[i, k]", {"a": (3,)}, {"c": (object(),)}, "each dimension must be an int"),
        ("a[i, j] -> c[i, j]", {"a": (3,)}, None, r"indexes 2 axes but the array 'a' has shape \(3,\)"),
        ("a[i] -> b[i, k], c[i, k]", {"a": (3,)}, {"b": (2,), "c": (5,)}, "different shapes"),
    ],
)  # fmt: skip
def test_mapspec_shape_errors_name_the_problem(
    text: str, inputs: dict, internal: dict | None, error: str
) -> None:
    with pytest.raises(SpecError, match=error):
        MapSpec.from_string(text).shape(inputs, internal)


def test_trace_dependencies_follows_axes_to_root_arrays() -> None:
    from hpcflow.spec.mapspec import trace_dependencies

    specs = [
        MapSpec.from_string(t)
        for t in (
            "... -> g[i]",  # generated: a root array
            "g[i], b[j] -> x[i, j]",
            "x[i, j], c[k] -> y[i, j, k]",
            "y[i, :, k] -> z[k, i]",  # ':' drops j (and so b)
            "n[j] -> w[i, j]",  # i is generated inside, from no root
            "w[:, j], x[:, j] -> s[j]",
        )
    ]
    assert trace_dependencies(specs) == {
        "x": {"g": ("i",), "b": ("j",)},
        "y": {"g": ("i",), "b": ("j",), "c": ("k",)},
        "z": {"c": ("k",), "g": ("i",)},
        "w": {"n": ("j",)},
        "s": {"b": ("j",), "n": ("j",)},
    }
    # traced by position, so a consumer may call an axis by another name
    renamed = [MapSpec.from_string("a[i] -> x[i]"), MapSpec.from_string("x[k] -> y[k]")]
    assert trace_dependencies(renamed) == {"x": {"a": ("i",)}, "y": {"a": ("k",)}}


def test_trace_dependencies_refuses_a_cycle() -> None:
    from hpcflow.spec.mapspec import trace_dependencies

    cycle = [MapSpec.from_string("y[i] -> x[i]"), MapSpec.from_string("x[i] -> y[i]")]
    with pytest.raises(SpecError, match="cycle: x -> y -> x"):
        trace_dependencies(cycle)


@pytest.mark.parametrize("shape", [(-3,), ("3",), (2.5,), (True,), 3, "3", None])
def test_a_shape_that_is_no_tuple_of_lengths_is_refused_naming_the_array(shape: Any) -> None:
    spec = MapSpec.from_string("x[i], y[j] -> z[i, j]")
    with pytest.raises(SpecError, match="array 'x'"):
        spec.shape({"x": shape, "y": (4,)})
    with pytest.raises(SpecError, match="array 'x'"):
        spec.inputs[0].validate(shape)
    assert spec.shape({"x": (np.int64(3),), "y": ("?",)}) == ((3, "?"), (True, True))


def test_array_spec_axes_as_a_string_are_refused_and_a_list_is_a_tuple() -> None:
    with pytest.raises(SpecError, match=r"axes of array 'x' must be a tuple .* got 'ij'"):
        ArraySpec("x", "ij")  # type: ignore[arg-type]
    listed = ArraySpec("x", ["i", None])  # type: ignore[arg-type]
    assert listed == ArraySpec("x", ("i", None)) and hash(listed) == hash(
        ArraySpec("x", ("i", None))
    )


def test_trace_dependencies_takes_strings_and_refuses_two_producers_of_one_array() -> None:
    from hpcflow.spec.mapspec import trace_dependencies

    assert trace_dependencies(["a[i] -> x[i]", "x[i] -> y[i]"]) == {
        "x": {"a": ("i",)},
        "y": {"a": ("i",)},
    }
    with pytest.raises(SpecError, match="'x' is the output of two mapspecs"):
        trace_dependencies(["a[i] -> x[i]", "b[j] -> x[j]"])
    with pytest.raises(SpecError, match="MapSpec objects or mapspec strings"):
        trace_dependencies([3])  # type: ignore[list-item]


def test_mapspec_shape_of_no_dict_is_refused_naming_the_argument() -> None:
    with pytest.raises(SpecError, match="input_shapes must be a dict"):
        MapSpec.from_string("x[i] -> y[i]").shape(None)  # type: ignore[arg-type]


def test_shape_gives_numpy_lengths_back_as_plain_ints() -> None:
    # before, np.int64(3) came back as it was: map_shapes gives ints, json.dumps refused it
    shape, _ = MapSpec.from_string("x[i], y[j] -> z[i, j]").shape(
        {"x": (np.int64(3),), "y": (np.int32(2),)}
    )
    assert shape == (3, 2)
    assert [type(n) for n in shape] == [int, int]
