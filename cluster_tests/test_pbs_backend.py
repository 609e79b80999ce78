"""PBS-dialect job scripts through Debian's PBS wrappers on the mini SLURM cluster.

This proves the environment variables and the array plumbing of the scripts the ``pbs``
and ``torque`` backends render: that ``qsub`` accepts them, that the ``#PBS`` array,
resource, walltime and ``-W depend`` lines are read, that each subjob runs its own task
number (offset + ``PBS_ARRAY_INDEX``), writes its own log, and that a two-stage sweep
reaches the right result. It does NOT prove PBS semantics (a PBS server's scheduling,
``qstat`` output, exit statuses, deletion of jobs whose dependency failed): no PBS server
can be installed here; those are unit-tested on written outputs in
``tests/test_pbs_backend.py``.

What Slurm's wrappers (slurm-wlm-torque 22.05.8) cannot do, and how the tests work around
it, in the tests only:

- ``qstat`` has no ``-F json``, ``-x`` or ``-t`` ("Unknown option: F", exit 2), lists one
  record per Slurm job id (each array task has its own) and prints no exit status; status
  is asked from squeue/sacct through `SlurmScheduler` instead (the qsub wrapper prints
  Slurm's numeric array id, which Slurm's commands understand).
- ``qdel`` of a finished or unknown id exits 1 with no output; cancel goes through
  ``scancel`` instead.
- The SPANK plugin sets ``PBS_ARRAY_INDEX`` (and ``PBS_JOBID`` as the task's own Slurm
  job id), not Torque's ``PBS_ARRAYID``; the Torque run sets it in a site template.
- ``afterokarray`` is refused ("Job dependency problem"), but the wrapper's ids have no
  ``[]``, so the Torque backend renders them as plain ``afterok`` anyway.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import cloudpickle
import pytest
from minislurm_client import MiniSlurm

from hpcflow import Pipeline, Resources, Run, func
from hpcflow.schedulers.base import TaskStatus
from hpcflow.schedulers.pbs import TEMPLATES, PbsScheduler, TorqueScheduler
from hpcflow.schedulers.slurm import SlurmScheduler

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120  # seconds; on an idle mini cluster each test takes about 15 s


class PbsViaSlurmWrappers(PbsScheduler):
    """The PBS Pro backend, asking squeue/sacct for states (see the module docstring)."""

    def states(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskStatus]]:
        return SlurmScheduler().states(job_ids)

    def cancel(self, job_ids: Sequence[str]) -> None:
        SlurmScheduler().cancel(job_ids)


class TorqueViaSlurmWrappers(TorqueScheduler):
    """The Torque backend, asking squeue/sacct for states (see the module docstring)."""

    def states(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskStatus]]:
        return SlurmScheduler().states(job_ids)

    def cancel(self, job_ids: Sequence[str]) -> None:
        SlurmScheduler().cancel(job_ids)


@pytest.fixture
def runs(slurm_cluster: MiniSlurm) -> Iterator[list[Run]]:
    """Runs made by a test; whatever they left queued is cancelled at the end."""
    made: list[Run] = []
    yield made
    for run in made:
        run.cancel()


@func("y", mapspec="x[i] -> y[i]", resources=Resources(memory="300MB", walltime=300, cpus=1))
def triple(x: int) -> tuple[float, int]:
    return (time.time(), 3 * x)  # when it ended, the value


@func("z", mapspec="y[i] -> z[i]")
def minus(y: tuple[float, int]) -> tuple[float, int]:
    return (time.time(), y[1] - 1)  # when it started, the value


def _requested(job_ids: list[str], stage: str, n_tasks: int) -> list[list[str]]:
    """[ReqMem, Timelimit] of the stage's tasks from sacct, which lags a few seconds."""
    deadline = time.monotonic() + 30
    while True:
        out = subprocess.run(
            ["sacct", "-X", "-n", "-P", "-o", "JobName,ReqMem,Timelimit", "-j", ",".join(job_ids)],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        rows = [line.split("|") for line in out.splitlines() if line.strip()]
        rows = [row[1:] for row in rows if row[0].endswith(f"-{stage}")]
        if len(rows) >= n_tasks or time.monotonic() > deadline:
            return rows
        time.sleep(1)


# a task of 2 elements of 5 minutes each, plus a 1-minute task margin
TASK_LIMIT = "00:11:00"


def _sweep(scheduler: PbsScheduler, folder: Path, runs: list[Run]) -> Run:
    n = 7
    run = Pipeline([triple, minus]).submit(
        {"x": list(range(n))}, folder, scheduler=scheduler, chunksizes=2
    )
    assert isinstance(run, Run)
    runs.append(run)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    y, z = run.load_outputs("y"), run.load_outputs("z")
    assert [v for _, v in z] == [3 * x - 1 for x in range(n)]
    # -W depend=afterok on the whole y array: every z task started after every y task ended
    assert min(t for t, _ in z) > max(t for t, _ in y)
    # two arrays of 4 tasks (chunks of 2 elements), each from one qsub
    assert scheduler.calls["qsub"] == 2
    for stage in ("y", "z"):
        logs = folder / "logs" / stage
        script = (logs / f"hpcflow-{run.run_id}-{stage}.{scheduler.name}").read_text()
        assert f"#PBS -{scheduler.array_option} 0-3" in script
        # one log per subjob, named <PBS_JOBID>_<index> (here PBS_JOBID is the task's
        # own Slurm job id): the index variable reached every subjob
        names = sorted(p.name for p in logs.glob("*_*.log"))
        assert sorted(int(name.split("_")[1].removesuffix(".log")) for name in names) == [
            0,
            1,
            2,
            3,
        ]
    return run


def test_pbs_dialect_sweep(tmp_path: Path, runs: list[Run]) -> None:
    scheduler = PbsViaSlurmWrappers()
    run = _sweep(scheduler, tmp_path / "pbs", runs)
    # select=1:ncpus=1:mem=300mb and the walltime reached Slurm for stage y
    assert _requested(run.job_ids(), "y", 4) == [["300M", TASK_LIMIT]] * 4


def test_torque_dialect_sweep(tmp_path: Path, runs: list[Run]) -> None:
    # The SPANK plugin sets PBS_ARRAY_INDEX only. Torque's variable is set by a site
    # template (template=), before the log line that names the log after it.
    template = tmp_path / "site-torque.sh"
    text = (TEMPLATES / "torque.sh").read_text()
    cd = "cd ${workdir} || exit 1\n"
    assert cd in text
    template.write_text(
        text.replace(cd, cd + 'export PBS_ARRAYID="$${PBS_ARRAYID:-$$PBS_ARRAY_INDEX}"\n')
    )
    scheduler = TorqueViaSlurmWrappers(template=template)
    run = _sweep(scheduler, tmp_path / "torque", runs)
    # nodes=1:ppn=1, mem=300mb and the walltime reached Slurm for stage y
    assert _requested(run.job_ids(), "y", 4) == [["300M", TASK_LIMIT]] * 4
