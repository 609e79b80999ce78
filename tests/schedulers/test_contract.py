"""Every built-in backend (and the public FakeScheduler) against the scheduler contract.

SLURM, PBS Pro and Torque run over stand-in client commands that replay outputs
recorded on real systems (``tests/data/``); the local scheduler runs real tiny tasks.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hpcflow.schedulers.base import JobEnvironment, Scheduler, TaskState, detect_job_environment
from hpcflow.schedulers.local import LocalScheduler
from hpcflow.schedulers.pbs import PbsScheduler, TorqueScheduler
from hpcflow.schedulers.slurm import SlurmScheduler
from hpcflow.testing import FakeScheduler, SchedulerContract
from tests.schedulers.fakes import FakeCommands

DATA = Path(__file__).parents[1] / "data"

# slurmstepd's messages as printed on the mini cluster (tests/test_status_classify.py)
SLURM_OOM_LOG = (
    "slurmstepd-n1: error: StepId=299.batch exceeded memory limit (968146944 > 314572800), "
    "being killed\nslurmstepd-n1: error: *** JOB 299 ON n1 CANCELLED AT 2026-11-22T05:32:36 ***\n"
)


def read(name: str) -> str:
    return (DATA / name).read_text()


class TestSlurmContract(SchedulerContract):
    sample_job_ids = ("101", "102")
    recorded_environment = (
        {"SLURM_JOB_ID": "172", "SLURM_ARRAY_JOB_ID": "169", "SLURM_ARRAY_TASK_ID": "3"},
        JobEnvironment("slurm", "169", 3, None),
    )
    recorded_kill_log = (SLURM_OOM_LOG, TaskState.OUT_OF_MEMORY)

    def make(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scheduler:
        fake = FakeCommands(tmp_path, monkeypatch)
        # job 169 is the "running" array of the recorded squeue/sacct outputs
        fake.set("sbatch", stdout="169\n")
        fake.set("squeue", stdout=read("slurm/squeue_live.txt"))
        fake.set("sacct", stdout=read("slurm/sacct_live.txt"))
        fake.set("scontrol", stdout=read("slurm/scontrol_show_config.txt"))
        fake.set("sinfo", stdout=read("slurm/sinfo_partitions.txt"))
        unknown = "scancel: error: Kill job error on job id 999999: Invalid job id specified\n"
        fake.set("scancel", stderr=unknown, rc=1)
        return SlurmScheduler()


class TestPbsContract(SchedulerContract):
    sample_job_ids = ("101[].pbs01", "102.pbs01")
    unknown_job_id = "4700[].pbs01"
    recorded_environment = (
        {"PBS_JOBID": "4711[1].pbs01", "PBS_ARRAY_INDEX": "1"},
        JobEnvironment("pbs", "4711[].pbs01", 1, None),
    )
    recorded_kill_log = (
        "=>> PBS: job killed: walltime 65 exceeded limit 60\n",
        TaskState.TIMEOUT,
    )

    def make(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scheduler:
        fake = FakeCommands(tmp_path, monkeypatch)
        fake.set("qsub", stdout=read("pbs/qsub_pbs_array.txt"))
        fake.set("qstat", stdout=read("pbs/qstat_pbs_live.json"))
        fake.set(
            "qdel", stderr=read("pbs/qstat_pbs_unknown.stderr.txt").replace("qstat", "qdel"), rc=1
        )
        return PbsScheduler()


class TestTorqueContract(SchedulerContract):
    sample_job_ids = ("101[].torque01", "102.torque01")
    unknown_job_id = "5000[].torque01.example.org"
    recorded_environment = (
        {"PBS_JOBID": "5100[2].torque01.example.org", "PBS_ARRAYID": "2"},
        JobEnvironment("torque", "5100[].torque01.example.org", 2, None),
    )
    recorded_kill_log = (
        "=>> PBS: job killed: mem 1100mb exceeded limit 1024mb\n",
        TaskState.OUT_OF_MEMORY,
    )

    def make(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scheduler:
        fake = FakeCommands(tmp_path, monkeypatch)
        fake.set("qsub", stdout=read("pbs/qsub_torque_array.txt"))
        fake.set("qstat", stdout=read("pbs/qstat_torque_live.txt"))
        stderr = read("pbs/qstat_torque_unknown.stderr.txt").replace("qstat", "qdel")
        fake.set("qdel", stderr=stderr, rc=1)
        return TorqueScheduler()


class TestLocalContract(SchedulerContract):
    sample_job_ids = ("3", "4")
    runs_tasks = True
    recorded_kill_log = (
        "hpcflow worker: y task 1 in /r\n"
        "hpcflow local scheduler: task TIMEOUT: walltime of 1 s exceeded\n",
        TaskState.TIMEOUT,
    )

    @pytest.fixture(autouse=True)
    def _drain(self, tmp_path: Path) -> Iterator[None]:
        yield
        # every runner of this test's state directory exits once it is idle
        sched = LocalScheduler(state_dir=tmp_path / "state", cpus=1)
        if (tmp_path / "state" / "jobs").exists():
            ids = [p.stem for p in (tmp_path / "state" / "jobs").glob("*.json")]
            sched.cancel(ids)
            for job_id in ids:
                self.wait(sched, job_id)

    def make(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scheduler:
        return LocalScheduler(state_dir=tmp_path / "state", cpus=2)


class TestFakeContract(SchedulerContract):
    sample_job_ids = ("1", "2")
    recorded_environment = (
        {"HPCFLOW_FAKE_JOB_ID": "1", "HPCFLOW_ARRAY_TASK_ID": "0"},
        JobEnvironment("fake", "1", 0, 0),
    )
    recorded_kill_log = (
        "hpcflow fake scheduler: task NODE_FAIL: killed by the test\n",
        TaskState.NODE_FAIL,
    )

    def make(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scheduler:
        return FakeScheduler()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        (TestSlurmContract.recorded_environment[0], TestSlurmContract.recorded_environment[1]),
        (TestPbsContract.recorded_environment[0], TestPbsContract.recorded_environment[1]),
        (TestTorqueContract.recorded_environment[0], TestTorqueContract.recorded_environment[1]),
        (
            {"HPCFLOW_JOB_ID": "7", "HPCFLOW_ARRAY_TASK_ID": "0", "HPCFLOW_RESTART_COUNT": "0",
             "SLURM_JOB_ID": "55"},
            JobEnvironment("local", "7", 0, 0),
        ),
        ({"PBS_JOBID": "9.pbs01"}, JobEnvironment("pbs", "9.pbs01", None, None)),
        ({"SLURM_JOB_ID": "55", "SLURM_RESTART_COUNT": "2"}, JobEnvironment("slurm", "55", None, 2)),
        ({"HOME": "/root"}, JobEnvironment()),
    ],
)  # fmt: skip
def test_detect_job_environment(environ: dict[str, str], expected: JobEnvironment) -> None:
    assert detect_job_environment(environ) == expected


def test_detect_job_environment_reads_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HPCFLOW_JOB_ID", "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "PBS_JOBID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_JOB_ID", "12")
    assert detect_job_environment() == JobEnvironment("slurm", "12", None, None)
