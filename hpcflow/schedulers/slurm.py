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

The parsers of the commands' outputs are pure module functions, tested on outputs
recorded from a real cluster (``tests/data/slurm/``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from hpcflow.errors import InputError, SchedulerError, SpecError
from hpcflow.schedulers import _format
from hpcflow.schedulers._core import CommandScheduler, StatusQuery, failure, is_placeholder
from hpcflow.schedulers._jobenv import slurm_job_environment
from hpcflow.schedulers.base import (
    ArrayRequest,
    Capacity,
    JobDependency,
    JobEnvironment,
    TaskState,
    TaskStatus,
    register_scheduler,
    tasks_per_node,
)
from hpcflow.spec.resources import Resources, parse_walltime

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

#: ``squeue --format`` of `SlurmScheduler.states`: job id, long state name, reason.
SQUEUE_FORMAT = "%i|%T|%r"
#: ``sinfo --format`` of `SlurmScheduler.capacity`: partition (``*``: the default), node
#: count, CPUs per node, memory per node (MB), gres, time limit.
SINFO_FORMAT = "%P|%D|%c|%m|%G|%l"
#: ``sacct --format`` fields of `SlurmScheduler.states`.
SACCT_FIELDS = ("JobID", "State", "ExitCode")

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

_STATES: dict[str, TaskState] = {
    # Not started. CONFIGURING holds nodes that are still booting: the script has not
    # started, so the task counts as waiting, like one in the queue.
    "PENDING": TaskState.PENDING,
    "CONFIGURING": TaskState.PENDING,
    "REQUEUED": TaskState.PENDING,
    "REQUEUE_FED": TaskState.PENDING,
    "REQUEUE_HOLD": TaskState.PENDING,
    "RESV_DEL_HOLD": TaskState.PENDING,
    "SPECIAL_EXIT": TaskState.PENDING,
    # Started and not over: COMPLETING runs the epilog, so the exit code is not final yet.
    "RUNNING": TaskState.RUNNING,
    "COMPLETING": TaskState.RUNNING,
    "SUSPENDED": TaskState.RUNNING,
    "STOPPED": TaskState.RUNNING,
    "SIGNALING": TaskState.RUNNING,
    "STAGE_OUT": TaskState.RUNNING,
    "RESIZING": TaskState.RUNNING,
    # Over.
    "COMPLETED": TaskState.COMPLETED,
    "FAILED": TaskState.FAILED,
    "BOOT_FAIL": TaskState.FAILED,
    "DEADLINE": TaskState.FAILED,
    "CANCELLED": TaskState.CANCELLED,
    "REVOKED": TaskState.CANCELLED,
    "TIMEOUT": TaskState.TIMEOUT,
    "OUT_OF_MEMORY": TaskState.OUT_OF_MEMORY,
    "PREEMPTED": TaskState.PREEMPTED,
    "NODE_FAIL": TaskState.NODE_FAIL,
}

_JOB_ID = re.compile(r"(\d+)(?:_(\d+|\[[^\]]*\]))?")

#: What slurmstepd writes into a task's log when it ends the task, lowercase, with the
#: state it means: SLURM without cgroups kills a task over its memory ("exceeded memory
#: limit"), and reports it as FAILED 0:9 or CANCELLED (both seen on 22.05), so the log
#: is what tells; "DUE TO TIME LIMIT" and the like end the "CANCELLED AT" line.
LOG_SIGNS: tuple[tuple[str, TaskState], ...] = (
    ("exceeded memory limit", TaskState.OUT_OF_MEMORY),
    ("oom-kill", TaskState.OUT_OF_MEMORY),
    ("out of memory", TaskState.OUT_OF_MEMORY),
    ("due to time limit", TaskState.TIMEOUT),
    ("due to preemption", TaskState.PREEMPTED),
    ("due to node failure", TaskState.NODE_FAIL),
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


def slurm_failure_reason(log_text: str) -> TaskState | None:
    """The state slurmstepd's message in a task's log means (`LOG_SIGNS`), if any.

    Examples
    --------
    >>> slurm_failure_reason("slurmstepd: error: *** JOB 185 ON c1 CANCELLED AT "
    ...                      "2026-11-22T04:20:11 DUE TO TIME LIMIT ***")
    <TaskState.TIMEOUT: 'TIMEOUT'>
    >>> slurm_failure_reason("slurmstepd: error: Job 184 exceeded memory limit (1200 > 1024)")
    <TaskState.OUT_OF_MEMORY: 'OUT_OF_MEMORY'>
    >>> slurm_failure_reason("Traceback (most recent call last):") is None
    True
    """
    text = log_text.lower()
    for sign, state in LOG_SIGNS:
        if sign in text:
            return state
    return None


# ---------------------------------------------------------------------------------------
# Pure parsers of the commands' outputs


def parse_sbatch_parsable(stdout: str) -> str:
    """The job id printed by ``sbatch --parsable``: ``"123"`` or ``"123;cluster"``.

    Examples
    --------
    >>> parse_sbatch_parsable("168\\n")
    '168'
    >>> parse_sbatch_parsable("4242;cluster2\\n")
    '4242'
    """
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    job_id = lines[-1].split(";")[0] if lines else ""
    if not job_id.isdigit():
        raise SchedulerError(f"sbatch --parsable printed no job id: {stdout!r}")
    return job_id


def parse_scontrol_config(text: str) -> dict[str, str]:
    """The ``KEY = value`` settings of ``scontrol show config``.

    Examples
    --------
    >>> config = parse_scontrol_config(
    ...     "Configuration data as of 2026-11-22T04:16:10\\n"
    ...     "MaxArraySize            = 101\\n"
    ...     "MinJobAge               = 600 sec\\n")
    >>> int(config["MaxArraySize"]), config["MinJobAge"]
    (101, '600 sec')
    """
    settings: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip():
            settings[key.strip()] = value.strip()
    return settings


@dataclass(frozen=True)
class NodeGroup:
    """One ``sinfo`` row: ``nodes`` nodes of one shape in a partition.

    Attributes
    ----------
    nodes
        How many nodes.
    cpus
        CPUs per node.
    memory
        Memory per node in bytes (``None``: sinfo did not say).
    gpus
        GPUs per node (from the gres, e.g. ``gpu:a100:4``).
    """

    nodes: int
    cpus: int
    memory: int | None
    gpus: int


@dataclass(frozen=True)
class PartitionInfo:
    """What ``sinfo`` says of one partition: its node groups and time limit.

    Attributes
    ----------
    name
        The partition's name (without sinfo's ``*``).
    default
        Whether it is the cluster's default partition.
    groups
        Its node groups, one per sinfo row.
    max_seconds
        The partition's MaxTime in seconds (``None``: infinite).
    """

    name: str
    default: bool
    groups: tuple[NodeGroup, ...]
    max_seconds: int | None

    def slots(self, resources: Resources) -> int:
        """How many tasks of ``resources`` the partition's nodes hold at once.

        The sum over node groups of nodes x `tasks_per_node`. A task over several
        nodes (``resources.nodes > 1``) needs that many nodes that can each hold its
        per-node share: slots are such nodes // ``nodes``.

        Examples
        --------
        >>> p = parse_sinfo("debug*|3|2|4000|(null)|infinite\\n")["debug"]
        >>> p.slots(Resources()), p.slots(Resources(cpus=2)), p.slots(Resources(cpus=4))
        (6, 3, 0)
        >>> p.slots(Resources(memory="3GB")), p.slots(Resources(nodes=2))
        (3, 1)
        """
        fits = [
            (g.nodes, tasks_per_node(resources, cpus=g.cpus, memory=g.memory, gpus=g.gpus))
            for g in self.groups
        ]
        span = resources.nodes or 1
        if span > 1:
            return sum(nodes for nodes, fit in fits if fit >= 1) // span
        return sum(nodes * fit for nodes, fit in fits)

    def describe(self) -> str:
        """The partition's nodes in one line (for `Capacity.source`).

        Examples
        --------
        >>> parse_sinfo("gpu|2|64|512000|gpu:a100:4|2-00:00:00\\n")["gpu"].describe()
        '2 nodes x 64 CPUs, 512000 MB, 4 GPUs each'
        """
        parts = []
        for g in self.groups:
            each = [f"{g.cpus} CPUs"]
            if g.memory is not None:
                each.append(f"{g.memory // _format.MIB} MB")
            if g.gpus:
                each.append(f"{g.gpus} GPUs")
            noun = "node" if g.nodes == 1 else "nodes"
            parts.append(f"{g.nodes} {noun} x {', '.join(each)} each")
        return "; ".join(parts) or "no nodes"


def parse_sinfo_time(text: str) -> int | None:
    """A ``sinfo %l`` time limit in seconds; ``infinite`` (or ``UNLIMITED``) is ``None``.

    SLURM prints ``D-HH:MM:SS``, ``HH:MM:SS`` or ``MM:SS`` (a MaxTime of 5 minutes is
    ``5:00``); a bare number is minutes, as in slurm.conf.

    Examples
    --------
    >>> parse_sinfo_time("infinite") is None, parse_sinfo_time("UNLIMITED") is None
    (True, True)
    >>> parse_sinfo_time("1-00:00:00"), parse_sinfo_time("2:00:00"), parse_sinfo_time("30:00")
    (86400, 7200, 1800)
    >>> parse_sinfo_time("45")
    2700
    """
    value = text.strip()
    if value.lower() in ("infinite", "unlimited"):
        return None
    if value.isdigit():
        value = f"{value}:00"  # minutes
    try:
        return parse_walltime(value)
    except SpecError:
        raise SchedulerError(f"cannot read the sinfo time limit {text!r}") from None


_GPU_GRES = re.compile(r"gpu(?::[^:,()]+)?:(\d+)")


def parse_sinfo_gpus(gres: str) -> int:
    """GPUs per node in a ``sinfo %G`` gres list (``(null)``: none).

    Examples
    --------
    >>> parse_sinfo_gpus("gpu:4"), parse_sinfo_gpus("gpu:a100:2(S:0-1),mps:200")
    (4, 2)
    >>> parse_sinfo_gpus("gpu:v100:2,gpu:t4:1"), parse_sinfo_gpus("(null)")
    (3, 0)
    """
    total = 0
    for item in gres.split(","):
        m = _GPU_GRES.match(item.strip())
        if m:
            total += int(m.group(1))
    return total


def _sinfo_count(text: str, what: str, line: str) -> int:
    # Without --exact sinfo prints the smallest value of a group followed by "+".
    value = text.strip().rstrip("+")
    if not value.isdigit():
        raise SchedulerError(f"cannot read the {what} {text!r} in sinfo line {line!r}")
    return int(value)


def parse_sinfo(text: str) -> dict[str, PartitionInfo]:
    """Read ``sinfo --noheader --exact --format='%P|%D|%c|%m|%G|%l'``: partitions by name.

    Rows of one partition (nodes of different shapes) are its node groups. A value
    such as ``250+`` (sinfo grouping unequal nodes) is read as its minimum.

    Examples
    --------
    >>> parts = parse_sinfo("debug*|3|2|4000|(null)|30:00\\n"
    ...                     "gpu|2|64|512000|gpu:a100:4|2-00:00:00\\n"
    ...                     "gpu|1|32|256000|gpu:2|2-00:00:00\\n")
    >>> sorted(parts), parts["debug"].default, parts["debug"].max_seconds
    (['debug', 'gpu'], True, 1800)
    >>> [(g.nodes, g.cpus, g.gpus) for g in parts["gpu"].groups]
    [(2, 64, 4), (1, 32, 2)]
    """
    found: dict[str, tuple[bool, list[NodeGroup], int | None]] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 6:
            raise SchedulerError(f"cannot read sinfo line {line!r} (expected {SINFO_FORMAT})")
        name, nodes, cpus, memory, gres, limit = (f.strip() for f in fields)
        default = name.endswith("*")
        name = name.rstrip("*")
        mem_mb = memory.rstrip("+")
        group = NodeGroup(
            nodes=_sinfo_count(nodes, "node count", line),
            cpus=_sinfo_count(cpus, "CPU count", line),
            memory=int(mem_mb) * _format.MIB if mem_mb.isdigit() else None,
            gpus=parse_sinfo_gpus(gres),
        )
        seconds = parse_sinfo_time(limit)
        was_default, groups, _ = found.setdefault(name, (default, [], seconds))
        groups.append(group)
        found[name] = (was_default or default, groups, seconds)
    return {
        name: PartitionInfo(name, default, tuple(groups), seconds)
        for name, (default, groups, seconds) in found.items()
    }


def parse_job_id(text: str) -> tuple[str, tuple[int, ...] | None]:
    """Split a job id as squeue and sacct print it into (array job id, task indices).

    A bare id gives ``None``: for an array, sacct prints that before SLURM splits the
    array into tasks, and it names no task.

    Examples
    --------
    >>> parse_job_id("123_4")
    ('123', (4,))
    >>> parse_job_id("123_[0-3%2]")
    ('123', (0, 1, 2, 3))
    >>> parse_job_id("123_[0-1,5,8-9]")
    ('123', (0, 1, 5, 8, 9))
    >>> parse_job_id("123")
    ('123', None)
    """
    m = _JOB_ID.fullmatch(text.strip())
    if m is None:
        raise SchedulerError(f"cannot read the SLURM job id {text!r}")
    job_id, task = m.groups()
    if task is None:
        return job_id, None
    if task.isdigit():
        return job_id, (int(task),)
    return job_id, _expand_indices(text, task[1:-1])


def _expand_indices(text: str, spec: str) -> tuple[int, ...]:
    # "2-9%2": the part after % is the array's throttle, not an index.
    spec = spec.partition("%")[0]
    indices: list[int] = []
    try:
        for part in spec.split(","):
            first, _, rest = part.partition("-")
            last, _, step = rest.partition(":")
            indices.extend(range(int(first), int(last or first) + 1, int(step or 1)))
    except ValueError:
        raise SchedulerError(f"cannot read the array tasks of job id {text!r}") from None
    return tuple(indices)


def slurm_task_state(state: str) -> TaskState:
    """A SLURM state name (as ``squeue %T`` or ``sacct`` print it) as a `TaskState`.

    Examples
    --------
    >>> slurm_task_state("CANCELLED by 0")
    <TaskState.CANCELLED: 'CANCELLED'>
    >>> slurm_task_state("REQUEUED"), slurm_task_state("DEADLINE")
    (<TaskState.PENDING: 'PENDING'>, <TaskState.FAILED: 'FAILED'>)
    >>> slurm_task_state("SOMETHING_NEW")
    <TaskState.UNKNOWN: 'UNKNOWN'>
    """
    # sacct appends who cancelled: "CANCELLED by 0".
    words = state.split()
    return _STATES.get(words[0].upper(), TaskState.UNKNOWN) if words else TaskState.UNKNOWN


def parse_squeue(text: str) -> dict[str, dict[int, TaskStatus]]:
    """Read ``squeue --noheader --array --format='%i|%T|%r'``: task statuses by job id.

    Ranges like ``123_[0-99]`` (printed without ``--array``) expand to every index. The
    reason is kept (``"None"`` means none), e.g. ``DependencyNeverSatisfied``.

    Examples
    --------
    >>> out = parse_squeue("171_[2-3%2]|PENDING|JobArrayTaskLimit\\n171_0|RUNNING|None\\n")
    >>> for index, status in sorted(out["171"].items()):
    ...     print(index, status.state, status.reason)
    0 RUNNING None
    2 PENDING JobArrayTaskLimit
    3 PENDING JobArrayTaskLimit
    """
    records: list[tuple[str, str, str | None, str | None]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|", 2)
        if len(fields) != 3:
            raise SchedulerError(f"cannot read squeue line {line!r} (expected {SQUEUE_FORMAT})")
        job, state, reason = (f.strip() for f in fields)
        records.append((job, state, None, None if reason in ("", "None") else reason))
    return _by_task(records)


def parse_sacct(text: str) -> dict[str, dict[int, TaskStatus]]:
    """Read ``sacct --allocations --parsable2 --format=JobID,State,ExitCode`` (with header).

    Accepts the names sacct gives tasks that never started, such as ``123_[0-1]`` or
    ``123_[1-3%1]`` for a cancelled pending array, and states like ``CANCELLED by 0``.
    A bare array id names no task and is skipped (its tasks are in squeue). A task's own
    record wins over a range that includes it; steps (``123_4.batch``) are skipped.

    Examples
    --------
    >>> out = parse_sacct("JobID|State|ExitCode\\n"
    ...                   "178_1|FAILED|1:0\\n"
    ...                   "188_[1-2%1]|CANCELLED by 0|0:0\\n")
    >>> out["178"][1]
    TaskStatus(state=<TaskState.FAILED: 'FAILED'>, exit_code='1:0', reason=None)
    >>> sorted(out["188"]), out["188"][2].state
    ([1, 2], <TaskState.CANCELLED: 'CANCELLED'>)
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    header = lines[0].split("|")
    try:
        columns = [header.index(name) for name in SACCT_FIELDS]
    except ValueError:
        raise SchedulerError(
            f"sacct output has no header with {', '.join(SACCT_FIELDS)}: {lines[0]!r}"
        ) from None
    records: list[tuple[str, str, str | None, str | None]] = []
    for line in lines[1:]:
        fields = line.split("|")
        if len(fields) != len(header):
            raise SchedulerError(f"cannot read sacct line {line!r} (columns {lines[0]!r})")
        job, state, exit_code = (fields[i].strip() for i in columns)
        if "." in job or "+" in job:  # a step, or a heterogeneous job's component
            continue
        records.append((job, state, exit_code or None, None))
    return _by_task(records)


def _by_task(
    records: Iterable[tuple[str, str, str | None, str | None]],
) -> dict[str, dict[int, TaskStatus]]:
    ranges: dict[str, dict[int, TaskStatus]] = {}
    singles: dict[str, dict[int, TaskStatus]] = {}
    for job, state, exit_code, reason in records:
        job_id, indices = parse_job_id(job)
        if indices is None:
            continue
        status = TaskStatus(slurm_task_state(state), exit_code, reason)
        target = singles if len(indices) == 1 and "[" not in job else ranges
        bucket = target.setdefault(job_id, {})
        for index in indices:
            bucket[index] = status
    for job_id, tasks in singles.items():
        ranges.setdefault(job_id, {}).update(tasks)
    return ranges


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
