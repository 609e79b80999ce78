"""Submitted campaigns (`hpcflow.adaptive.submit`) on the real detached local scheduler.

Each round is an ordinary run in ``RUN/rounds/<k>/`` whose arrays the local runner
starts; after it, the follow-up job ``python -m hpcflow.adaptive.next`` tells the
learner and submits the next round. No test process takes part after ``submit``.
The SLURM side runs in cluster_tests/test_adaptive_slurm.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from hpcflow import Pipeline, Run, func
from hpcflow.errors import ResumeError
from hpcflow.schedulers.base import TaskState, get_scheduler

adaptive = pytest.importorskip("adaptive")
import hpcflow.adaptive as ha  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 240  # seconds; generous for a loaded machine, never reached when things work


@func("z")
def peak(x: float, y: float) -> float:
    return math.exp(-(x**2 + y**2) / 0.1)


@func("y")
def tanh(x: float, c: float) -> float:
    return math.tanh(c * x)


@func("y")
def fragile(x: float) -> float:
    if 0.2 < x < 0.4:
        raise ValueError(f"bad x={x}")
    return x * x


def _local(tmp_path: Path) -> dict[str, Any]:
    return {"scheduler": "local", "state_dir": str(tmp_path / "queue")}


def _record(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "campaign.json").read_text()))


def _round_jobs(folder: Path, record: dict[str, Any]) -> list[list[str]]:
    return [Run.open(folder / "rounds" / str(r["index"])).job_ids() for r in record["rounds"]]


@pytest.mark.slow
def test_a_1d_campaign_submitted_by_a_process_that_exits(tmp_path: Path) -> None:
    folder = tmp_path / "camp"
    script = textwrap.dedent(f"""
        import math, adaptive, hpcflow, hpcflow.adaptive
        @hpcflow.func("y")
        def f(x, c):
            return math.tanh(c * x)
        campaign = hpcflow.adaptive.submit(
            hpcflow.Pipeline([f]), {str(folder)!r},
            learner=adaptive.Learner1D(None, bounds=(-1, 1)), learn={{"x": "y"}},
            inputs={{"c": 20.0}}, scheduler="local", state_dir={str(tmp_path / "queue")!r},
            points_per_round=12, loss_goal=0.05, max_rounds=40,
        )
        print(campaign.path)
    """)
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
    campaign = ha.Campaign.open(folder)  # not the submitter, which has exited
    status = campaign.wait(timeout=WAIT)
    assert status.state == "done", status
    assert "loss_goal" in (status.reason or "")
    learner = ha.load(folder)
    assert learner.loss() <= 0.05 and status.loss is not None and status.loss <= 0.05
    record = _record(folder)
    assert len(record["rounds"]) >= 3 and status.rounds == len(record["rounds"])
    # every round ran as its own arrays, and was told by its own follow-up job
    jobs = _round_jobs(folder, record)
    assert all(jobs) and len({j for js in jobs for j in js}) == sum(len(js) for js in jobs)
    assert all(r["told"] and len(r["follow_up_jobs"]) == 1 for r in record["rounds"])
    assert learner.npoints == status.npoints == sum(r["n_told"] for r in record["rounds"])
    assert all(v == math.tanh(20.0 * x) for x, v in learner.data.items())
    df = ha.load_dataframe(folder)
    assert len(df) == learner.npoints
    assert all(y == math.tanh(20.0 * x) for x, y in zip(df["x"], df["y"], strict=True))
    assert "done" in str(status) and "points told" in str(status)


@pytest.mark.slow
def test_a_2d_campaign(tmp_path: Path) -> None:
    folder = tmp_path / "camp"
    campaign = ha.submit(
        Pipeline([peak]), folder, learner=adaptive.Learner2D(None, bounds=[(-1, 1), (-1, 1)]),
        learn={("x", "y"): "z"}, points_per_round=10, max_points=30, **_local(tmp_path),
    )  # fmt: skip
    status = campaign.wait(timeout=WAIT)
    assert status.state == "done" and status.npoints == 30, status
    learner = ha.load(folder)
    assert learner.npoints == 30
    assert all(z == math.exp(-(x**2 + y**2) / 0.1) for (x, y), z in learner.data.items())
    assert len(_record(folder)["rounds"]) == 3


@pytest.mark.slow
def test_a_campaign_resumed_after_its_follow_up_job_was_cancelled(tmp_path: Path) -> None:
    folder = tmp_path / "camp"
    campaign = ha.submit(
        Pipeline([tanh]), folder, learner=adaptive.Learner1D(None, bounds=(-1, 1)),
        learn={"x": "y"}, inputs={"c": 5.0}, points_per_round=6, max_rounds=3,
        **_local(tmp_path),
    )  # fmt: skip
    sched = get_scheduler("local", {"state_dir": str(tmp_path / "queue")})
    (follow_up,) = _record(folder)["rounds"][0]["follow_up_jobs"]
    sched.cancel([follow_up])  # it waits for round 0's arrays, so it has not started
    Run.open(folder / "rounds" / "0").wait(timeout=WAIT)
    states = sched.states([follow_up])[follow_up]
    assert {s.state for s in states.values()} == {TaskState.CANCELLED}
    stalled = campaign.wait(timeout=WAIT)
    assert stalled.state == "stalled" and stalled.rounds == 1, stalled
    assert "hpcflow.adaptive.resume" in str(stalled)
    assert ha.load(folder).npoints == 0  # round 0 was never told
    message = ha.resume(folder)
    assert "round 1 submitted" in message
    with pytest.raises(ResumeError, match="still has jobs queued or running"):
        campaign.resume()
    status = campaign.wait(timeout=WAIT)
    assert status.state == "done" and status.rounds == 3, status
    learner = ha.load(folder)
    assert learner.npoints == 18
    assert all(v == math.tanh(5.0 * x) for x, v in learner.data.items())


@pytest.mark.slow
def test_cancel_stops_the_campaign_and_resume_continues_it(tmp_path: Path) -> None:
    folder = tmp_path / "camp"
    campaign = ha.submit(
        Pipeline([tanh]), folder, learner=adaptive.Learner1D(None, bounds=(-1, 1)),
        learn={"x": "y"}, inputs={"c": 5.0}, points_per_round=4, max_rounds=3,
        **_local(tmp_path),
    )  # fmt: skip
    campaign.cancel()
    status = campaign.wait(timeout=WAIT)
    assert status.state == "cancelled"
    Run.open(folder / "rounds" / "0").wait(timeout=WAIT)
    assert len(_record(folder)["rounds"]) == 1  # nothing was submitted after the cancel
    assert campaign.status().state == "cancelled"
    # round 0 was cancelled, perhaps half-way: what it stored is told, the rest asked again
    assert "round 1 submitted" in campaign.resume()
    status = campaign.wait(timeout=WAIT)
    assert status.state == "done" and status.rounds == 3, status
    learner = ha.load(folder)
    assert learner.npoints >= 8  # rounds 1 and 2 at least
    assert all(v == math.tanh(5.0 * x) for x, v in learner.data.items())


@pytest.mark.slow
def test_failed_elements_do_not_stop_a_submitted_campaign(tmp_path: Path) -> None:
    folder = tmp_path / "camp"
    campaign = ha.submit(
        Pipeline([fragile]), folder, learner=adaptive.Learner1D(None, bounds=(0, 1)),
        learn={"x": "y"}, points_per_round=6, max_rounds=3, **_local(tmp_path),
    )  # fmt: skip
    status = campaign.wait(timeout=WAIT)
    assert status.state == "done" and status.rounds == 3, status
    assert status.n_failed > 0
    learner = ha.load(folder)
    assert all(not 0.2 < x < 0.4 for x in learner.data)
    assert all(v == x * x for x, v in learner.data.items())
    df = ha.load_dataframe(folder)
    assert int(df["failed"].sum()) == status.n_failed
    assert len(df) == learner.npoints + status.n_failed
    xs = list(df["x"])
    assert len(xs) == len(set(xs))  # a failed point was never asked again
