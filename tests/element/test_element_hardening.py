"""Element results under hostile use (hardening issue #13, items 6, 8, 10 and 12)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpcflow import CorruptDataError, ErrorSnapshot, Func, Pipeline, StorageError
from hpcflow.map import FileArray, load_outputs

BACKENDS = ["file_array", "chunked_file_array", "dict", "zarr_file_array"]


def two_each(x: int) -> list[int]:
    if x == 1:
        raise ValueError("bad x=1")
    return [x, 10 * x]


@pytest.mark.parametrize("storage", BACKENDS)
def test_a_failed_element_fills_its_generated_block(storage: str, tmp_path: Path) -> None:
    p = Pipeline([Func(two_each, "y", mapspec="x[i] -> y[i, j]", internal_shape=2)])
    r = p.map(
        {"x": [0, 1, 2]}, tmp_path / "r", parallel=False, storage=storage,
        error_handling="continue",
    )  # fmt: skip
    for y in (r["y"].output, load_outputs("y", run_folder=tmp_path / "r")):
        assert y.shape == (3, 2)
        assert y[0].tolist() == [0, 0] and y[2].tolist() == [2, 20]
        assert all(isinstance(v, ErrorSnapshot) for v in y[1])
        assert y[1, 0].exception_type == "ValueError"


def double(a: int) -> int:
    with open(COUNTER, "a") as fh:  # one line per computed element
        fh.write("x\n")
    return 2 * a


COUNTER = Path("/nonexistent")


def test_resume_with_an_equal_file_array_input_computes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.COUNTER", tmp_path / "count")
    p = Pipeline([Func(double, "b", mapspec="a[i] -> b[i]")])
    FileArray.from_data([1, 2, 3], tmp_path / "data")
    first = p.map({"a": FileArray(tmp_path / "data", (3,))}, tmp_path / "r", parallel=False)
    assert (tmp_path / "count").read_text().count("x") == 3
    again = p.map(
        {"a": FileArray(tmp_path / "data", (3,))}, tmp_path / "r", parallel=False, resume=True
    )
    assert (tmp_path / "count").read_text().count("x") == 3  # nothing computed again
    assert again["b"].output.tolist() == first["b"].output.tolist() == [2, 4, 6]


def lock_for_one(x: int) -> Any:
    return threading.Lock() if x == 1 else x


def _unpicklable_pipeline() -> Pipeline:
    return Pipeline([Func(lock_for_one, "y", mapspec="x[i] -> y[i]")])


@pytest.mark.parametrize(
    ("storage", "parallel"),
    [(s, False) for s in BACKENDS]
    + [(s, True) for s in BACKENDS if s != "zarr_file_array"]
    # kept in memory, persisted into the folder; it finds a bad value when writing it
    + [("zarr_memory", False), ("zarr_memory", True)],
)
def test_an_unpicklable_output_is_that_elements_error(
    storage: str, parallel: bool, tmp_path: Path
) -> None:
    r = _unpicklable_pipeline().map(
        {"x": [0, 1, 2]}, tmp_path / "r", parallel=parallel, storage=storage,
        error_handling="continue", chunksizes=3,
    )  # fmt: skip
    for y in (r["y"].output, load_outputs("y", run_folder=tmp_path / "r")):
        assert y[0] == 0 and y[2] == 2  # the chunk's other elements are kept
        snap = y[1]
        assert isinstance(snap, ErrorSnapshot) and snap.exception_type == "StorageError"
        assert "'y'" in snap.message and "(1,)" in snap.message and "lock" in snap.message
        assert snap.kwargs == {"x": 1}
    markers = list((tmp_path / "r" / "markers").rglob("*.json"))
    assert [i for m in markers for i in json.loads(m.read_text())["failed"]] == [1]


@pytest.mark.parametrize("storage", ["file_array", "chunked_file_array"])
def test_an_unpicklable_output_under_raise_names_func_output_and_element(
    storage: str, tmp_path: Path
) -> None:
    with pytest.raises(StorageError, match=r"'y' of 'lock_for_one' at element \(1,\)"):
        _unpicklable_pipeline().map(
            {"x": [0, 1, 2]}, tmp_path / "r", parallel=False, storage=storage, chunksizes=3
        )
    y = load_outputs("y", run_folder=tmp_path / "r")
    # what was computed before stays stored (per-element backends stop at the failure)
    assert y[0] == 0 and y[1] is np.ma.masked


def lock_single() -> Any:
    return threading.Lock()


def test_an_unpicklable_single_value_is_its_error(tmp_path: Path) -> None:
    r = Pipeline([Func(lock_single, "s")]).map({}, tmp_path / "r", error_handling="continue")
    stored = load_outputs("s", run_folder=tmp_path / "r")
    assert isinstance(stored, ErrorSnapshot) and "'s'" in stored.message
    assert isinstance(r["s"].output, ErrorSnapshot)


def inc(x: int) -> int:
    with open(COUNTER, "a") as fh:
        fh.write(f"{x}\n")
    return x + 1


@pytest.mark.parametrize("storage", ["file_array", "chunked_file_array", "zarr_file_array"])
def test_resume_computes_a_damaged_element_again(
    storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(f"{__name__}.COUNTER", tmp_path / "count")
    p = Pipeline([Func(inc, "y", mapspec="x[i] -> y[i]")])
    folder = tmp_path / "r"
    p.map({"x": [0, 1, 2, 3]}, folder, parallel=False, storage=storage, chunksizes=2)
    if storage == "zarr_file_array":  # chunks of 2: c/1 holds elements 2 and 3
        damaged = folder / "outputs" / "y" / "values" / "c" / "1"
    else:
        damaged = sorted((folder / "outputs" / "y").rglob("*.pickle"))[-1]  # holds element 3
    damaged.write_bytes(damaged.read_bytes()[:-4])
    with pytest.raises(CorruptDataError, match=str(damaged)):
        load_outputs("y", run_folder=folder)
    before = (tmp_path / "count").read_text().split()
    with pytest.warns(UserWarning, match="computed again"):
        r = p.map(
            {"x": [0, 1, 2, 3]}, folder, parallel=False, storage=storage, chunksizes=2,
            resume=True,
        )  # fmt: skip
    again = (tmp_path / "count").read_text().split()[len(before) :]
    assert "3" in again and "0" not in again  # only the damaged file's elements
    assert r["y"].output.tolist() == [1, 2, 3, 4]
    assert load_outputs("y", run_folder=folder).tolist() == [1, 2, 3, 4]
    assert list((folder / "superseded").glob(f"damaged-*/outputs/y/**/{damaged.name}"))


def test_resume_computes_a_damaged_single_value_again(tmp_path: Path) -> None:
    p = Pipeline([Func(lambda: 42, "s")])
    p.map({}, tmp_path / "r")
    (tmp_path / "r" / "outputs" / "s.cloudpickle").write_bytes(b"garbage")
    with pytest.raises(CorruptDataError, match="s.cloudpickle"):
        load_outputs("s", run_folder=tmp_path / "r")
    with pytest.warns(UserWarning, match="computed again"):
        r = p.map({}, tmp_path / "r", resume=True)
    assert r["s"].output == 42 and load_outputs("s", run_folder=tmp_path / "r") == 42
