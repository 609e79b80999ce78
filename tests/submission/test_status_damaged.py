"""`Run.status` reads markers and file existence, never a stored value (issue #13 item 12)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from hpcflow import Pipeline, func
from hpcflow.testing import FakeScheduler

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@func("y", mapspec="x[i] -> y[i]")
def double(x: int) -> int:
    return 2 * x


@func("total")
def total(y: Any) -> int:
    if len(y) == 2:
        raise ValueError("two is a bad length")
    return int(sum(y))


def test_status_survives_a_garbage_single_value_output(tmp_path: Path) -> None:
    fake = FakeScheduler()
    run = Pipeline([double, total]).submit({"x": [1, 2, 3]}, tmp_path / "run", scheduler=fake)
    fake.run_all()  # workers in subprocesses, as a batch system runs them
    (tmp_path / "run" / "outputs" / "total.cloudpickle").write_bytes(b"garbage \x00\xff")
    status = run.status()
    assert status.complete and status.outputs["total"].done == 1
    assert status.outputs["total"].failed == 0


def test_status_counts_a_failed_single_value_from_its_marker(tmp_path: Path) -> None:
    fake = FakeScheduler()
    run = Pipeline([double, total]).submit(
        {"x": [1, 2]}, tmp_path / "run", scheduler=fake, error_handling="continue"
    )
    fake.run_all()  # workers in subprocesses, as a batch system runs them
    status = run.status()
    assert status.outputs["total"].failed == 1 and status.outputs["total"].done == 0


@pytest.mark.parametrize("storage", ["file_array", "chunked_file_array"])
def test_status_finds_a_truncated_element_file(storage: str, tmp_path: Path) -> None:
    fake = FakeScheduler()
    run = Pipeline([double]).submit(
        {"x": [1, 2, 3]}, tmp_path / "run", scheduler=fake, storage=storage
    )
    fake.run_all()  # workers in subprocesses, as a batch system runs them
    assert run.status().complete
    files = sorted((tmp_path / "run" / "outputs" / "y").rglob("*.pickle"))
    files[-1].write_bytes(files[-1].read_bytes()[:-3])  # a bad copy, a full disk
    status = run.status()
    y = status.outputs["y"]
    assert not status.complete and status.state == "finished"
    assert y.damaged >= 1 and y.done == 3 - y.damaged and y.failed == 0
    assert "damaged" in str(status) and "resume" in str(status)
    from hpcflow.cli._views import status_json

    (row,) = status_json(run, status)["outputs"]  # what `hpcflow status --json` prints
    assert row["damaged"] == y.damaged and row["done"] == y.done
    with pytest.warns(UserWarning, match="damaged stored elements"):
        run.resume()  # sets it aside and submits it again
    fake.run_all()
    assert run.status().complete and run.load_outputs("y").tolist() == [2, 4, 6]
