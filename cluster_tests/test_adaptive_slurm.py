"""An adaptive campaign (`hpcflow.adaptive.submit`) on the live mini SLURM cluster.

The submitter is a process that exits at once; every round is its own job arrays
(sbatch), and the 1-CPU follow-up job after each round (``python -m
hpcflow.adaptive.next``, ``afterany`` on the round's arrays) tells the learner and
submits the next round from a "compute node".
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from minislurm_client import MiniSlurm

from hpcflow import Run

adaptive = pytest.importorskip("adaptive")
import hpcflow.adaptive as ha  # noqa: E402

WAIT = 600  # seconds; a healthy mini cluster finishes in a few minutes at most


@pytest.fixture
def campaigns(slurm_cluster: MiniSlurm) -> Iterator[list[Path]]:
    """Campaign folders made by a test; whatever they left queued is cancelled."""
    made: list[Path] = []
    yield made
    for folder in made:
        if (folder / "campaign.json").exists():
            ha.Campaign.open(folder).cancel()


def test_a_1d_campaign_submitted_by_a_process_that_exits(
    tmp_path: Path, campaigns: list[Path]
) -> None:
    folder = tmp_path / "campaign"
    campaigns.append(folder)
    script = textwrap.dedent(f"""
        import math, adaptive, hpcflow, hpcflow.adaptive
        @hpcflow.func("y")
        def f(x, c):
            return math.tanh(c * x)
        hpcflow.adaptive.submit(
            hpcflow.Pipeline([f]), {str(folder)!r},
            learner=adaptive.Learner1D(None, bounds=(-1, 1)), learn={{"x": "y"}},
            inputs={{"c": 20.0}}, scheduler="slurm", points_per_round=12,
            loss_goal=0.05, max_rounds=30, chunksizes=3,
        )
    """)
    child = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
    campaign = ha.Campaign.open(folder)
    status = campaign.wait(timeout=WAIT, poll_interval=3)
    assert status.state == "done", status
    learner = ha.load(folder)
    assert learner.loss() <= 0.05
    record = json.loads((folder / "campaign.json").read_text())
    assert len(record["rounds"]) >= 3
    jobs = [Run.open(folder / "rounds" / str(r["index"])).job_ids() for r in record["rounds"]]
    flat = [j for js in jobs for j in js]
    assert all(jobs)
    assert len(set(flat)) == len(flat)  # each round its own sbatch arrays
    follow_ups = [j for r in record["rounds"] for j in r["follow_up_jobs"]]
    assert not set(follow_ups) & set(flat)
    assert len(follow_ups) == len(record["rounds"])
    assert all(v == math.tanh(20.0 * x) for x, v in learner.data.items())
    df = ha.load_dataframe(folder)
    assert len(df) == learner.npoints
    assert all(y == math.tanh(20.0 * x) for x, y in zip(df["x"], df["y"], strict=True))
