"""Pure parsers of PBS Pro / OpenPBS and Torque command output, for `hpcflow.schedulers.pbs`.

Nothing here runs a command: each function takes the text a command printed and returns
values, so the tests can feed them recorded outputs (``tests/data/pbs/``).

Job ids. ``qsub`` prints ``123[].server`` for an array (PBS Pro and Torque alike) and
``124.server`` for a plain job; subjobs are ``123[4].server``. Jobs are matched by their
sequence number (``123``), because a server may print its short name in one place and
its full name in another.

Sources relied on (read through the search tool, not verified against a PBS server,
since none can be installed here):

- Job states: the PBS Pro / OpenPBS ``qstat`` manual (B array begun, E exiting, F
  finished, H held, M moved, Q queued, R running, S suspended, T transit, U suspended by
  the workstation user, W waiting, X finished subjob) and the Torque ``qstat`` manual
  (C completed, E exiting, H, Q, R, T, W, S).
- ``qstat -f -F json`` layout: a top-level object with ``timestamp``, ``pbs_version``,
  ``pbs_server`` and ``Jobs`` (job id -> attributes; ``Resource_List`` and
  ``resources_used`` are nested objects; ``Exit_status`` is a number), as pasted from
  OpenPBS 22.05 in public test fixtures.
- Negative exit statuses: OpenPBS ``src/include/job.h`` (``JOB_EXEC_KILL_MEM -27``,
  ``JOB_EXEC_KILL_VMEM -26``, ``JOB_EXEC_KILL_CPUT -28``, ``JOB_EXEC_KILL_WALLTIME -29``,
  ...); Torque's "Job Exit Status" page (Adaptive Computing, Torque 6.1.2: ``-10`` memory
  limit, ``-11`` walltime limit, ``-12`` CPU time limit). The same number means different
  things in the two systems (PBS Pro ``-11`` is ``JOB_EXEC_RERUN``), hence two tables.
- Exit statuses above 256: the top shell was killed by signal ``status - 256`` (Torque
  reports 271, SIGTERM, for a running job that was deleted, and older PBS versions did the
  same at the walltime limit, with ``=>> PBS: job killed: walltime ... exceeded limit``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hpcflow.errors import SchedulerError
from hpcflow.schedulers.base import TaskAccounting, TaskState, TaskStatus

__all__ = [
    "Dialect",
    "JobId",
    "accounting_by_job",
    "exit_code_text",
    "only_unknown_jobs",
    "parse_job_id",
    "parse_pbs_duration",
    "parse_pbs_size",
    "parse_qstat_full",
    "parse_qstat_json",
    "parse_qsub_output",
    "task_status",
    "tasks_by_job",
]

Dialect = Literal["pbs", "torque"]

_JOB_ID = re.compile(r"(?P<seq>\d+)(?:\[(?P<index>\d*)\])?(?P<server>\.[A-Za-z0-9_.@-]+)?")

# Job states that mean "not started yet", "started and not over", "over".
_WAITING = {"Q": "queued", "H": "held", "W": "waiting for its start time", "T": "in transit"}
_ACTIVE = {"R", "E", "S", "U"}  # E: exiting, the exit status is not final yet
_FINAL = {"pbs": {"F", "X"}, "torque": {"C"}}

# Negative exit statuses, set by the server or MoM rather than by the job script.
_PBS_CODES: dict[int, tuple[str, TaskState]] = {
    -1: ("JOB_EXEC_FAIL1", TaskState.FAILED),
    -2: ("JOB_EXEC_FAIL2", TaskState.FAILED),
    -3: ("JOB_EXEC_RETRY", TaskState.FAILED),
    -4: ("JOB_EXEC_INITABT", TaskState.FAILED),
    -5: ("JOB_EXEC_INITRST", TaskState.FAILED),
    -6: ("JOB_EXEC_INITRMG", TaskState.FAILED),
    -7: ("JOB_EXEC_BADRESRT", TaskState.FAILED),
    -10: ("JOB_EXEC_FAILUID", TaskState.FAILED),
    -11: ("JOB_EXEC_RERUN", TaskState.FAILED),
    -12: ("JOB_EXEC_CHKP", TaskState.FAILED),
    -13: ("JOB_EXEC_FAIL_PASSWORD", TaskState.FAILED),
    -15: ("JOB_EXEC_QUERST", TaskState.FAILED),
    -16: ("JOB_EXEC_FAILHOOK_RERUN", TaskState.FAILED),
    -17: ("JOB_EXEC_FAILHOOK_DELETE", TaskState.FAILED),
    -18: ("JOB_EXEC_HOOK_RERUN", TaskState.FAILED),
    -19: ("JOB_EXEC_HOOK_DELETE", TaskState.FAILED),
    -20: ("JOB_EXEC_RERUN_MS_FAIL", TaskState.NODE_FAIL),
    -22: ("JOB_EXEC_HOOKERROR", TaskState.FAILED),
    -24: ("JOB_EXEC_KILL_NCPUS_BURST", TaskState.FAILED),
    -25: ("JOB_EXEC_KILL_NCPUS_SUM", TaskState.FAILED),
    -26: ("JOB_EXEC_KILL_VMEM", TaskState.OUT_OF_MEMORY),
    -27: ("JOB_EXEC_KILL_MEM", TaskState.OUT_OF_MEMORY),
    -28: ("JOB_EXEC_KILL_CPUT", TaskState.FAILED),
    -29: ("JOB_EXEC_KILL_WALLTIME", TaskState.TIMEOUT),
    -30: ("JOB_EXEC_JOINJOB", TaskState.FAILED),
}
_TORQUE_CODES: dict[int, tuple[str, TaskState]] = {
    -1: ("JOB_EXEC_FAIL1", TaskState.FAILED),
    -2: ("JOB_EXEC_FAIL2", TaskState.FAILED),
    -3: ("JOB_EXEC_RETRY", TaskState.FAILED),
    -4: ("JOB_EXEC_INITABT", TaskState.FAILED),
    -5: ("JOB_EXEC_INITRST", TaskState.FAILED),
    -6: ("JOB_EXEC_INITRMG", TaskState.FAILED),
    -7: ("JOB_EXEC_BADRESRT", TaskState.FAILED),
    -8: ("JOB_EXEC_CMDFAIL", TaskState.FAILED),
    -9: ("JOB_EXEC_STDOUTFAIL", TaskState.FAILED),
    -10: ("JOB_EXEC_OVERLIMIT_MEM", TaskState.OUT_OF_MEMORY),
    -11: ("JOB_EXEC_OVERLIMIT_WT", TaskState.TIMEOUT),
    -12: ("JOB_EXEC_OVERLIMIT_CPUT", TaskState.FAILED),
    -13: ("JOB_EXEC_CGROUP", TaskState.FAILED),
    -14: ("JOB_EXEC_PROLOGUE", TaskState.FAILED),
}
_CODES = {"pbs": _PBS_CODES, "torque": _TORQUE_CODES}

# MoM's kill message, also copied into the job's comment by some sites:
# "=>> PBS: job killed: walltime 152 exceeded limit 120", "... mem 2097152kb exceeded ...".
_WALLTIME_KILL = re.compile(r"walltime\s+\S+\s+exceeded\s+limit", re.IGNORECASE)
_MEMORY_KILL = re.compile(r"\b[pv]?mem\s+\S+\s+exceeded\s+limit", re.IGNORECASE)
# A SIGKILL'd task counts as a memory kill when it had used at least this share of its
# memory limit: resources_used.mem is sampled by MoM every few seconds, so a task killed
# for its memory (by the kernel's cgroup OOM killer) shows a last sample a little below.
MEMORY_EVIDENCE = 0.9
_SIGKILL, _SIGTERM = 9, 15
_SIZE = re.compile(r"(\d+)\s*([kmgtp]?)(b|w)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}


@dataclass(frozen=True)
class JobId:
    """A PBS job id split into parts: ``123[4].server`` -> ``seq="123"``, ``index=4``.

    ``index`` is ``None`` for a plain job and ``-1`` for an array's own record (``123[]``).
    """

    seq: str
    index: int | None
    server: str

    @property
    def is_array(self) -> bool:
        return self.index == -1


def parse_job_id(text: str) -> JobId:
    """Split a PBS job id; raise `SchedulerError` for anything else.

    Examples
    --------
    >>> parse_job_id("123[4].pbs01.example.org")
    JobId(seq='123', index=4, server='pbs01.example.org')
    >>> parse_job_id("123[].pbs01").is_array, parse_job_id("124").index
    (True, None)
    >>> parse_job_id("123[x]")
    Traceback (most recent call last):
    ...
    hpcflow.errors.SchedulerError: cannot read the PBS job id '123[x]'
    """
    m = _JOB_ID.fullmatch(text.strip())
    if m is None:
        raise SchedulerError(f"cannot read the PBS job id {text!r}")
    index = m["index"]
    return JobId(
        m["seq"],
        None if index is None else (-1 if index == "" else int(index)),
        (m["server"] or ".")[1:],
    )


def parse_qsub_output(stdout: str) -> str:
    """The job id ``qsub`` printed (its last non-empty line).

    Examples
    --------
    >>> parse_qsub_output("4711[].pbs01\\n")
    '4711[].pbs01'
    >>> parse_qsub_output("qsub: waiting for job 88.pbs01 to start\\n88.pbs01\\n")
    '88.pbs01'
    """
    lines = [line.strip() for line in stdout.splitlines() if line.strip()]
    job_id = lines[-1] if lines else ""
    try:
        parsed = parse_job_id(job_id)
    except SchedulerError:
        raise SchedulerError(f"qsub printed no job id: {stdout!r}") from None
    if parsed.index is not None and not parsed.is_array:
        raise SchedulerError(f"qsub printed a subjob id, not a job id: {stdout!r}")
    return job_id


def parse_pbs_duration(text: str) -> int | None:
    """A PBS duration (``HH:MM:SS``, ``MM:SS`` or seconds) in seconds; ``None`` if unreadable.

    Examples
    --------
    >>> parse_pbs_duration("26:03:05"), parse_pbs_duration("90"), parse_pbs_duration("")
    (93785, 90, None)
    """
    parts = text.strip().split(":")
    if not 1 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    seconds = 0
    for part in parts:
        seconds = seconds * 60 + int(part)
    return seconds


def parse_pbs_size(text: str) -> int | None:
    """A PBS size (``1536mb``, ``7060kb``, ``2gb``; binary units) in bytes; ``None`` if unreadable.

    Examples
    --------
    >>> parse_pbs_size("1536mb"), parse_pbs_size("7060kb"), parse_pbs_size("1w")
    (1610612736, 7229440, 8)
    """
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        return None
    number, unit, kind = m.groups()
    word = 8 if (kind or "").lower() == "w" else 1  # PBS words are 8 bytes
    return int(number) * _SIZE_UNITS[unit.lower()] * word


def exit_code_text(status: int) -> str | None:
    """An exit status as SLURM-style ``"code:signal"``; ``None`` for PBS's own negative codes.

    Above 256 the top shell itself was killed by signal ``status - 256``.

    Examples
    --------
    >>> exit_code_text(0), exit_code_text(3), exit_code_text(137), exit_code_text(271)
    ('0:0', '3:0', '137:0', '0:15')
    >>> exit_code_text(-29) is None
    True
    """
    if status < 0:
        return None
    if status > 256:
        return f"0:{status - 256}"
    return f"{status}:0"


def task_status(attributes: Mapping[str, str], dialect: Dialect) -> TaskStatus:
    """The `TaskStatus` of one job or subjob, from its ``qstat -f`` attributes.

    ``attributes`` maps flat attribute names (``job_state``, ``Exit_status`` or
    ``exit_status``, ``comment``, ``Resource_List.walltime``, ``resources_used.mem``, ...)
    to their text. A finished task is classified from, in this order: PBS's own negative
    exit codes (per ``dialect``); a kill message in the comment; for a task killed by a
    signal, its used walltime or memory against its limits; then the exit status itself.
    A task that finished without an exit status never ran (deleted while queued, or
    deleted because a dependency failed): CANCELLED.

    Examples
    --------
    >>> task_status({"job_state": "X", "Exit_status": "-29"}, "pbs")
    TaskStatus(state=<TaskState.TIMEOUT: 'TIMEOUT'>, exit_code=None, reason='JOB_EXEC_KILL_WALLTIME (-29)')
    >>> task_status({"job_state": "C", "exit_status": "-11"}, "torque").state
    <TaskState.TIMEOUT: 'TIMEOUT'>
    >>> task_status({"job_state": "C", "exit_status": "271",
    ...              "Resource_List.walltime": "00:01:00",
    ...              "resources_used.walltime": "00:01:03"}, "torque").state
    <TaskState.TIMEOUT: 'TIMEOUT'>
    >>> task_status({"job_state": "Q", "comment": "Not Running: Insufficient ncpus"}, "pbs")
    TaskStatus(state=<TaskState.PENDING: 'PENDING'>, exit_code=None, reason='Not Running: Insufficient ncpus')
    """
    state = attributes.get("job_state", "").strip().upper()
    comment = attributes.get("comment", "").strip() or None
    if state in _WAITING:
        return TaskStatus(TaskState.PENDING, reason=comment or _WAITING[state])
    if state in _ACTIVE:
        return TaskStatus(TaskState.RUNNING, reason=comment if state != "R" else None)
    if state not in _FINAL[dialect]:
        # M (moved to another server), B (an array's own record) or a letter added later
        return TaskStatus(TaskState.UNKNOWN, reason=f"job_state {state or '(none)'}")
    raw = attributes.get("Exit_status", attributes.get("exit_status", "")).strip()
    if not raw:
        if comment and "dependenc" in comment.lower():
            # handle.py reports a CANCELLED task whose reason names a Dependency as
            # "upstream failed"
            return TaskStatus(TaskState.CANCELLED, reason=f"Dependency failed: {comment}")
        return TaskStatus(TaskState.CANCELLED, reason=comment or "ended without running")
    try:
        status = int(raw)
    except ValueError:
        raise SchedulerError(f"cannot read the exit status {raw!r} in qstat output") from None
    code = exit_code_text(status)
    if status < 0:
        name, final = _CODES[dialect].get(status, ("JOB_EXEC_UNKNOWN", TaskState.FAILED))
        return TaskStatus(final, None, f"{name} ({status})")
    if status == 0:
        return TaskStatus(TaskState.COMPLETED, code)
    if comment and _WALLTIME_KILL.search(comment):
        return TaskStatus(TaskState.TIMEOUT, code, comment)
    if comment and _MEMORY_KILL.search(comment):
        return TaskStatus(TaskState.OUT_OF_MEMORY, code, comment)
    signal = status - 256 if status > 256 else (status - 128 if 128 < status < 192 else None)
    if signal is not None:
        return _signal_status(signal, code, attributes, comment)
    return TaskStatus(TaskState.FAILED, code, comment)


def _signal_status(
    signal: int, code: str | None, attributes: Mapping[str, str], comment: str | None
) -> TaskStatus:
    used = parse_pbs_duration(attributes.get("resources_used.walltime", ""))
    limit = parse_pbs_duration(attributes.get("Resource_List.walltime", ""))
    if used is not None and limit is not None and used >= limit:
        return TaskStatus(TaskState.TIMEOUT, code, f"killed by signal {signal} at its walltime")
    mem = parse_pbs_size(attributes.get("resources_used.mem", ""))
    mem_limit = parse_pbs_size(attributes.get("Resource_List.mem", ""))
    if signal == _SIGKILL and mem and mem_limit and mem >= MEMORY_EVIDENCE * mem_limit:
        return TaskStatus(
            TaskState.OUT_OF_MEMORY, code, f"killed by SIGKILL using {mem} of {mem_limit} bytes"
        )
    if signal == _SIGTERM:
        # Torque documents 271 (SIGTERM to the top shell) for a running job that qdel ended
        return TaskStatus(TaskState.CANCELLED, code, comment or "killed by SIGTERM (qdel?)")
    return TaskStatus(TaskState.FAILED, code, comment or f"killed by signal {signal}")


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    else:
        out[prefix] = str(value)


def parse_qstat_json(text: str) -> dict[str, dict[str, str]]:
    """Read PBS Pro ``qstat -f -F json``: flat attributes by job id.

    Nested objects become dotted names (``Resource_List.walltime``), numbers become text.
    Empty output, or an object without ``Jobs`` (every id unknown), gives ``{}``.

    Examples
    --------
    >>> out = parse_qstat_json('{"pbs_version": "22.05.11", "Jobs": {"7[1].s": '
    ...     '{"job_state": "X", "Exit_status": 0, "Resource_List": {"ncpus": 1}}}}')
    >>> out["7[1].s"]
    {'job_state': 'X', 'Exit_status': '0', 'Resource_List.ncpus': '1'}
    """
    if not text.strip():
        return {}
    try:
        # strict=False: some PBS versions print raw control characters (a tab or newline
        # from the submitting shell's environment) inside Variable_List strings.
        data = json.loads(text, strict=False)
    except json.JSONDecodeError as e:
        raise SchedulerError(
            f"cannot read qstat -F json output ({e}); first 200 characters: {text[:200]!r}"
        ) from None
    jobs = data.get("Jobs", {}) if isinstance(data, dict) else None
    if not isinstance(jobs, dict):
        raise SchedulerError(f"qstat -F json output has no 'Jobs' object: {text[:200]!r}")
    out: dict[str, dict[str, str]] = {}
    for job_id, attrs in jobs.items():
        flat: dict[str, str] = {}
        _flatten("", attrs, flat)
        out[job_id] = flat
    return out


def parse_qstat_full(text: str) -> dict[str, dict[str, str]]:
    """Read ``qstat -f -1`` (Torque; one attribute per line): attributes by job id.

    Records start at ``Job Id: ID``; attributes are ``name = value`` lines. Without
    ``-1`` long values continue on lines starting with a tab, which are joined back.

    Examples
    --------
    >>> out = parse_qstat_full("Job Id: 5[0].t1\\n    job_state = C\\n    exit_status = 0\\n")
    >>> out
    {'5[0].t1': {'job_state': 'C', 'exit_status': '0'}}
    """
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    last = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("Job Id:"):
            current = out.setdefault(line.removeprefix("Job Id:").strip(), {})
            last = ""
            continue
        if current is None:
            raise SchedulerError(f"cannot read qstat -f line {line!r} (no 'Job Id:' before it)")
        name, sep, value = line.partition(" = ")
        if sep and name.strip() and " " not in name.strip():
            last = name.strip()
            current[last] = value.strip()
        elif last and line[:1] == "\t":  # a wrapped value (qstat -f without -1)
            current[last] += line.strip()
        else:
            raise SchedulerError(f"cannot read qstat -f line {line!r}")
    return out


def tasks_by_job(
    records: Mapping[str, Mapping[str, str]], dialect: Dialect
) -> dict[str, dict[int, TaskStatus]]:
    """Task statuses by job sequence number (``"123"``), from parsed ``qstat`` records.

    A subjob ``123[4]`` is task 4; a plain job is task 0 (hpcflow submits a one-task
    request as a plain job). An array's own record (``123[]``) names no task and is
    skipped (``qstat -t`` lists its subjobs), but lends its comment to subjobs without one.

    Examples
    --------
    >>> out = tasks_by_job({"9[].s": {"job_state": "B"}, "9[0].s": {"job_state": "R"},
    ...                     "10.s": {"job_state": "F", "Exit_status": "1"}}, "pbs")
    >>> out["9"], out["10"][0].exit_code
    ({0: TaskStatus(state=<TaskState.RUNNING: 'RUNNING'>, exit_code=None, reason=None)}, '1:0')
    """
    parsed = {text: parse_job_id(text) for text in records}
    # A subjob deleted before it ran has no comment of its own; its array's comment says
    # why (for example a failed dependency).
    parents = {job.seq: records[text] for text, job in parsed.items() if job.is_array}
    out: dict[str, dict[int, TaskStatus]] = {}
    for text, job in parsed.items():
        if job.is_array:
            continue
        attrs = records[text]
        parent = parents.get(job.seq, {})
        ran = "Exit_status" in attrs or "exit_status" in attrs
        if not ran and "comment" not in attrs and "comment" in parent:
            attrs = {**attrs, "comment": parent["comment"]}
        out.setdefault(job.seq, {})[job.index or 0] = task_status(attrs, dialect)
    return out


def only_unknown_jobs(stderr: str) -> bool:
    """Whether every stderr line of qstat/qdel says a job is unknown or already over.

    Examples
    --------
    >>> only_unknown_jobs("qstat: Unknown Job Id 5.s\\nqstat: Unknown Job Id Error 6.s\\n")
    True
    >>> only_unknown_jobs("qdel: Job has finished 5.s\\n"), only_unknown_jobs("")
    (True, False)
    >>> only_unknown_jobs("Connection refused\\nqstat: cannot connect to server s (errno=111)")
    False
    """
    signs = ("unknown job id", "job has finished", "invalid state for job")
    lines = [line.lower() for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(any(s in line for s in signs) for line in lines)


def _epoch(text: str | None) -> float | None:
    # PBS Pro's JSON gives qtime/stime/obittime as epoch seconds; anything else is unread
    return float(text) if text and text.strip().isdigit() else None


def accounting_by_job(
    records: Mapping[str, Mapping[str, str]], dialect: Dialect
) -> dict[str, dict[int, TaskAccounting]]:
    """What each task used, by job sequence number, from parsed ``qstat -x -f`` records.

    ``resources_used.walltime``/``cput``/``mem`` give elapsed, CPU time and peak
    memory; ``Resource_List.ncpus`` the CPUs; ``qtime``, ``stime`` and ``obittime`` (epoch
    seconds in PBS Pro's JSON) the submit, start and end times, where qstat gives them.

    Examples
    --------
    >>> out = accounting_by_job({"9[0].s": {"job_state": "F", "Exit_status": "0",
    ...     "resources_used.walltime": "00:00:03", "resources_used.cput": "00:00:02",
    ...     "resources_used.mem": "41224kb", "Resource_List.ncpus": "1"}}, "pbs")
    >>> a = out["9"][0]
    >>> a.state.value, a.elapsed_s, a.total_cpu_s, a.max_rss_bytes, a.cpus
    ('COMPLETED', 3.0, 2.0, 42213376, 1)
    """
    states = tasks_by_job(records, dialect)
    out: dict[str, dict[int, TaskAccounting]] = {}
    for text, attrs in records.items():
        job = parse_job_id(text)
        if job.is_array:
            continue
        index = job.index or 0
        status = states.get(job.seq, {}).get(index)
        if status is None:
            continue
        walltime = parse_pbs_duration(attrs.get("resources_used.walltime", ""))
        cput = parse_pbs_duration(attrs.get("resources_used.cput", ""))
        ncpus = attrs.get("Resource_List.ncpus", "")
        out.setdefault(job.seq, {})[index] = TaskAccounting(
            state=status.state,
            submit=_epoch(attrs.get("qtime")),
            start=_epoch(attrs.get("stime")),
            end=_epoch(attrs.get("obittime")),
            elapsed_s=None if walltime is None else float(walltime),
            max_rss_bytes=parse_pbs_size(attrs.get("resources_used.mem", "")),
            total_cpu_s=None if cput is None else float(cput),
            cpus=int(ncpus) if ncpus.isdigit() else None,
        )
    return out
