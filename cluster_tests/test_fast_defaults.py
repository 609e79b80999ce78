"""Fast by default on the live mini cluster: per-task time limits and partition MaxTime.

(Fused stages killed mid-chunk and resumed: ``test_faults.py::test_scancel_of_running_tasks``.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import cloudpickle
import pytest
from minislurm_client import MiniSlurm

from hpcflow import InputError, Pipeline, Resources, Run, func
from hpcflow.runfolder.records import read_submissions

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 300


@func("y", mapspec="x[i] -> y[i]", resources={"walltime": "1:00"})
def half_minute(x: int) -> int:
    time.sleep(25)
    return x + 1


@pytest.fixture
def runs(slurm_cluster: MiniSlurm) -> Iterator[list[Run]]:
    made: list[Run] = []
    yield made
    for run in made:
        run.cancel()


def test_a_chunk_longer_than_one_element_limit_completes(tmp_path: Path, runs: list[Run]) -> None:
    # 3 elements of 25 s under a walltime of 1 minute each: a task limited to one
    # element's minute would be killed at 60 s; it asks for 3 minutes instead
    run = Pipeline([half_minute]).submit(
        {"x": [0, 1, 2]}, tmp_path / "run", scheduler="slurm", chunksizes=3, task_margin=0
    )
    runs.append(run)
    (array,) = [a.job_id for s in read_submissions(run.folder)[0].stages for a in s.arrays]
    limit = subprocess.run(
        ["squeue", "-h", "-j", str(array), "-o", "%l"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert limit == ["3:00"]
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    assert run.load_outputs("y").tolist() == [1, 2, 3]


@pytest.fixture
def capped_partition(slurm_cluster: MiniSlurm) -> Iterator[str]:
    """A partition on the cluster's nodes with MaxTime=5 minutes."""
    name = f"capped{int(time.time()) % 100000}"
    subprocess.run(
        ["scontrol", "create", f"PartitionName={name}", "Nodes=ALL", "MaxTime=5"], check=True
    )
    try:
        yield name
    finally:
        subprocess.run(["scontrol", "delete", f"PartitionName={name}"], check=False)


@func("y", mapspec="x[i] -> y[i]", resources={"walltime": "2:00"})
def two_minutes(x: int) -> int:
    return x


def test_partition_max_time_bounds_the_elements_per_task(
    tmp_path: Path, capped_partition: str
) -> None:
    p = Pipeline([two_minutes])
    plan = p.plan({"x": list(range(100))}, tmp_path / "run", scheduler="slurm",
                  partition=capped_partition, task_margin=60)  # fmt: skip
    (array,) = plan.arrays
    # 6 slots x 4 waves would be 24 tasks of 5 elements (10 min + 1 min each), but
    # (300 s MaxTime - 60 s margin) / 120 s per element allows 2 elements per task
    assert (array.n_tasks, array.n_elements) == (50, 100)
    assert "#SBATCH --time=0-00:05:00" in array.script
    assert f"sinfo -p {capped_partition}" in str(plan)
    too_long = two_minutes.replace(resources=Resources(walltime="10:00"))
    with pytest.raises(InputError, match="more than the limit of 300 s per task"):
        Pipeline([too_long]).submit({"x": [1]}, tmp_path / "big", scheduler="slurm",
                                    partition=capped_partition)  # fmt: skip
    assert not (tmp_path / "big" / "run.json").exists()
