"""``map(chunksizes=...)`` takes pipefunc's forms: an int, or a dict per output of ints,
callables of the number of elements, or None; anything else is refused naming it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hpcflow import Func, InputError, Pipeline
from hpcflow.testing import FakeScheduler


def pipeline() -> Pipeline:
    return Pipeline(
        [
            Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]"),
            Func(lambda y: (y, -y), ("a", "b"), mapspec="y[i] -> a[i], b[i]"),
        ]
    )


def chunks(folder: Path, output: str) -> list[str]:
    """The chunks a run computed, from the marker each chunk leaves."""
    found = [
        p
        for d in (folder / "markers").iterdir()
        if output in d.name.split("-")
        for p in d.iterdir()
    ]
    return sorted((p.stem for p in found), key=lambda s: int(s.split("-")[0]))


def run(tmp_path: Path, chunksizes: Any, parallel: bool = True) -> Path:
    folder = tmp_path / "run"
    with ThreadPoolExecutor(2) as ex:
        r = pipeline().map(
            {"x": list(range(5))}, folder, executor=ex if parallel else None,
            parallel=parallel, chunksizes=chunksizes,
        )  # fmt: skip
    assert r["a"].output.tolist() == [0, 2, 4, 6, 8]
    return folder


def test_an_int_is_the_chunk_size_of_every_func(tmp_path: Path) -> None:
    folder = run(tmp_path, 2)
    assert chunks(folder, "y") == ["0-2", "2-4", "4-5"]
    assert chunks(folder, "a") == ["0-2", "2-4", "4-5"]


def test_a_dict_per_output_with_a_default_and_a_callable(tmp_path: Path) -> None:
    folder = run(tmp_path, {"": 3, ("a", "b"): lambda n: n})  # the tuple of a multi-output func
    assert chunks(folder, "y") == ["0-3", "3-5"]
    assert chunks(folder, "a") == ["0-5"]
    folder = run(tmp_path, {"y": 1, "b": 4})  # one output of a multi-output func names it too
    assert chunks(folder, "y") == ["0-1", "1-2", "2-3", "3-4", "4-5"]
    assert chunks(folder, "a") == ["0-4", "4-5"]


def test_none_in_the_dict_is_automatic(tmp_path: Path) -> None:
    folder = run(tmp_path, {"y": None, "": 5}, parallel=False)
    assert chunks(folder, "y") == ["0-5"]  # automatic without an executor: one chunk


def test_numpy_integers_are_chunk_sizes(tmp_path: Path) -> None:
    folder = run(tmp_path, {"y": np.int64(2), "": np.int64})
    assert chunks(folder, "y") == ["0-2", "2-4", "4-5"]
    assert chunks(folder, "a") == ["0-5"]


def test_a_misspelt_output_name_is_refused_with_the_valid_keys(tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"chunksizes has key 'yy'.*\['', 'y', 'a', 'b', \('a', 'b'\)\]"
    ):
        run(tmp_path, {"yy": 2})
    assert not (tmp_path / "run").exists()  # refused before anything is written


def test_a_key_for_an_output_left_out_by_output_names_is_fine() -> None:
    r = pipeline().map({"x": [1]}, parallel=False, output_names=["y"], chunksizes={"a": 2})
    assert r["y"].output.tolist() == [2]


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "2", [2]])
def test_a_bad_size_is_refused_naming_chunksizes(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(InputError, match=r"chunksizes.*is not a chunk size"):
        run(tmp_path, bad)
    with pytest.raises(InputError, match=r"chunksizes\['y'\]=.*is not a chunk size"):
        run(tmp_path, {"y": bad})


def test_a_callable_giving_a_bad_size_is_refused_naming_the_output(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"chunksizes for \('y',\) gave 0"):
        run(tmp_path, {"y": lambda n: 0})


def test_submit_refuses_a_misspelt_key_before_submitting(tmp_path: Path) -> None:
    fake = FakeScheduler()
    with pytest.raises(InputError, match="chunksizes has key 'yy'"):
        pipeline().submit({"x": [1, 2]}, tmp_path / "run", scheduler=fake, chunksizes={"yy": 1})
    assert not fake.requests
