"""Datasets and DataFrames from the in-memory results of ``map`` (no run folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hpcflow import Func, InputError, Pipeline
from hpcflow.map import (
    ResultDict,
    dataframe_from_results,
    load_dataframe,
    load_xarray_dataset,
    xarray_dataset_from_results,
)
from tests.element.test_local import expected_three_stage, inputs, three_stage


def test_in_memory_dataset_equals_the_folder_one(tmp_path: Path) -> None:
    p = three_stage()
    results = p.map(inputs(3), tmp_path, parallel=False)
    in_memory = xarray_dataset_from_results(inputs(3), results, p)
    assert in_memory.identical(load_xarray_dataset(run_folder=tmp_path))
    assert in_memory["e"].dims == ("i", "j")
    assert np.array_equal(in_memory["e"].values, expected_three_stage(3))
    assert set(in_memory.coords) == {"a", "b", "x", "y"}


def test_dict_storage_to_xarray_and_to_dataframe() -> None:
    results = three_stage().map(inputs(2), parallel=False, storage="dict")
    ds = results.to_xarray()
    assert ds["d"].dims == ("i", "j", "k")
    assert ds["x"].values.tolist() == [0, 1]
    df = results.to_dataframe("e")
    assert len(df) == 4
    assert sorted(df["e"].tolist()) == sorted(expected_three_stage(2).ravel().tolist())


def test_in_memory_dataframe_equals_the_folder_one(tmp_path: Path) -> None:
    p = three_stage()
    results = p.map(inputs(2), tmp_path, parallel=False)
    df = dataframe_from_results(inputs(2), results, p)
    assert df.equals(load_dataframe(run_folder=tmp_path))
    assert len(df) == 8


def test_intermediate_outputs_become_coordinates(tmp_path: Path) -> None:
    # c[k] feeds d[i, j, k] element-wise: loading d alone puts c on d's k axis
    results = three_stage().map(inputs(3), tmp_path, parallel=False)
    for ds in (results.to_xarray("d"), load_xarray_dataset("d", run_folder=tmp_path)):
        assert set(ds.data_vars) == {"d"}
        assert ds.coords["c"].dims == ("k",)
        assert ds.coords["c"].values.tolist() == [0, 2, 4]
    plain = results.to_xarray("d", load_intermediate=False)
    assert "c" not in plain.coords
    assert set(plain.coords) == {"a", "b", "x", "y"}


def test_single_values_and_generated_axes_in_memory() -> None:
    gen = Func(lambda n: list(range(n)), "x", mapspec="... -> x[i]")
    sq = Func(lambda x: x * x, "y", mapspec="x[i] -> y[i]")
    tot = Func(lambda y: int(sum(y)), "total")
    results = Pipeline([gen, sq, tot]).map({"n": 3}, parallel=False, internal_shapes={"x": 3})
    ds = results.to_xarray()
    assert ds["y"].values.tolist() == [0, 1, 4]
    assert int(ds["total"]) == 5
    assert set(results.to_xarray(load_intermediate=False).data_vars) == {"total"}


def test_a_bare_result_dict_names_the_function_to_use() -> None:
    with pytest.raises(InputError, match=r"xarray_dataset_from_results\(inputs, results"):
        ResultDict().to_xarray()


def test_unknown_output_and_foreign_pipeline_are_named() -> None:
    p = three_stage()
    results = p.map(inputs(2), parallel=False)
    with pytest.raises(InputError, match="no outputs \\['nope'\\]"):
        results.to_xarray("nope")
    other = Pipeline([Func(lambda q: q, "r")])
    with pytest.raises(InputError, match="no func of .* produces"):
        xarray_dataset_from_results(inputs(2), results, other)


def test_only_single_values_make_one_row(tmp_path: Path) -> None:
    pairs = Func(lambda x: (x, 2 * x), "pair", mapspec="x[i] -> pair[i]")
    listed = Func(lambda pair: [tuple(p) for p in pair], "listed")
    p = Pipeline([pairs, listed, Func(lambda: [1, 2, 3], "plain")])
    results = p.map({"x": [1, 2]}, tmp_path, parallel=False)
    for df in (
        load_dataframe("listed", "plain", run_folder=tmp_path),
        results.to_dataframe("listed", "plain"),
    ):
        assert len(df) == 1
        assert df["listed"].iloc[0] == [(1, 2), (2, 4)]  # the value as returned, one cell
        assert df["plain"].iloc[0] == [1, 2, 3]
    polars = load_dataframe("plain", run_folder=tmp_path, backend="polars")
    assert polars.shape == (1, 1) and polars["plain"][0] == [1, 2, 3]
    # with a mapped output among them, single values still stay out of the long table
    assert list(load_dataframe("pair", "plain", run_folder=tmp_path).columns) == ["i", "x", "pair"]
