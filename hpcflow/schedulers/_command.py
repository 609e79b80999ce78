"""What the batch systems driven by command-line clients share (SLURM, PBS, Torque).

Each runs one client command at a time, counts it in ``calls``, turns a hung or missing
client into a `SchedulerError` that names the command, and submits by writing the
rendered job script next to the logs and handing its path to the submit command.
"""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

from hpcflow.errors import SchedulerError
from hpcflow.schedulers.base import ArrayRequest, Scheduler

__all__ = ["CommandScheduler", "failure"]


class CommandScheduler(Scheduler):
    """A `Scheduler` whose work is done by running its clients (``sbatch``, ``qsub``)."""

    #: Seconds any one client command may take before it counts as failed.
    command_timeout: float = 120.0
    #: The job script's file suffix, next to the logs (``<array name>.<suffix>``).
    script_suffix: ClassVar[str]
    #: What a missing client suggests, e.g. "is the PBS client installed, ...?".
    missing_hint: ClassVar[str]

    def _run(
        self, argv: Sequence[str], cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run one client command (counted in ``calls``); never raises on a bad exit."""
        self.calls[argv[0]] += 1
        try:
            return subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=self.command_timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                cwd=cwd,
            )
        except subprocess.TimeoutExpired:
            raise SchedulerError(
                f"{shlex.join(argv)} did not finish within {self.command_timeout:g} s"
            ) from None
        except FileNotFoundError:
            raise SchedulerError(
                f"cannot run {argv[0]}: not found on PATH ({self.missing_hint})"
            ) from None
        except OSError as e:
            raise SchedulerError(f"cannot run {shlex.join(argv)}: {e}") from None

    def _submit_script(
        self,
        request: ArrayRequest,
        command: Callable[[Path], list[str]],
        parse: Callable[[str], str],
        *,
        in_log_dir: bool = False,
    ) -> str:
        """Render ``request``, write its script, run ``command(script)``; the job id.

        ``in_log_dir`` runs the command there (PBS writes its own job output file into
        the folder ``qsub`` ran in).
        """
        # The script is written relative to this process's directory, but the batch
        # system reads the log paths relative to the job's: absolute paths agree.
        request = dataclasses.replace(
            request, log_dir=request.log_dir.absolute(), workdir=request.workdir.absolute()
        )
        text = self.render(request)
        request.log_dir.mkdir(parents=True, exist_ok=True)
        script = request.log_dir / f"{request.name}.{self.script_suffix}"
        script.write_text(text)
        argv = command(script)
        proc = self._run(argv, cwd=request.log_dir if in_log_dir else None)
        if proc.returncode != 0:
            raise SchedulerError(failure(argv, proc, f"job script {script}"))
        try:
            return parse(proc.stdout)
        except SchedulerError as e:
            raise SchedulerError(f"{shlex.join(argv)}: {e}") from None

    def _cancel(
        self,
        command: str,
        job_ids: Sequence[str],
        check_id: Callable[[str], object],
        only_unknown: Callable[[str], bool],
    ) -> None:
        """``command JOB...``; ids the batch system no longer knows are not an error."""
        if not job_ids:
            return
        for job_id in job_ids:
            check_id(job_id)
        argv = [command, *job_ids]
        proc = self._run(argv)
        if proc.returncode != 0 and not only_unknown(proc.stderr or proc.stdout):
            raise SchedulerError(failure(argv, proc))


def failure(argv: Sequence[str], proc: subprocess.CompletedProcess[str], what: str = "") -> str:
    """The message for a client that exited non-zero: the command, what, its output.

    Examples
    --------
    >>> proc = subprocess.CompletedProcess(["qdel", "1"], 1, "", "qdel: Bad Job Id\\n")
    >>> print(failure(["qdel", "1"], proc))
    qdel 1 exited 1:
      qdel: Bad Job Id
    """
    about = f" ({what})" if what else ""
    output = (proc.stderr.strip() or proc.stdout.strip() or "(no output)").replace("\n", "\n  ")
    return f"{shlex.join(argv)}{about} exited {proc.returncode}:\n  {output}"
