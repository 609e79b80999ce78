"""An axis name reused after a full reduction names a new axis, with a length of its own."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import hpcflow.map
from hpcflow import Func, InputError, Pipeline
from hpcflow.plan import shapes
from hpcflow.spec.mapspec import MapSpec
from hpcflow.testing import FakeScheduler


def times_ten(x: int) -> int:
    return 10 * x


def three_sums(y: np.ndarray) -> list[int]:
    return [int(sum(y))] * 3


def plus_one(s: int) -> int:
    return s + 1


def _reduce_then_reuse(consumer_spec: str | None = "y[:] -> s[i]") -> Pipeline:
    return Pipeline(
        [
            Func(times_ten, "y", mapspec="x[i] -> y[i]"),
            Func(three_sums, "s", mapspec=consumer_spec),
            Func(plus_one, "t", mapspec="s[i] -> t[i]"),
        ]
    )


def test_axis_reused_after_a_full_reduction_gets_its_own_length() -> None:
    results = _reduce_then_reuse().map({"x": [1, 2]}, parallel=False)
    assert results["y"].output.tolist() == [10, 20]
    assert results["s"].output.tolist() == [30, 30, 30]
    assert results["t"].output.tolist() == [31, 31, 31]


def test_the_suggested_internal_shapes_now_work() -> None:
    # the earlier run-time error suggested exactly this, which then raised a clash
    p = _reduce_then_reuse("... -> s[i]")  # an unmapped consumer of y
    results = p.map({"x": [1, 2]}, parallel=False, internal_shapes={"s": (3,)})
    assert results["s"].output.tolist() == [30, 30, 30]


def test_zipped_axes_still_need_equal_lengths() -> None:
    p = Pipeline(
        [
            Func(times_ten, "y", mapspec="x[i] -> y[i]"),
            Func(three_sums, "s", mapspec="y[:] -> s[i]"),
            Func(lambda s, x: s + x, "t", mapspec="s[i], x[i] -> t[i]"),
        ]
    )
    # s and x are zipped by t, so s's axis is x's: length 2, and the internal shape clashes
    with pytest.raises(InputError, match="axis 'i' has length 2 in 'x'"):
        p.map({"x": [1, 2]}, parallel=False, internal_shapes={"s": (3,)})


def test_axis_lengths_connect_through_arrays_not_names() -> None:
    specs = [MapSpec.from_string(s) for s in ("x[i] -> y[i]", "y[i] -> z[i]", "z[:] -> s[i]")]
    lengths = shapes.AxisLengths(specs)
    lengths.learn(specs[0], {"x": (4,)})
    assert lengths.length(specs[1], "i") == 4  # through y
    assert lengths.length(specs[2], "i") is None  # the reduction ends the axis
    with pytest.raises(InputError, match="axis 'i' has length 4 in 'x'"):
        lengths.set(specs[1], "i", 5, "z")


def test_reused_axes_are_distinct_dimensions_in_datasets(tmp_path: Path) -> None:
    pytest.importorskip("xarray")
    inputs = {"x": [1, 2]}
    results = _reduce_then_reuse().map(inputs, run_folder=tmp_path / "run", parallel=False)
    for ds in (results.to_xarray(), hpcflow.map.load_xarray_dataset(run_folder=tmp_path / "run")):
        assert dict(ds.sizes) == {"i": 2, "i_1": 3}
        assert ds["y"].dims == ("i",)
        assert ds["t"].dims == ("i_1",)
        assert ds["t"].values.tolist() == [31, 31, 31]
    assert shapes.distinct_dims(_reduce_then_reuse().mapspecs)["s"] == ("i_1",)


def test_a_user_axis_named_like_the_new_dimension_keeps_its_name() -> None:
    specs = [MapSpec.from_string(s) for s in ("x[i] -> y[i]", "y[:] -> s[i]", "a[i_1] -> b[i_1]")]
    assert shapes.distinct_dims(specs) == {
        "x": ("i",), "y": ("i",), "s": ("i_2",), "a": ("i_1",), "b": ("i_1",)
    }  # fmt: skip


def test_reused_axis_in_a_submitted_run(tmp_path: Path) -> None:
    fake = FakeScheduler()
    # the shape given up front: a '?' shape would need a follow-up job, which submits
    # from its own process, outside this FakeScheduler
    run = _reduce_then_reuse().submit(
        {"x": [1, 2]}, tmp_path / "run", scheduler=fake, internal_shapes={"s": (3,)}
    )
    fake.run_all()
    assert run.status().complete
    assert hpcflow.map.load_outputs("t", run_folder=tmp_path / "run").tolist() == [31, 31, 31]
