"""`map_shapes` / `Pipeline.shapes`: the shapes a run would give, before it runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcflow import Func, Pipeline
from hpcflow.errors import InputError, PipelineError
from hpcflow.map import MapShapes, load_outputs, map_shapes


def _generate_then_map() -> Pipeline:
    return Pipeline(
        [
            Func(lambda n: list(range(n)), "x", mapspec="... -> x[i]"),
            Func(lambda x, z: x + z, "y", mapspec="x[i], z[k] -> y[i, k]"),
            Func(lambda y: [int(v) for v in y], "s", mapspec="y[:, k] -> s[k, j]"),
        ]
    )


def test_shapes_and_masks_match_what_map_builds(tmp_path: Path) -> None:
    p = _generate_then_map()
    inputs = {"n": 4, "z": [10, 20]}
    internal = {"x": 4, "s": (4,)}
    shapes, masks = map_shapes(p, inputs, internal)
    assert shapes == {"z": (2,), "x": (4,), "y": (4, 2), "s": (2, 4)}
    assert masks == {"z": (True,), "x": (False,), "y": (True, True), "s": (True, False)}
    p.map(inputs, tmp_path, internal, parallel=False)
    for name in ("y", "s"):
        assert np.shape(load_outputs(name, run_folder=tmp_path)) == shapes[name]
    assert len(load_outputs("x", run_folder=tmp_path)) == 4


def test_unknown_generated_length_is_a_question_mark_downstream() -> None:
    shapes, masks = map_shapes(_generate_then_map(), {"n": 4, "z": [1, 2, 3]})
    assert shapes == {"z": (3,), "x": ("?",), "y": ("?", 3), "s": (3, "?")}
    assert masks["y"] == (True, True)  # mapped over, even if its length is not known yet


def test_multi_output_func_is_listed_under_its_names_and_their_tuple() -> None:
    p = Pipeline([Func(lambda a: (a, -a), ("p", "q"), mapspec="a[i] -> p[i], q[i]")])
    shapes, masks = map_shapes(p, {"a": np.arange(5)})
    assert shapes == {"a": (5,), ("p", "q"): (5,), "p": (5,), "q": (5,)}
    assert all(all(m) for m in masks.values())


def test_only_mapped_axes_of_an_input_count_and_defaults_are_used() -> None:
    f = Func(lambda x, w: x.sum() * w, "y", mapspec="x[i], w[j] -> y[i, j]", defaults={"w": [1, 2]})
    shapes, _ = map_shapes(Pipeline([f]), {"x": np.ones((3, 7))})
    assert shapes == {"x": (3,), "w": (2,), "y": (3, 2)}


def test_pipeline_shapes_is_the_same_preview() -> None:
    p = _generate_then_map()
    got = p.shapes({"n": 2, "z": [1]}, {"x": 2})
    assert isinstance(got, MapShapes)
    assert got == map_shapes(p, {"n": 2, "z": [1]}, {"x": 2})


def test_refuses_what_map_refuses() -> None:
    p = _generate_then_map()
    with pytest.raises(InputError, match=r"missing inputs \['z'\]"):
        map_shapes(p, {"n": 4})
    with pytest.raises(InputError, match="internal_shapes names 'nope'"):
        map_shapes(p, {"n": 4, "z": [1]}, {"nope": 3})
    with pytest.raises(InputError, match=r"internal shape \(4, 4\) of 'x' has 2 dims"):
        map_shapes(p, {"n": 4, "z": [1]}, {"x": (4, 4)})
    zipped = Pipeline([Func(lambda a, b: a + b, "c", mapspec="a[i], b[i] -> c[i]")])
    with pytest.raises(InputError, match="axis 'i' has length 2"):
        map_shapes(zipped, {"a": [1, 2], "b": [1, 2, 3]})


def test_map_shapes_takes_internal_shapes_by_its_documented_name() -> None:
    p = _generate_then_map()
    got = map_shapes(p, {"n": 2, "z": [1]}, internal_shapes={"x": 2})
    assert got.shapes["x"] == (2,)


def test_inputs_or_internal_shapes_that_are_no_dict_are_refused_naming_them() -> None:
    p = _generate_then_map()
    with pytest.raises(InputError, match="inputs must be a dict"):
        map_shapes(p, [4, [1]])  # type: ignore[arg-type]
    for bad in (3, [("x", 2)]):
        with pytest.raises(InputError, match=r"internal_shapes=.* must be a dict of output"):
            map_shapes(p, {"n": 2, "z": [1]}, bad)
        with pytest.raises(InputError, match=r"internal_shapes=.* must be a dict of output"):
            p.map({"n": 2, "z": [1]}, internal_shapes=bad, parallel=False)


def _two_generated_outputs() -> Pipeline:
    return Pipeline([Func(lambda n: ([0] * n, [1] * n), ("a", "b"), mapspec="... -> a[i], b[i]")])


def test_an_internal_shape_given_for_a_second_output_is_the_funcs_shape() -> None:
    # the outputs of one func share their axes: an entry for 'b' is one for 'a' too
    shapes, _ = map_shapes(_two_generated_outputs(), {"n": 3}, {"b": 3})
    assert shapes == {("a", "b"): (3,), "a": (3,), "b": (3,)}


def test_map_holds_a_func_to_the_internal_shape_given_for_its_second_output() -> None:
    # before, map read only the first output's entry and learned (2,) silently
    with pytest.raises(PipelineError, match=r"internal shape is \(3,\)"):
        _two_generated_outputs().map({"n": 2}, internal_shapes={"b": 3}, parallel=False)


def test_different_internal_shapes_for_one_funcs_outputs_are_refused() -> None:
    with pytest.raises(InputError, match=r"outputs \('a', 'b'\) of '<lambda>' different"):
        _two_generated_outputs().map({"n": 2}, internal_shapes={"a": 3, "b": 2}, parallel=False)
