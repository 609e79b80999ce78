"""``hpcflow status|wait|cancel|resume`` on an adaptive campaign folder."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import cloudpickle
import pytest

from hpcflow import Pipeline, func
from hpcflow.cli import main

adaptive = pytest.importorskip("adaptive")
import hpcflow.adaptive as ha  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@func("y")
def tanh(x: float) -> float:
    return math.tanh(4 * x)


def test_status_of_a_local_campaign(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "camp"
    ha.run(
        Pipeline([tanh]), folder, learner=adaptive.Learner1D(None, bounds=(-1, 1)),
        learn={"x": "y"}, points_per_round=5, max_rounds=2,
    )  # fmt: skip
    assert main(["status", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "done (2 rounds >= max_rounds 2)" in out and "10 points told" in out
    assert main(["status", str(folder), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["npoints"] == 10


@pytest.mark.slow
def test_wait_cancel_resume_of_a_submitted_campaign(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "camp"
    ha.submit(
        Pipeline([tanh]), folder, learner=adaptive.Learner1D(None, bounds=(-1, 1)),
        learn={"x": "y"}, points_per_round=4, max_rounds=2, scheduler="local",
        state_dir=str(tmp_path / "queue"),
    )  # fmt: skip
    assert main(["cancel", str(folder)]) == 0
    assert main(["wait", str(folder), "--timeout", "240"]) == 4  # cancelled
    assert "cancelled" in capsys.readouterr().out
    # wait until round 0's own jobs have ended (a resume refuses live jobs)
    from hpcflow import Run

    Run.open(folder / "rounds" / "0").wait(timeout=240)
    assert main(["resume", str(folder)]) == 0
    assert "round 1 submitted" in capsys.readouterr().out
    assert main(["wait", str(folder), "--timeout", "240"]) == 0
    assert "done" in capsys.readouterr().out
