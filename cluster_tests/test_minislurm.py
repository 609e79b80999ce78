"""Smoke tests of the mini SLURM cluster: the scheduler behaviour hpcflow relies on.

Each test checks one behaviour that a fake scheduler cannot show: array throttling,
per-task dependencies, invalid dependencies, accounting states, memory kills, preemption
with requeue, the array size limit and the PBS environment plugin.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from minislurm_client import UP_SCRIPT, MiniSlurm, SlurmClient

# Batch-script lines that record when a task started and ended, one file per task.
STAMP_START = 'date +%s.%N > "start_${SLURM_ARRAY_TASK_ID}"\n'
STAMP_END = 'date +%s.%N > "end_${SLURM_ARRAY_TASK_ID}"\n'


def read_stamps(folder: Path, kind: str) -> dict[int, float]:
    return {int(p.name.split("_")[1]): float(p.read_text()) for p in folder.glob(f"{kind}_*")}


def test_three_idle_nodes(slurm: SlurmClient) -> None:
    def node_states() -> dict[str, str]:
        out = slurm.run("sinfo", "--noheader", "--Node", "--format=%N %t").stdout
        return dict(line.split() for line in out.splitlines())

    def idle() -> dict[str, str]:
        states = node_states()
        return states if set(states.values()) == {"idle"} else {}

    assert sorted(slurm.wait_until("all nodes idle", idle, 30)) == ["n1", "n2", "n3"]


def test_configuration(slurm: SlurmClient, slurm_cluster: MiniSlurm) -> None:
    config = slurm.run("scontrol", "show", "config").stdout
    settings = {
        key.strip(): value.strip()
        for key, sep, value in (line.partition("=") for line in config.splitlines())
        if sep
    }
    assert settings["SLURM_CONF"] == str(slurm_cluster.conf)
    assert settings["MaxArraySize"] == "101"
    assert settings["MinJobAge"] == "600 sec"
    assert settings["JobRequeue"] == "1"
    assert settings["PreemptType"] == "preempt/partition_prio"
    assert settings["AccountingStorageType"] == "accounting_storage/slurmdbd"
    partitions = slurm.run("sinfo", "--noheader", "--format=%P").stdout.split()
    assert sorted(partitions) == ["debug*", "urgent"]


def test_array_throttle(slurm: SlurmClient) -> None:
    job = slurm.sbatch("throttled", STAMP_START + "sleep 2\n" + STAMP_END, "--array=0-5%2")

    # Sample the running tasks while the array runs, and check the recorded intervals after.
    most_running = 0

    def finished() -> bool:
        nonlocal most_running
        tasks = slurm.squeue(job)
        most_running = max(most_running, sum(state == "RUNNING" for _, state in tasks))
        return not tasks

    slurm.wait_until("the throttled array to finish", finished, 90)
    assert 1 <= most_running <= 2

    starts, ends = read_stamps(slurm.workdir, "start"), read_stamps(slurm.workdir, "end")
    assert sorted(starts) == sorted(ends) == list(range(6))
    for task, t in starts.items():
        overlapping = [i for i in starts if starts[i] <= t < ends[i]]
        assert len(overlapping) <= 2, f"task {task} started while {overlapping} ran"

    records = slurm.wait_accounted(job, 6)
    assert {r["JobID"]: r["State"] for r in records} == {
        f"{job}_{i}": "COMPLETED" for i in range(6)
    }


def test_aftercorr_is_per_task(slurm: SlurmClient) -> None:
    # Task i of A takes 1 + 4 i seconds; task i of B may start as soon as task i of A is done.
    upstream = slurm.sbatch(
        "upstream",
        STAMP_START + "sleep $((1 + 4 * SLURM_ARRAY_TASK_ID))\n" + STAMP_END,
        "--array=0-3",
    )
    (slurm.workdir / "b").mkdir()
    downstream = slurm.sbatch(
        "downstream",
        "cd b\n" + STAMP_START,
        "--array=0-3",
        f"--dependency=aftercorr:{upstream}",
    )
    slurm.wait_gone(downstream, 90)

    a_end = read_stamps(slurm.workdir, "end")
    b_start = read_stamps(slurm.workdir / "b", "start")
    assert sorted(a_end) == sorted(b_start) == [0, 1, 2, 3]
    for i in range(4):
        assert b_start[i] >= a_end[i], f"B task {i} started before A task {i} ended"
    # Per task, not per array: B's first task did not wait for A's slowest one.
    assert b_start[0] < a_end[3]


def test_failed_upstream_kills_dependent_task(slurm: SlurmClient) -> None:
    upstream = slurm.sbatch("fails", "exit $SLURM_ARRAY_TASK_ID\n", "--array=0-1")
    downstream = slurm.sbatch(
        "dependent",
        "true\n",
        "--array=0-1",
        f"--dependency=aftercorr:{upstream}",
        "--kill-on-invalid-dep=yes",
    )
    # Without --kill-on-invalid-dep task 1 would stay PENDING (DependencyNeverSatisfied).
    slurm.wait_gone(downstream, 60)
    tasks = slurm.tasks(downstream)
    assert tasks["0"]["JobState"] == "COMPLETED"
    assert tasks["1"]["JobState"] == "CANCELLED"
    assert tasks["1"]["Reason"] == "DependencyNeverSatisfied"

    # sacct names the cancelled task "<id>_1" or, when SLURM cancelled it before splitting
    # it out of the pending array record, by that record's name "<id>_[0-1]": both occur.
    records = slurm.wait_accounted(downstream, 2)
    assert {r["State"] for r in records} == {"COMPLETED", "CANCELLED"}
    assert [r["State"] for r in records if r["JobID"] == f"{downstream}_0"] == ["COMPLETED"]
    upstream_states = {r["JobID"]: r["State"] for r in slurm.wait_accounted(upstream, 2)}
    assert upstream_states == {f"{upstream}_0": "COMPLETED", f"{upstream}_1": "FAILED"}


def test_sacct_states_and_exit_codes(slurm: SlurmClient) -> None:
    ok = slurm.sbatch("succeeds", "exit 0\n")
    failed = slurm.sbatch("exits3", "exit 3\n")
    for job in (ok, failed):
        slurm.wait_gone(job, 60)
    assert slurm.wait_accounted(ok, 1) == [{"JobID": ok, "State": "COMPLETED", "ExitCode": "0:0"}]
    assert slurm.wait_accounted(failed, 1) == [
        {"JobID": failed, "State": "FAILED", "ExitCode": "3:0"}
    ]


def test_task_over_its_memory_is_killed(slurm: SlurmClient) -> None:
    # 600 MB of touched pages with --mem=100M: the 1 s accounting sampler catches it.
    python = shlex.quote(sys.executable)
    job = slurm.sbatch(
        "hog",
        f"{python} -c 'import time; b = b\"x\" * (600 << 20); time.sleep(30)'\n",
        "--mem=100M",
        f"--error={slurm.workdir / 'hog.err'}",
    )
    slurm.wait_gone(job, 60)
    assert slurm.wait_accounted(job, 1) == [{"JobID": job, "State": "FAILED", "ExitCode": "0:9"}]
    assert "exceeded memory limit" in (slurm.workdir / "hog.err").read_text()


def test_preempted_task_is_requeued(slurm: SlurmClient) -> None:
    # Six long tasks fill the six CPUs of the debug partition; each start is recorded.
    body = 'echo "${SLURM_RESTART_COUNT:-0}" >> "starts_${SLURM_ARRAY_TASK_ID}"\nsleep 300\n'
    victims = slurm.sbatch("victims", body, "--array=0-5", "--partition=debug")

    def all_running() -> bool:
        return [state for _, state in slurm.squeue(victims)] == ["RUNNING"] * 6

    slurm.wait_until("six running debug tasks", all_running, 60)

    urgent = slurm.sbatch("urgent", "sleep 1\n", "--partition=urgent", "--nodes=1", "--ntasks=2")

    def restarted() -> list[int]:
        return [
            int(p.name.split("_")[1])
            for p in slurm.workdir.glob("starts_*")
            if p.read_text().split() == ["0", "1"]
        ]

    # GraceTime 5 s, then the requeue delay (cred_expire=10): about 20 s in all.
    tasks = slurm.wait_until("a preempted task to run again", restarted, 120)
    assert slurm.wait_accounted(urgent, 1)[0]["State"] == "COMPLETED"

    # sacct --duplicates keeps both runs of the task: the preempted one, then the rerun.
    task = f"{victims}_{tasks[0]}"

    def history() -> list[str]:
        rows = slurm.sacct(victims, "--duplicates")
        states = [r["State"] for r in rows if r["JobID"] == task]
        return states if states == ["PREEMPTED", "RUNNING"] else []

    slurm.wait_until(f"sacct to show {task} preempted, then running", history, 30)


def test_array_index_above_max_array_size_is_rejected(slurm: SlurmClient) -> None:
    script = slurm.write_script("big", "true\n")
    proc = slurm.run("sbatch", "--array=0-200", str(script), check=False)
    assert proc.returncode != 0
    assert "Invalid job array specification" in proc.stderr

    # The highest allowed index is MaxArraySize - 1 = 100: held, then cancelled.
    job = slurm.sbatch("largest", "true\n", "--array=0-100", "--hold")
    assert slurm.squeue(job) == [(f"{job}_{i}", "PENDING") for i in range(101)]


def test_pbs_script_through_qsub(slurm: SlurmClient) -> None:
    # Debian's qsub wrapper turns #PBS lines into sbatch options; the SPANK plugin sets PBS_*.
    script = slurm.write_script(
        "pbs",
        "#PBS -J 0-1\n#PBS -l walltime=00:01:00\n#PBS -l select=1:ncpus=1:mem=200mb\n"
        'echo "$PBS_JOBID $PBS_O_WORKDIR" > "pbs_${PBS_ARRAY_INDEX}"\n',
    )
    job = slurm.track(slurm.run("qsub", str(script)).stdout.strip())
    slurm.wait_gone(job, 60)
    for index in (0, 1):
        job_id, workdir = (slurm.workdir / f"pbs_{index}").read_text().split()
        assert job_id.isdigit()
        assert workdir == str(slurm.workdir)


def test_up_starts_over_pid_files_of_an_earlier_boot() -> None:
    # A second cluster in its own directory and ports, seeded with the pid files a killed
    # or copied cluster leaves behind (they name processes that no longer exist). CI once
    # failed this way: "MariaDB died while starting", read off a stale mariadbd.pid.
    state = Path(tempfile.mkdtemp(prefix="ms-stale-", dir="/tmp"))
    state.chmod(0o755)  # munge and mysql must reach it
    env = {
        **os.environ,
        "HPCFLOW_MINISLURM_DIR": str(state),
        "HPCFLOW_MINISLURM_PORT_BASE": "17900",
    }
    env.pop("SLURM_CONF", None)
    gone = subprocess.Popen(["true"])
    gone.wait()
    for rel in ("mysql/mariadbd.pid", "munge/munged.pid", "run/slurmctld.pid", "run/slurmdbd.pid"):
        (state / rel).parent.mkdir(exist_ok=True)
        (state / rel).write_text(f"{gone.pid}\n")
    try:
        up = subprocess.run(
            ["bash", str(UP_SCRIPT)],
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert up.returncode == 0, up.stderr
        conf = shlex.split(up.stdout.strip().splitlines()[-1].removeprefix("export SLURM_CONF="))[0]
        ping = subprocess.run(
            ["scontrol", "ping"],
            env={**env, "SLURM_CONF": conf},
            capture_output=True,
            text=True,
            check=False,
        )
        assert "is UP" in ping.stdout
    finally:
        subprocess.run(
            ["bash", str(UP_SCRIPT.with_name("down.sh"))], env=env, capture_output=True, check=False
        )
        shutil.rmtree(state, ignore_errors=True)
