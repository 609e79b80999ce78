"""Pure parsers of SLURM's command output and task logs, tested on recorded output.

``sbatch --parsable``, ``scontrol show config``, ``sinfo`` (partitions and their
capacity), ``squeue`` and ``sacct`` (task states), and slurmstepd's kill messages in a
task's log. Recordings and how they were made: ``tests/data/slurm/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from hpcflow.errors import SchedulerError, SpecError
from hpcflow.schedulers import _format
from hpcflow.schedulers.base import TaskAccounting, TaskState, TaskStatus, tasks_per_node
from hpcflow.spec.resources import Resources, parse_walltime

__all__ = [
    "ACCOUNTING_FIELDS",
    "LOG_SIGNS",
    "SACCT_FIELDS",
    "SINFO_FORMAT",
    "SQUEUE_FORMAT",
    "NodeGroup",
    "PartitionInfo",
    "parse_job_id",
    "parse_sacct",
    "parse_sacct_accounting",
    "parse_slurm_cpu_time",
    "parse_slurm_size",
    "parse_sbatch_parsable",
    "parse_scontrol_config",
    "parse_sinfo",
    "parse_sinfo_gpus",
    "parse_sinfo_time",
    "parse_squeue",
    "slurm_failure_reason",
    "slurm_task_state",
]

#: ``squeue --format`` of `SlurmScheduler.states`: job id, long state name, reason.
SQUEUE_FORMAT = "%i|%T|%r"
#: ``sinfo --format`` of `SlurmScheduler.capacity`: partition (``*``: the default), node
#: count, CPUs per node, memory per node (MB), gres, time limit.
SINFO_FORMAT = "%P|%D|%c|%m|%G|%l"
#: ``sacct --format`` fields of `SlurmScheduler.states`.
SACCT_FIELDS = ("JobID", "State", "ExitCode")
#: ``sacct --format`` fields of `SlurmScheduler.accounting` (steps included: MaxRSS is
#: recorded on the ``.batch`` and other step lines only).
ACCOUNTING_FIELDS = (
    "JobID", "State", "Submit", "Start", "End", "ElapsedRaw", "TotalCPU", "MaxRSS",
    "AllocCPUS",
)  # fmt: skip

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


_SIZE_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40, "P": 2**50}


def parse_slurm_size(text: str) -> int | None:
    """Bytes of a size as sacct prints MaxRSS (``63856K``, ``1.50G``, ``0``); ``None`` if
    empty.

    Examples
    --------
    >>> parse_slurm_size("63856K"), parse_slurm_size("1.5G"), parse_slurm_size("")
    (65388544, 1610612736, None)
    """
    text = text.strip()
    if not text:
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGTP]?)", text.upper())
    if m is None:
        raise SchedulerError(f"cannot read the SLURM size {text!r}")
    return round(float(m.group(1)) * _SIZE_UNITS[m.group(2)])


def parse_slurm_cpu_time(text: str) -> float | None:
    """Seconds of a duration as sacct prints TotalCPU: ``MM:SS.mmm``, ``HH:MM:SS``,
    ``D-HH:MM:SS``; ``None`` if empty.

    Examples
    --------
    >>> parse_slurm_cpu_time("00:00.847"), parse_slurm_cpu_time("01:02:03")
    (0.847, 3723.0)
    >>> parse_slurm_cpu_time("1-00:00:01")
    86401.0
    """
    text = text.strip()
    if not text:
        return None
    days, _, rest = text.rpartition("-")
    parts = rest.split(":")
    try:
        if not 2 <= len(parts) <= 3:
            raise ValueError(text)
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
        return seconds + (int(days) * 86400 if days else 0)
    except ValueError:
        raise SchedulerError(f"cannot read the SLURM duration {text!r}") from None


def _slurm_time(text: str) -> float | None:
    """Epoch seconds of sacct's ``Submit``/``Start``/``End`` (``2026-12-01T11:56:09``,
    in the local time zone, as sacct prints it); ``None`` for ``Unknown``/``None``."""
    text = text.strip()
    if not text or text in ("Unknown", "None"):
        return None
    if text.isdigit():  # SLURM_TIME_FORMAT=%s
        return float(text)
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise SchedulerError(f"cannot read the SLURM time {text!r}") from None


def parse_sacct_accounting(text: str) -> dict[str, dict[int, TaskAccounting]]:
    """Read ``sacct --parsable2 --format=`` `ACCOUNTING_FIELDS` (with header, steps
    included): per job id, per array index, what the task used.

    The allocation line (``123_4``) gives state, times, elapsed, CPU time and allocated
    CPUs; the step lines (``123_4.batch``, ``.extern``, ``.0``) give MaxRSS, of which
    the largest is kept, and TotalCPU when the allocation line has none. Ranges of tasks
    that never started (``123_[0-1]``) give each task its state and no use.

    Examples
    --------
    >>> out = parse_sacct_accounting(
    ...     "JobID|State|Submit|Start|End|ElapsedRaw|TotalCPU|MaxRSS|AllocCPUS\\n"
    ...     "1_0|COMPLETED|Unknown|Unknown|Unknown|6|00:02.500||2\\n"
    ...     "1_0.batch|COMPLETED|Unknown|Unknown|Unknown|6|00:02.500|1024K|2\\n")
    >>> a = out["1"][0]
    >>> a.state.value, a.elapsed_s, a.total_cpu_s, a.max_rss_bytes, a.cpus
    ('COMPLETED', 6.0, 2.5, 1048576, 2)
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return {}
    header = lines[0].split("|")
    try:
        col = {name: header.index(name) for name in ACCOUNTING_FIELDS}
    except ValueError:
        raise SchedulerError(
            f"sacct output has no header with {', '.join(ACCOUNTING_FIELDS)}: {lines[0]!r}"
        ) from None
    tasks: dict[str, dict[int, TaskAccounting]] = {}
    rss: dict[tuple[str, int], int] = {}
    step_cpu: dict[tuple[str, int], float] = {}
    for line in lines[1:]:
        fields = line.split("|")
        if len(fields) != len(header):
            raise SchedulerError(f"cannot read sacct line {line!r} (columns {lines[0]!r})")
        f = {name: fields[i].strip() for name, i in col.items()}
        job, _, step = f["JobID"].partition(".")
        if "+" in job:  # a heterogeneous job's component
            continue
        job_id, indices = parse_job_id(job)
        if indices is None:
            continue
        if step:
            if len(indices) == 1:
                key = (job_id, indices[0])
                size = parse_slurm_size(f["MaxRSS"])
                if size is not None:
                    rss[key] = max(rss.get(key, 0), size)
                step_cpu[key] = step_cpu.get(key, 0.0) + (parse_slurm_cpu_time(f["TotalCPU"]) or 0)
            continue
        single = len(indices) == 1 and "[" not in job
        elapsed = f["ElapsedRaw"]
        record = TaskAccounting(
            state=slurm_task_state(f["State"]),
            submit=_slurm_time(f["Submit"]),
            start=_slurm_time(f["Start"]) if single else None,
            end=_slurm_time(f["End"]) if single else None,
            elapsed_s=float(elapsed) if elapsed.isdigit() and single else None,
            total_cpu_s=parse_slurm_cpu_time(f["TotalCPU"]) if single else None,
            cpus=int(f["AllocCPUS"]) if f["AllocCPUS"].isdigit() else None,
        )
        bucket = tasks.setdefault(job_id, {})
        for index in indices:
            if single or index not in bucket:  # a task's own line wins over a range
                bucket[index] = record
    out: dict[str, dict[int, TaskAccounting]] = {}
    for job_id, per_task in tasks.items():
        for index, r in per_task.items():
            key = (job_id, index)
            cpu = r.total_cpu_s if r.total_cpu_s else step_cpu.get(key, r.total_cpu_s)
            out.setdefault(job_id, {})[index] = replace(
                r, max_rss_bytes=rss.get(key), total_cpu_s=cpu
            )
    return out
