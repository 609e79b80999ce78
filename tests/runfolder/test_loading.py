"""Loading runs as xarray Datasets and pandas/polars DataFrames."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpcflow import Func, Pipeline
from hpcflow.map import load_dataframe, load_xarray_dataset
from tests.element.test_local import expected_three_stage, inputs, three_stage


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("loading") / "run"
    three_stage().map(inputs(3), folder, parallel=False)
    return folder


def test_xarray_dims_coords_values(finished: Path) -> None:
    ds = load_xarray_dataset(run_folder=finished)
    assert ds["d"].dims == ("i", "j", "k")
    assert ds["e"].dims == ("i", "j")
    assert ds["e"].dtype.kind == "i"
    assert np.array_equal(ds["e"].values, expected_three_stage(3))
    assert ds["x"].dims == ("i",)
    assert ds["x"].values.tolist() == [0, 1, 2]
    assert set(ds.coords) >= {"a", "b", "x", "y"}


def test_xarray_final_outputs_only(finished: Path) -> None:
    assert set(load_xarray_dataset(run_folder=finished, load_intermediate=False).data_vars) == {"e"}
    assert set(load_xarray_dataset("c", run_folder=finished).data_vars) == {"c"}


def test_xarray_partial_run_masks_as_nan(tmp_path: Path) -> None:
    f = Func(lambda x, y: x * y, "z", mapspec="x[i], y[j] -> z[i, j]")
    Pipeline([f]).map({"x": [1, 2], "y": [3, 4]}, tmp_path, parallel=False, fixed_indices={"i": 0})
    z = load_xarray_dataset("z", run_folder=tmp_path)["z"].values
    assert z[0].tolist() == [3.0, 4.0]
    assert np.isnan(z[1]).all()


def test_single_values_and_objects(tmp_path: Path) -> None:
    f = Func(lambda x: {"v": x}, "obj", mapspec="x[i] -> obj[i]")
    g = Func(lambda obj: len(obj), "n")  # noqa: PLW0108 (len is positional-only)
    Pipeline([f, g]).map({"x": [1, 2]}, tmp_path, parallel=False)
    ds = load_xarray_dataset(run_folder=tmp_path)
    assert ds["obj"].values.tolist() == [{"v": 1}, {"v": 2}]
    assert int(ds["n"]) == 2


def test_pandas_dataframe(finished: Path) -> None:
    df = load_dataframe(run_folder=finished)
    assert len(df) == 27
    assert {"i", "j", "k", "x", "y", "a", "b", "c", "d", "e"} <= set(df.columns)
    row = df[(df.i == 2) & (df.j == 1) & (df.k == 0)].iloc[0]
    assert row["e"] == expected_three_stage(3)[2, 1]
    assert row["x"] == 2


def test_polars_dataframe(finished: Path) -> None:
    df = load_dataframe("e", run_folder=finished, backend="polars")
    assert df.shape[0] == 9
    assert sorted(df["e"].to_list()) == sorted(expected_three_stage(3).ravel().tolist())


def test_bad_backend(finished: Path) -> None:
    with pytest.raises(ValueError, match="backend"):
        load_dataframe(run_folder=finished, backend="spark")  # type: ignore[arg-type]


def test_missing_extra_names_the_install(finished: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def fake(name: str, *args: Any) -> Any:
        if name == "xarray":
            raise ImportError("no xarray")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ImportError, match=r"pip install xarray \(hpcflow's 'xarray' extra\)"):
        load_xarray_dataset(run_folder=finished)


def test_unknown_output(finished: Path) -> None:
    with pytest.raises(Exception, match="no outputs"):
        load_xarray_dataset("nope", run_folder=finished)
