"""The SLURM backend: one ``sbatch`` job array per request, watched with squeue and sacct.

The job script is rendered by a pure function of hpcflow's own (`render_sbatch`; a golden
test, ``tests/data/slurm/golden_array.sbatch``, shows every change of its output) and
holds every option as an ``#SBATCH`` line, so the script in the run folder is the whole
truth about a job, and ``sbatch --parsable SCRIPT`` is the only command a submission
runs. Option names are validated (`hpcflow.schedulers._format.LONG_OPTION`): a name is
written into the script as it is.

Quoting. ``#SBATCH`` values are shell-quoted (`shlex.quote`). sbatch reads these lines
with its own small parser, which drops quotes like a shell does and also treats ``#``
inside quotes as text: on Slurm 22.05 a log folder and a working directory such as
``/tmp/a dir 'q' "dq" ; semi # hash %p`` worked as ``#SBATCH`` values (tested in
``cluster_tests/test_slurm_backend.py``). That parser also takes a backslash as an
escape even inside single quotes, and slurmd drops the pattern expansion of an output
path holding one, so paths and values with a backslash (or a newline) are refused with
`hpcflow.errors.InputError` instead of producing a job that fails without a log. A ``%``
in the log folder is doubled, because ``--output`` expands ``%A``-style patterns
(``--chdir`` does not, on 22.05).

The parsers of the commands' outputs are pure functions in `hpcflow.schedulers._slurm_parse`
(re-exported here), tested on outputs recorded from a real cluster (``tests/data/slurm/``).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from hpcflow.errors import InputError, SchedulerError
from hpcflow.schedulers import _format
from hpcflow.schedulers._core import CommandScheduler, StatusQuery, failure, is_placeholder
from hpcflow.schedulers._jobenv import slurm_job_environment
from hpcflow.schedulers._slurm_parse import (
    ACCOUNTING_FIELDS,
    LOG_SIGNS,
    SACCT_FIELDS,
    SINFO_FORMAT,
    SQUEUE_FORMAT,
    NodeGroup,
    PartitionInfo,
    parse_job_id,
    parse_sacct,
    parse_sacct_accounting,
    parse_sbatch_parsable,
    parse_scontrol_config,
    parse_sinfo,
    parse_sinfo_gpus,
    parse_sinfo_time,
    parse_squeue,
    slurm_failure_reason,
    slurm_task_state,
)
from hpcflow.schedulers.base import (
    ArrayRequest,
    Capacity,
    JobDependency,
    JobEnvironment,
    TaskAccounting,
    TaskState,
    register_scheduler,
)
from hpcflow.spec.resources import Resources

__all__ = [
    "LOG_SIGNS",
    "SINFO_FORMAT",
    "SQUEUE_FORMAT",
    "SACCT_FIELDS",
    "NodeGroup",
    "PartitionInfo",
    "SlurmScheduler",
    "dependency_flag",
    "format_memory",
    "format_walltime",
    "parse_job_id",
    "parse_sacct",
    "parse_sbatch_parsable",
    "parse_scontrol_config",
    "parse_sinfo",
    "parse_sinfo_gpus",
    "parse_sinfo_time",
    "parse_squeue",
    "render_sbatch",
    "resource_flags",
    "slurm_failure_reason",
    "slurm_job_environment",
    "slurm_task_state",
]

# Flags hpcflow sets itself: changing them through ``extra`` would break the contract
# of a submitted array (one log per task, the task number, the dependencies).
_RESERVED_FLAGS = frozenset(
    {
        "array",
        "output",
        "error",
        "open-mode",
        "job-name",
        "chdir",
        "dependency",
        "kill-on-invalid-dep",
        "parsable",
        "wrap",
    }
)

# ---------------------------------------------------------------------------------------
# Pure translation of hpcflow's neutral values to sbatch flags


def format_walltime(seconds: int) -> str:
    """A wall time in seconds as SLURM's ``D-HH:MM:SS`` (seconds kept, never rounded down).

    SLURM itself keeps time limits in whole minutes and rounds up: ``0-01:02:05`` becomes
    a limit of 1:03:00 (seen on 22.05), so a job never gets less than it asked for.

    Examples
    --------
    >>> format_walltime(90)
    '0-00:01:30'
    >>> format_walltime(2 * 86400 + 3 * 3600 + 4 * 60 + 5)
    '2-03:04:05'
    """
    return _format.format_duration(seconds, "slurm")


def format_memory(n_bytes: int) -> str:
    """Memory in bytes as a ``--mem`` value in whole MiB, rounded up (SLURM's unit is MiB).

    Examples
    --------
    >>> format_memory(4 * 1024**3)
    '4096M'
    >>> format_memory(1), format_memory(1024**2 + 1)
    ('1M', '2M')
    """
    return _format.format_memory(n_bytes, "M")


def resource_flags(resources: Resources) -> dict[str, Any]:
    """The sbatch long options (name without dashes -> value) for ``resources``.

    ``cpus`` is ``--cpus-per-task``; ``cpus_per_node`` is ``--ntasks-per-node`` (one task
    slot per CPU on each node, as MPI launchers inside the task expect); ``gpus`` is
    ``--gres=gpu:N`` (omitted for 0). ``extra`` entries come last and win; their names may
    be written with ``_`` or leading dashes. A value of ``True`` renders a bare flag
    (``--exclusive``), ``None`` or ``False`` removes the flag.

    Examples
    --------
    >>> resource_flags(Resources(cpus=2, memory="1.5GB", walltime="1:00:00", gpus=1))
    {'cpus-per-task': 2, 'mem': '1536M', 'gres': 'gpu:1', 'time': '0-01:00:00'}
    >>> resource_flags(Resources(extra={"exclusive": True, "--mail_type": "END"}))
    {'exclusive': True, 'mail-type': 'END'}
    """
    flags: dict[str, Any] = {}
    if resources.cpus is not None:
        flags["cpus-per-task"] = resources.cpus
    if resources.nodes is not None:
        flags["nodes"] = resources.nodes
    if resources.cpus_per_node is not None:
        flags["ntasks-per-node"] = resources.cpus_per_node
    if resources.memory is not None:
        flags["mem"] = format_memory(resources.memory)
    if resources.gpus:
        flags["gres"] = f"gpu:{resources.gpus}"
    if resources.walltime is not None:
        flags["time"] = format_walltime(resources.walltime)
    for name, value in (
        ("partition", resources.partition),
        ("account", resources.account),
        ("qos", resources.qos),
        ("constraint", resources.constraint),
    ):
        if value is not None:
            flags[name] = value
    flags.update(_normalized_flags(resources.extra, "Resources.extra"))
    return flags


def dependency_flag(dependencies: Iterable[JobDependency]) -> str | None:
    """The ``--dependency`` value: ``aftercorr`` (aligned), ``afterok`` (whole), ``afterany``.

    Every id sits under its own type group: in SLURM ``afterok:1,2`` would mean
    ``afterok:1`` AND ``afterany:2``, while ``afterok:1:2`` waits for both to succeed.
    Groups are joined with ``,`` (AND).

    Examples
    --------
    >>> dependency_flag([JobDependency("7", "aligned"), JobDependency("5"),
    ...                  JobDependency("8", "aligned"), JobDependency("5")])
    'aftercorr:7:8,afterok:5'
    >>> dependency_flag([JobDependency("5", "any"), JobDependency("6", "any")])
    'afterany:5:6'
    >>> dependency_flag([]) is None
    True
    """
    groups: dict[str, list[str]] = {"aftercorr": [], "afterok": [], "afterany": []}
    kinds = {"aligned": "aftercorr", "whole": "afterok", "any": "afterany"}
    for dep in dependencies:
        if not is_placeholder(dep.job_id):  # a dry run renders before any id exists
            _check_job_id(dep.job_id)
        group = groups[kinds[dep.kind]]
        if dep.job_id not in group:
            group.append(dep.job_id)
    parts = [":".join([kind, *ids]) for kind, ids in groups.items() if ids]
    return ",".join(parts) or None


def _normalized_flags(flags: Mapping[str, Any], where: str) -> dict[str, Any]:
    # "--mail_type", "mail_type" and "mail-type" all name one option; normalizing keeps
    # two spellings from rendering the option twice.
    out = _format.option_names(flags, where, _format.LONG_OPTION)
    for name in out:
        if name in _RESERVED_FLAGS:
            raise InputError(
                f"{where}: --{name} is set by hpcflow and cannot be overridden "
                f"(reserved: {', '.join(sorted(_RESERVED_FLAGS))})"
            )
    return out


def render_sbatch(flags: Mapping[str, Any], setup: Sequence[str], command: str) -> str:
    """The job script: every option as an ``#SBATCH`` line (sorted), the setup, the command.

    A value of ``True`` renders a bare flag; other values go through `shlex.quote`.
    Option names must already be checked (`_format.LONG_OPTION`).

    Examples
    --------
    >>> print(render_sbatch({"requeue": True, "chdir": "/a b"}, ["module load x"], "exec true"))
    #!/bin/bash
    <BLANKLINE>
    # Parameters
    #SBATCH --chdir='/a b'
    #SBATCH --requeue
    <BLANKLINE>
    # setup
    module load x
    <BLANKLINE>
    # command
    exec true
    <BLANKLINE>
    """
    lines = ["#!/bin/bash", "", "# Parameters"]
    for name in sorted(flags):
        value = flags[name]
        if value is True:
            lines.append(f"#SBATCH --{name}")
        else:
            lines.append(f"#SBATCH --{name}={shlex.quote(str(value))}")
    if setup:
        lines += ["", "# setup", *setup]
    lines += ["", "# command", command, ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------
# The scheduler


class SlurmScheduler(CommandScheduler):
    """Submit hpcflow's job arrays to SLURM.

    Parameters
    ----------
    partition, account, qos
        Defaults for every array; a function's `Resources` fields override them.
    setup
        Shell lines run before each task (``module load ...``).
    python
        The Python executable of the tasks (default: this interpreter); the submit layer
        puts it in each request's ``argv``, which `render` runs as given.
    extra_sbatch
        More sbatch options for every array, as a mapping of long option name (without
        dashes) to value, e.g. ``{"constraint": "fast", "exclusive": True}``; ``True``
        renders a bare flag, ``None``/``False`` none. A function's ``Resources`` (typed
        fields and ``extra``) override these. A mapping, not raw strings, so that one
        option set twice is merged, never rendered twice.
    max_array_size
        Most tasks per array; by default read once from ``scontrol show config``.

    Examples
    --------
    >>> from pathlib import Path
    >>> s = SlurmScheduler(partition="debug", python="/usr/bin/python3")
    >>> request = ArrayRequest(name="run1-f", argv=("python3", "-m", "task"), n_tasks=4,
    ...                        resources=Resources(walltime=3600), log_dir=Path("/r/logs"),
    ...                        workdir=Path("/r"), task_offset=8, max_parallel=2)
    >>> print(s.render(request))
    #!/bin/bash
    <BLANKLINE>
    # Parameters
    #SBATCH --array=0-3%2
    #SBATCH --chdir=/r
    #SBATCH --job-name=run1-f
    #SBATCH --kill-on-invalid-dep=yes
    #SBATCH --open-mode=append
    #SBATCH --output=/r/logs/%A_%a.log
    #SBATCH --partition=debug
    #SBATCH --requeue
    #SBATCH --time=0-01:00:00
    #SBATCH --wckey=hpcflow
    <BLANKLINE>
    # command
    exec python3 -m task $((8 + SLURM_ARRAY_TASK_ID))
    <BLANKLINE>
    """

    name: ClassVar[str] = "slurm"
    supports_per_task_dependencies: ClassVar[bool] = True
    script_suffix: ClassVar[str] = "sbatch"
    missing_hint: ClassVar[str] = "is SLURM installed, or a 'module load slurm' missing?"

    def __init__(
        self,
        *,
        partition: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        setup: Sequence[str] = (),
        python: str | None = None,
        extra_sbatch: Mapping[str, Any] | None = None,
        max_array_size: int | None = None,
    ) -> None:
        super().__init__(python=python, setup=setup)
        if extra_sbatch is not None and not isinstance(extra_sbatch, Mapping):
            raise InputError(
                f"extra_sbatch={extra_sbatch!r} must be a mapping of sbatch option -> value, "
                'e.g. {"constraint": "fast"}'
            )
        if max_array_size is not None and (
            isinstance(max_array_size, bool)
            or not isinstance(max_array_size, int)
            or max_array_size < 1
        ):
            raise InputError(f"max_array_size={max_array_size!r} must be an int >= 1 or None")
        self.partition = partition
        self.account = account
        self.qos = qos
        self.extra_sbatch = dict(extra_sbatch or {})
        self._extra_flags = _normalized_flags(self.extra_sbatch, "extra_sbatch")
        self._max_array_size_override = max_array_size
        self._max_array_size: int | None = max_array_size
        # Set to False the first time sacct says accounting is disabled: asking again on
        # every poll would only cost a call and fail the same way.
        self._accounting = True
        self._partitions: dict[str, PartitionInfo] | None = None

    def options(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "account": self.account,
            "qos": self.qos,
            "setup": list(self.setup),
            "python": self.python,
            "extra_sbatch": dict(self.extra_sbatch),
            "max_array_size": self._max_array_size_override,
        }

    # -- commands ------------------------------------------------------------------------

    def max_array_size(self) -> int:
        if self._max_array_size is None:
            argv = ["scontrol", "show", "config"]
            proc = self._run(argv)
            if proc.returncode != 0:
                raise SchedulerError(failure(argv, proc))
            value = parse_scontrol_config(proc.stdout).get("MaxArraySize", "")
            if not value.isdigit():
                raise SchedulerError(f"{shlex.join(argv)} shows no MaxArraySize: {value!r}")
            self._max_array_size = int(value)
        return self._max_array_size

    def partitions(self) -> dict[str, PartitionInfo]:
        """Every partition, from one ``sinfo`` call per scheduler object (cached)."""
        if self._partitions is None:
            argv = ["sinfo", "--noheader", "--exact", f"--format={SINFO_FORMAT}"]
            proc = self._run(argv)
            if proc.returncode != 0:
                raise SchedulerError(failure(argv, proc))
            try:
                self._partitions = parse_sinfo(proc.stdout)
            except SchedulerError as e:
                raise SchedulerError(f"{shlex.join(argv)}: {e}") from None
        return self._partitions

    def capacity(self, resources: Resources) -> Capacity:
        """Slots and MaxTime of the target partition for tasks of ``resources`` (`sinfo`).

        The partition is ``resources.partition``, else this scheduler's ``partition``,
        else the cluster's default. Slots count every node of the partition, whatever
        its state (sinfo's row is not split by state), so they are an upper bound on
        what runs at once. ``slots=0``: no node can hold one such task.

        Raises
        ------
        InputError
            The partition is not one of the cluster's (the message lists them).
        SchedulerError
            ``sinfo`` cannot be run or fails (no cluster here).
        """
        partitions = self.partitions()
        name = resources.partition or self.partition
        if name is None:
            defaults = [p for p in partitions.values() if p.default]
            if not defaults:
                raise InputError(
                    "no partition was given and SLURM has no default partition; pass "
                    f"partition= (one of {', '.join(sorted(partitions)) or 'none'})"
                )
            info = defaults[0]
        else:
            try:
                info = partitions[name]
            except KeyError:
                raise InputError(
                    f"partition {name!r} is not one of this SLURM cluster's partitions: "
                    f"{', '.join(sorted(partitions)) or 'none'}"
                ) from None
        limit = "infinite" if info.max_seconds is None else f"{info.max_seconds} s"
        return Capacity(
            slots=info.slots(resources),
            max_task_seconds=info.max_seconds,
            source=f"sinfo -p {info.name}: {info.describe()}; MaxTime {limit}",
        )

    def sbatch_flags(self, request: ArrayRequest) -> dict[str, Any]:
        """Every sbatch option of ``request`` (long name -> value; ``True``: bare flag)."""
        flags: dict[str, Any] = {"wckey": "hpcflow", "requeue": True}
        for name, value in (
            ("partition", self.partition),
            ("account", self.account),
            ("qos", self.qos),
        ):
            if value is not None:
                flags[name] = value
        flags.update(self._extra_flags)
        flags.update(resource_flags(request.resources))
        array = _format.array_range(request.n_tasks, request.max_parallel)
        # %A: the array's job id, %a: the task's index (sbatch's filename patterns)
        log_pattern = (
            str(request.log_dir).replace("%", "%%") + "/" + _format.task_log_name("%A", "%a")
        )
        flags.update(
            {
                "array": array,
                "job-name": request.name,
                "output": log_pattern,
                "open-mode": "append",
                "chdir": str(request.workdir),
                "kill-on-invalid-dep": "yes",
                "dependency": dependency_flag(request.dependencies),
            }
        )
        flags = {k: v for k, v in flags.items() if v is not None and v is not False}
        for name, value in flags.items():
            text = str(value)
            if "\\" in text or "\n" in text or "\r" in text:
                raise InputError(
                    f"--{name}={text!r}: SLURM cannot take a backslash or a line break in an "
                    "#SBATCH value (sbatch reads a backslash as an escape); use another path"
                )
        return flags

    def render(self, request: ArrayRequest) -> str:
        flags = self.sbatch_flags(request)
        command = " ".join(
            ["exec", shlex.join(request.argv), f"$(({request.task_offset} + SLURM_ARRAY_TASK_ID))"]
        )
        return render_sbatch(flags, self.setup, command)

    # -- hooks of the core ---------------------------------------------------------------

    def submit_argv(self, script: Path) -> list[str]:
        return ["sbatch", "--parsable", str(script)]

    def parse_submit_output(self, stdout: str) -> str:
        return parse_sbatch_parsable(stdout)

    def validate_job_id(self, job_id: str) -> None:
        _check_job_id(job_id)

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["scancel", *job_ids]

    def is_unknown_job_error(self, stderr: str) -> bool:
        return _only_unknown_jobs(stderr)

    def status_queries(self, job_ids: Sequence[str]) -> list[StatusQuery]:
        """squeue, then sacct (unless accounting is disabled).

        squeue (the controller's live view) wins for the tasks it lists; sacct (the
        accounting database, which lags by a few seconds) gives the finished ones. Where
        accounting is disabled, only squeue is asked, and finished tasks are absent.
        squeue asked for one job that left the controller (MinJobAge) fails with
        "Invalid job id specified"; with several ids it simply lists none of them.
        """
        joined = ",".join(job_ids)
        squeue = (
            "squeue",
            "--noheader",
            "--array",
            f"--format={SQUEUE_FORMAT}",
            f"--jobs={joined}",
        )
        queries = [StatusQuery(squeue, parse_squeue, _only_unknown_jobs)]
        if self._accounting:
            fields = f"--format={','.join(SACCT_FIELDS)}"
            sacct = ("sacct", "--allocations", "--parsable2", fields, f"--jobs={joined}")
            queries.append(StatusQuery(sacct, parse_sacct, self._accounting_disabled))
        return queries

    def accounting(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskAccounting]]:
        """One ``sacct`` call for all of ``job_ids``, steps included (MaxRSS is on the
        ``.batch`` step lines); ``{}`` where accounting is disabled."""
        ids = [j for j in dict.fromkeys(job_ids) if not is_placeholder(j)]
        if not ids or not self._accounting:
            return {}
        for job_id in ids:
            self.check_job_id(job_id)
        argv = (
            "sacct", "--parsable2", f"--format={','.join(ACCOUNTING_FIELDS)}",
            f"--jobs={','.join(ids)}",
        )  # fmt: skip
        proc = self._run(argv)
        if proc.returncode != 0:
            if self._accounting_disabled(proc.stderr):
                return {}
            raise SchedulerError(failure(argv, proc))
        try:
            return parse_sacct_accounting(proc.stdout)
        except SchedulerError as e:
            raise SchedulerError(f"{shlex.join(argv)}: {e}") from None

    def _accounting_disabled(self, stderr: str) -> bool:
        # Asking again on every poll would only cost a call and fail the same way.
        if "accounting storage is disabled" in stderr.lower():
            self._accounting = False
            return True
        return False

    @classmethod
    def job_environment(cls, environ: Mapping[str, str]) -> JobEnvironment:
        """``SLURM_ARRAY_JOB_ID``/``SLURM_JOB_ID``, ``SLURM_ARRAY_TASK_ID``, ``SLURM_RESTART_COUNT``."""
        return slurm_job_environment(environ)

    @classmethod
    def failure_reason(cls, log_text: str) -> TaskState | None:
        """slurmstepd's kill messages (`LOG_SIGNS`)."""
        return slurm_failure_reason(log_text)


def _check_job_id(job_id: str) -> None:
    # Ids are passed as command-line arguments: a malformed one must not become an option.
    if not isinstance(job_id, str) or not job_id.isdigit():
        raise InputError(f"{job_id!r} is not a SLURM job id (digits, as submit returns)")


def _only_unknown_jobs(stderr: str) -> bool:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all("invalid job id" in line.lower() for line in lines)


register_scheduler("slurm", SlurmScheduler)
