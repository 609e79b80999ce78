"""Start the mini SLURM cluster and talk to it with plain ``subprocess`` calls.

Used by ``conftest.py``'s fixtures; kept out of ``conftest.py`` so that tests can import
the types under a name no other conftest shadows.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

UP_SCRIPT = Path(__file__).resolve().parent / "minislurm" / "up.sh"
# Below pytest-timeout's 300 s, so a slow start is reported with up.sh's own output.
UP_TIMEOUT = 270
POLL_INTERVAL = 1.0
FINAL_STATES = frozenset(
    {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "PREEMPTED", "NODE_FAIL"}
)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class MiniSlurm:
    """A running mini cluster: its ``slurm.conf`` and its state directory."""

    conf: Path
    state_dir: Path


def start_cluster() -> MiniSlurm:
    """Run up.sh (which reuses a healthy cluster); fail the test with its output if it fails."""
    try:
        proc = subprocess.run(
            ["bash", str(UP_SCRIPT)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=UP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{UP_SCRIPT} did not finish in {UP_TIMEOUT} s:\n{exc.stderr!s}", pytrace=False)
    lines = proc.stdout.strip().splitlines()
    prefix = "export SLURM_CONF="
    if proc.returncode != 0 or not lines or not lines[-1].startswith(prefix):
        pytest.fail(
            f"{UP_SCRIPT} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}",
            pytrace=False,
        )
    (conf,) = shlex.split(lines[-1].removeprefix(prefix))
    return MiniSlurm(conf=Path(conf), state_dir=Path(conf).parent.parent)


class SlurmClient:
    """SLURM commands for one test, whose job scripts and logs live in ``workdir``.

    Every wait polls about once a second and fails the test after its own timeout.
    """

    def __init__(self, cluster: MiniSlurm, workdir: Path) -> None:
        self.cluster = cluster
        self.workdir = workdir
        self.job_ids: list[str] = []

    def run(
        self, *argv: str, check: bool = True, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """Run a SLURM command against this cluster, in ``workdir``."""
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**os.environ, "SLURM_CONF": str(self.cluster.conf)},
            cwd=self.workdir,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            pytest.fail(f"{shlex.join(argv)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
        return proc

    def write_script(self, name: str, body: str) -> Path:
        path = self.workdir / f"{name}.sh"
        path.write_text("#!/bin/bash\n" + body)
        return path

    def track(self, job_id: str) -> str:
        """Remember a job to cancel when the test ends."""
        assert job_id.isdigit(), f"not a job id: {job_id!r}"
        self.job_ids.append(job_id)
        return job_id

    def sbatch(self, name: str, body: str, *options: str) -> str:
        """Submit ``body`` as a batch script named ``name``; return the job id."""
        script = self.write_script(name, body)
        proc = self.run(
            "sbatch",
            "--parsable",
            f"--job-name={name}",
            f"--output={self.workdir / name}-%A_%a.out",
            *options,
            str(script),
        )
        return self.track(proc.stdout.strip().split(";")[0])

    def squeue(self, job_id: str) -> list[tuple[str, str]]:
        """(task id, state) of each task that is still pending, running or completing."""
        out = self.run(
            "squeue", "--noheader", "--array", "--format=%i %T", f"--jobs={job_id}"
        ).stdout
        return [(task, state) for task, state in (line.split() for line in out.splitlines())]

    def sacct(self, job_id: str, *options: str) -> list[dict[str, str]]:
        """The job's accounting records, one per array task, without steps."""
        fields = ("JobID", "State", "ExitCode")
        out = self.run(
            "sacct",
            "--noheader",
            "--parsable2",
            "--allocations",
            f"--format={','.join(fields)}",
            f"--jobs={job_id}",
            *options,
        ).stdout
        return [dict(zip(fields, line.split("|"), strict=True)) for line in out.splitlines()]

    def tasks(self, job_id: str) -> dict[str, dict[str, str]]:
        """``scontrol show job`` fields of each array task, by ``ArrayTaskId``.

        Unlike sacct, this names each task of an array even when SLURM ended some tasks
        before splitting them out of the pending array record. Finished jobs stay here
        for ``MinJobAge`` (600 s on the mini cluster).
        """
        out = self.run("scontrol", "--oneliner", "show", "job", job_id).stdout
        records = [
            dict(f.split("=", 1) for f in line.split() if "=" in f) for line in out.splitlines()
        ]
        return {r["ArrayTaskId"]: r for r in records if "ArrayTaskId" in r}

    def wait_until(self, what: str, condition: Callable[[], T], timeout: float) -> T:
        """Poll ``condition`` until it returns something truthy, and return that."""
        deadline = time.monotonic() + timeout
        while not (value := condition()):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"timed out after {timeout} s waiting for {what} (last: {value!r:.300})"
                )
            time.sleep(POLL_INTERVAL)
        return value

    def wait_gone(self, job_id: str, timeout: float) -> None:
        """Wait until no task of the job is pending, running or completing."""
        self.wait_until(
            f"job {job_id} to leave the queue", lambda: not self.squeue(job_id), timeout
        )

    def wait_accounted(
        self, job_id: str, n_tasks: int, timeout: float = 30
    ) -> list[dict[str, str]]:
        """Wait until sacct has a final record for ``n_tasks`` tasks of the job; return all."""

        def records() -> list[dict[str, str]]:
            rows = self.sacct(job_id)
            final = [r for r in rows if r["State"].split()[0] in FINAL_STATES]
            return rows if len(final) >= n_tasks else []

        return self.wait_until(f"sacct records of job {job_id}", records, timeout)

    def cancel_all(self) -> None:
        """Cancel every job this client submitted (finished ones are ignored)."""
        if self.job_ids:
            self.run("scancel", *self.job_ids, check=False)
