"""Refusals while computing are the builtin exception Python code would raise.

Each is an hpcflow error (its message names the output or axis and the way out) and
also the builtin a caller written for plain Python, or for pipefunc, catches.
"""

from __future__ import annotations

import pytest

from hpcflow import Func, InputError, Pipeline, PipelineError
from hpcflow.errors import FixedIndexError


def grid() -> Pipeline:
    return Pipeline([Func(lambda x, y: (x, y), "z", mapspec="x[i], y[j] -> z[i, j]")])


@pytest.mark.parametrize("index", [3, 2000, -4])
def test_an_out_of_range_fixed_index_is_an_index_error(index: int) -> None:
    with pytest.raises(IndexError) as info:
        grid().map({"x": [1, 2, 3], "y": [4, 5]}, fixed_indices={"i": index}, parallel=False)
    err = info.value
    assert isinstance(err, FixedIndexError) and isinstance(err, InputError)
    assert f"fixed_indices['i']={index}" in str(err)
    assert "length 3" in str(err) and "from -3 to 2" in str(err)


def test_in_range_fixed_indices_still_run() -> None:
    r = grid().map({"x": [1, 2, 3], "y": [4, 5]}, fixed_indices={"i": -1, "j": 0}, parallel=False)
    assert r["z"].output[2, 0] == (3, 4)


def test_elements_of_unequal_internal_shape_are_a_value_error() -> None:
    # the internal shape "?" is learned from the first element, (2,); the second is (3,)
    f = Func(lambda n: list(range(n)), "x", mapspec="n[k] -> x[i, k]")
    with pytest.raises(ValueError, match=r"shape \(3,\).*internal shape is \(2,\)") as info:
        Pipeline([f]).map({"n": [2, 3]}, parallel=False)
    assert isinstance(info.value, PipelineError)
    assert "every element must return that shape" in str(info.value)


def test_a_declared_internal_shape_that_does_not_fit_is_a_value_error() -> None:
    f = Func(lambda a: [a], "b", mapspec="a[i] -> b[i, j]", internal_shape=2)
    with pytest.raises(ValueError, match=r"internal_shapes=\{'b': \(1,\)\}") as info:
        Pipeline([f]).map({"a": [1]}, parallel=False)
    assert isinstance(info.value, PipelineError)


def test_a_wrong_number_of_outputs_is_a_value_error() -> None:
    f = Func(lambda a: a, ("b", "c"), mapspec="a[i] -> b[i], c[i]")
    with pytest.raises(ValueError, match="must return a tuple of 2") as info:
        Pipeline([f]).map({"a": [1]}, parallel=False)
    assert isinstance(info.value, PipelineError)


def test_an_unknown_storage_is_a_value_error_and_a_key_error() -> None:
    # a bad storage= argument is a ValueError; a failed registry lookup a KeyError
    p = Pipeline([Func(lambda x: x, "y")])
    with pytest.raises(ValueError, match="unknown storage 'invalid'") as info:
        p.map({"x": 1}, storage="invalid", parallel=False)
    assert isinstance(info.value, KeyError)
    assert "register_storage" in str(info.value)
