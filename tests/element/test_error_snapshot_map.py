"""The ErrorSnapshot of a failed ``map`` is reachable as ``pipeline.error_snapshot``."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import ErrorSnapshot, Func, Pipeline


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
