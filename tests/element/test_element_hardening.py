"""Element results under hostile use (hardening issue #13, items 6, 8 and 10)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import ErrorSnapshot, Func, Pipeline
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
