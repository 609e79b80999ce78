"""``hpcflow report`` on the live mini SLURM cluster: its JSON agrees with ``sacct`` and
with the chunk markers, for a sweep whose elements touch a known amount of memory and
sleep a known time."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest
from minislurm_client import MiniSlurm, SlurmClient

from hpcflow import Pipeline, Run, func
from hpcflow.cli import main as cli_main

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 240  # seconds; a healthy mini cluster runs this in well under a minute
BUFFER = 50_000_000
SLEEP = 2.0
N = 4


@func("y", mapspec="x[i] -> y[i]", resources={"memory": "400MB", "walltime": 120})
def grow(x: int) -> int:
    buf = bytearray(BUFFER)
    for k in range(0, len(buf), 4096):  # touch every page: resident, not just reserved
        buf[k] = 1
    time.sleep(SLEEP)
    return x + buf[0]


@pytest.fixture
def runs(slurm_cluster: MiniSlurm) -> Iterator[list[Run]]:
    made: list[Run] = []
    yield made
    for run in made:
        run.cancel()


def _size(text: str) -> int:
    units = {"K": 2**10, "M": 2**20, "G": 2**30}
    return round(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)


def test_report_agrees_with_sacct_and_markers(
    tmp_path: Path, runs: list[Run], slurm: SlurmClient
) -> None:
    run = Pipeline([grow]).submit(
        {"x": list(range(N))}, tmp_path / "run", scheduler="slurm", chunksizes=1
    )
    runs.append(run)
    assert run.wait(timeout=WAIT).complete
    (job_id,) = run.job_ids()
    slurm.wait_accounted(job_id, N)
    # sacct's own view, steps included: MaxRSS is on the .batch line
    out = slurm.run(
        "sacct", "--noheader", "--parsable2",
        "--format=JobID,State,ElapsedRaw,MaxRSS", f"--jobs={job_id}",
    ).stdout  # fmt: skip
    elapsed: dict[int, float] = {}
    rss: dict[int, int] = {}
    for line in out.splitlines():
        jid, state, raw, maxrss = line.split("|")
        task, _, step = jid.partition("_")[2].partition(".")
        if not step:
            assert state == "COMPLETED"
            elapsed[int(task)] = float(raw)
        elif maxrss:
            rss[int(task)] = max(rss.get(int(task), 0), _size(maxrss))
    report = tmp_path / "report.json"
    assert cli_main(["report", str(run.path), "--json", str(report)]) == 0
    data = json.loads(report.read_text())
    (y,) = data["funcs"]
    assert y["elements"] == {"done": N, "failed": 0, "missing": 0}
    assert y["requested"]["memory_bytes"] == 400 * 2**20
    tasks = {t["task"]: t for t in data["tasks"]}
    assert sorted(tasks) == list(range(N))
    for i, t in tasks.items():
        assert t["state"] == "COMPLETED"
        assert t["elapsed_s"] == elapsed[i] >= SLEEP
        assert t["max_rss_bytes"] == rss[i] > BUFFER
        assert t["submit"] <= t["start"] <= t["end"]
    used = y["used"]
    assert used["task_elapsed_s"]["max"] == max(elapsed.values())
    assert used["memory_efficiency"] == pytest.approx(max(rss.values()) / (400 * 2**20), abs=1e-3)
    # the markers: the worker's own peak, within the batch step's (bash + python)
    peak = used["peak_rss_bytes"]
    assert BUFFER < peak["max"] <= max(rss.values()) * 1.5 + 50 * 2**20
    # sacct's ElapsedRaw is whole seconds, truncated: an element of 2.04 s runs in a task
    # that sacct calls 2 s long
    assert SLEEP <= used["element_s"]["p50"] <= max(elapsed.values()) + 1
    assert 0 < used["cpu_efficiency"] <= 1.5
    assert y["suggested"]["memory_bytes"] >= max(rss.values()) * 1.2
