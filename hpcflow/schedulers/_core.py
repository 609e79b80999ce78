"""The core of the batch systems driven by command-line clients (SLURM, PBS, Torque).

`CommandScheduler` is a template method: it owns writing the job script next to the
logs, running each client command (counted in ``calls``, a hung or missing client
turned into a `SchedulerError` that names the command), checking job ids (and letting
the placeholder ids of a dry run through), cancelling, and merging status queries. A
backend fills in hooks only:

- `Scheduler.render` (pure), `submit_argv`, `parse_submit_output`;
- `validate_job_id`, `cancel_argv`, `is_unknown_job_error`;
- `status_queries` (each a `StatusQuery`: an argv and a pure parser of its output);
- `Scheduler.task_log`, `Scheduler.job_environment`, `Scheduler.failure_reason`.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import subprocess
from abc import abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hpcflow.errors import InputError, SchedulerError
from hpcflow.schedulers._io import atomic_write_text
from hpcflow.schedulers.base import ArrayRequest, Scheduler, TaskStatus

__all__ = ["CommandScheduler", "StatusQuery", "failure", "is_placeholder"]

#: How a dry run names an array it did not submit, e.g. ``"<y[0]>"``.
PLACEHOLDER = re.compile(r"<[^<>\s]+>")


def is_placeholder(job_id: object) -> bool:
    """Whether ``job_id`` is a dry run's name for an array it did not submit.

    Examples
    --------
    >>> is_placeholder("<y[0]>"), is_placeholder("123"), is_placeholder("<a b>")
    (True, False, False)
    """
    return isinstance(job_id, str) and PLACEHOLDER.fullmatch(job_id) is not None


def _never(stderr: str) -> bool:
    return False


@dataclass(frozen=True)
class StatusQuery:
    """One status command of `CommandScheduler.states` and how to read its output.

    Attributes
    ----------
    argv
        The command.
    parse
        Pure: its stdout -> task statuses by job id.
    tolerate
        Given the stderr of a non-zero exit, whether that is no error (e.g. "unknown
        job id"); the stdout is then read as usual.
    """

    argv: tuple[str, ...]
    parse: Callable[[str], Mapping[str, Mapping[int, TaskStatus]]]
    tolerate: Callable[[str], bool] = _never


class CommandScheduler(Scheduler):
    """A `Scheduler` whose work is done by running its clients (``sbatch``, ``qsub``)."""

    #: Seconds any one client command may take before it counts as failed.
    command_timeout: float = 120.0
    #: The job script's file suffix, next to the logs (``<array name>.<suffix>``).
    script_suffix: ClassVar[str]
    #: What a missing client suggests, e.g. "is the PBS client installed, ...?".
    missing_hint: ClassVar[str]
    #: Whether the submit command runs in the log folder (PBS writes its own job output
    #: file into the folder ``qsub`` ran in).
    submit_in_log_dir: ClassVar[bool] = False

    # -- hooks ---------------------------------------------------------------------------

    @abstractmethod
    def submit_argv(self, script: Path) -> list[str]:
        """The command that submits the job script ``script``."""

    @abstractmethod
    def parse_submit_output(self, stdout: str) -> str:
        """The job id in the submit command's stdout (`SchedulerError` if none)."""

    @abstractmethod
    def validate_job_id(self, job_id: str) -> None:
        """Raise `InputError` unless ``job_id`` is an id `submit` could have returned."""

    @abstractmethod
    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        """The command that cancels ``job_ids`` (already checked)."""

    @abstractmethod
    def is_unknown_job_error(self, stderr: str) -> bool:
        """Whether a failed command's stderr says only that some job ids are unknown."""

    @abstractmethod
    def status_queries(self, job_ids: Sequence[str]) -> list[StatusQuery]:
        """The commands `states` runs, most authoritative first (its tasks win)."""

    # -- the core ------------------------------------------------------------------------

    def check_job_id(self, job_id: str, *, planned_ok: bool = False) -> None:
        """Refuse ids that are not the backend's (ids become command-line arguments).

        ``planned_ok`` lets a dry run's placeholder (`is_placeholder`) through.
        """
        if planned_ok and is_placeholder(job_id):
            return
        if not isinstance(job_id, str):
            raise InputError(
                f"{job_id!r} is not a {self.name} job id (a string, as submit returns)"
            )
        self.validate_job_id(job_id)

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

    def submit(self, request: ArrayRequest) -> str:
        """Render ``request``, write its script next to the logs, submit it; the job id."""
        # The script is written relative to this process's directory, but the batch
        # system reads the log paths relative to the job's: absolute paths agree.
        request = dataclasses.replace(
            request, log_dir=request.log_dir.absolute(), workdir=request.workdir.absolute()
        )
        text = self.render(request)
        request.log_dir.mkdir(parents=True, exist_ok=True)
        script = request.log_dir / f"{request.name}.{self.script_suffix}"
        atomic_write_text(script, text)
        argv = self.submit_argv(script)
        proc = self._run(argv, cwd=request.log_dir if self.submit_in_log_dir else None)
        if proc.returncode != 0:
            raise SchedulerError(failure(argv, proc, f"job script {script}"))
        try:
            return self.parse_submit_output(proc.stdout)
        except SchedulerError as e:
            raise SchedulerError(f"{shlex.join(argv)}: {e}") from None

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel these jobs; ids the batch system no longer knows are not an error."""
        if not job_ids:
            return
        for job_id in job_ids:
            self.check_job_id(job_id)
        argv = self.cancel_argv(job_ids)
        proc = self._run(argv)
        if proc.returncode != 0 and not self.is_unknown_job_error(proc.stderr or proc.stdout):
            raise SchedulerError(failure(argv, proc))

    def states(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskStatus]]:
        """Task statuses of each job (every id is a key) from the `status_queries`.

        A task reported by several queries gets the status of the first.
        """
        ids = list(dict.fromkeys(job_ids))
        if not ids:
            return {}
        for job_id in ids:
            self.check_job_id(job_id)
        results: list[Mapping[str, Mapping[int, TaskStatus]]] = []
        for query in self.status_queries(ids):
            proc = self._run(query.argv)
            if proc.returncode != 0 and not query.tolerate(proc.stderr):
                raise SchedulerError(failure(query.argv, proc))
            try:
                results.append(query.parse(proc.stdout))
            except SchedulerError as e:
                raise SchedulerError(f"{shlex.join(query.argv)}: {e}") from None
        out: dict[str, dict[int, TaskStatus]] = {job_id: {} for job_id in ids}
        for result in reversed(results):
            for job_id in ids:
                out[job_id].update(result.get(job_id, {}))
        return out


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
