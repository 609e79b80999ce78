"""The ErrorSnapshot of a failed ``map`` is reachable as ``pipeline.error_snapshot``."""

from __future__ import annotations

import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from hpcflow import ErrorSnapshot, Func, Pipeline
from hpcflow.element.snapshots import PropagatedErrorSnapshot


def fails_on_two(x):  # type: ignore[no-untyped-def]
    if x == 2:
        raise ValueError("two is bad")
    return x


@pytest.mark.parametrize("parallel", [False, True])
def test_map_failure_keeps_its_snapshot(tmp_path: Path, parallel: bool) -> None:
    p = Pipeline([Func(fails_on_two, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(ValueError, match="two is bad"):
        p.map({"x": [1, 2, 3]}, tmp_path, parallel=parallel)
    snap = p.error_snapshot
    assert isinstance(snap, ErrorSnapshot)
    assert snap.kwargs == {"x": 2}
    with pytest.raises(ValueError, match="two is bad"):
        snap.reproduce()


def test_continue_mode_snapshots_are_in_the_result(tmp_path: Path) -> None:
    p = Pipeline([Func(fails_on_two, "y", mapspec="x[i] -> y[i]")])
    y = p.map({"x": [1, 2]}, tmp_path, parallel=False, error_handling="continue")["y"].output
    assert isinstance(y[1], ErrorSnapshot) and y[1].kwargs == {"x": 2}
    assert p.error_snapshot is None  # nothing was raised


@pytest.mark.parametrize("mapspec", [None, "a[i] -> c[i]"])
def test_local_function_failure_travels_back_from_a_users_process_pool(
    tmp_path: Path, mapspec: str | None
) -> None:
    # A function defined here (a local object) fails in the user's own process pool:
    # the exception and its snapshot must come back intact, not as a pickling error.
    def f(a: int) -> int:
        if a < 0:
            raise ValueError("a cannot be negative")
        return a * 2

    p = Pipeline([Func(f, "c", mapspec=mapspec)])
    a = [-1] if mapspec else -1
    with ProcessPoolExecutor(max_workers=1) as pool, pytest.raises(ValueError, match="negative"):
        p.map({"a": a}, tmp_path, executor=pool, storage="dict")
    snap = p.error_snapshot
    assert isinstance(snap, ErrorSnapshot)
    assert snap.kwargs == {"a": -1}
    assert snap.exception_type == "ValueError"
    with pytest.raises(ValueError, match="negative"):
        snap.reproduce()


def test_snapshots_of_local_functions_pickle_with_plain_pickle() -> None:
    def f(x: int) -> float:
        return 1 / x

    try:
        f(0)
    except ZeroDivisionError as e:
        snap = ErrorSnapshot.capture(f, {"x": 0}, e)
    back = pickle.loads(pickle.dumps(snap))
    assert (back.kwargs, back.exception_type, back.message) == (
        {"x": 0},
        snap.exception_type,
        snap.message,
    )
    assert isinstance(back.exception, ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        back.reproduce()
    prop = pickle.loads(pickle.dumps(PropagatedErrorSnapshot(f, {"x": "full"}, {"x": snap})))
    assert prop.errors == {"x": "full"}
    assert isinstance(prop.kwargs["x"], ErrorSnapshot)
    assert prop.function(2) == 0.5
