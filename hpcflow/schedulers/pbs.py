"""The PBS backends: PBS Pro / OpenPBS (``scheduler="pbs"``) and Torque (``"torque"``).

Each request becomes one job array submitted with ``qsub SCRIPT``: PBS Pro ``#PBS -J a-b``
with ``PBS_ARRAY_INDEX``, Torque ``#PBS -t a-b`` with ``PBS_ARRAYID``. A one-task request
is submitted as a plain job (PBS Pro rejects some one-element ranges, and a plain job is
what a user would submit by hand); its task number is rendered as a constant.

Job scripts are rendered from ``templates/pbs.sh`` / ``templates/torque.sh`` (or a site's
own copy, ``template=``) with `string.Template`. Every option is a ``#PBS`` line, so the
script in the run folder is the whole truth about a job. Paths never appear in ``#PBS``
lines: ``qsub`` runs in the log folder, so PBS's own output file (``-j oe``; PBS writes
it into the submission folder, POSIX qsub) lands there, and the script itself ``cd``s to
the working directory and appends each task's output to ``<job id>_<index>.log``.
Values in ``#PBS`` lines are checked instead of quoted: whitespace, quotes and
backslashes are refused with `hpcflow.errors.InputError`.

Dependencies are whole-array only (``supports_per_task_dependencies = False``; the submit
layer then makes every dependency a whole one): ``-W depend=afterok:ID[:ID]``, and
``afterany`` for kind ``"any"``; Torque needs ``afterokarray``/``afteranyarray`` for an
array id. When an ``afterok`` dependency fails, PBS Pro deletes the waiting job (its
tasks then show as CANCELLED, "upstream failed"). Torque's documentation does not say
what it does; if a site's Torque keeps such a job held instead, `states` reports its
tasks as PENDING with the reason qstat gives and ``Run.cancel()`` removes them.

Status comes from one ``qstat`` call for all ids: PBS Pro ``qstat -f -F json -x -t``
(``-x`` includes finished jobs, ``-t`` lists subjobs), Torque ``qstat -f -1 -t`` (which
shows finished jobs only for the server's ``keep_completed`` seconds; after that their
tasks are absent and hpcflow reads the run folder's markers). The parsers are in
`hpcflow.schedulers._pbs_parse`.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import string
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from hpcflow.errors import InputError, SchedulerError, SpecError
from hpcflow.schedulers import _format
from hpcflow.schedulers._core import CommandScheduler, StatusQuery, failure, is_placeholder
from hpcflow.schedulers._jobenv import pbs_job_environment
from hpcflow.schedulers._pbs_parse import (
    Dialect,
    JobId,
    accounting_by_job,
    only_unknown_jobs,
    parse_job_id,
    parse_qstat_full,
    parse_qstat_json,
    parse_qsub_output,
    tasks_by_job,
)
from hpcflow.schedulers.base import (
    ArrayRequest,
    Capacity,
    JobDependency,
    JobEnvironment,
    TaskAccounting,
    TaskState,
    TaskStatus,
    register_scheduler,
)
from hpcflow.spec.resources import Resources, parse_walltime

__all__ = [
    "DEFAULT_MAX_ARRAY_SIZE",
    "LOG_SIGNS",
    "PbsScheduler",
    "TEMPLATES",
    "TorqueScheduler",
    "dependency_directive",
    "format_memory",
    "format_walltime",
    "job_name",
    "pbs_failure_reason",
    "pbs_job_environment",
    "resource_directives",
]

#: Where the default job script templates live: ``hpcflow/_templates``, a link to the
#: repository's ``templates/`` folder that wheels ship as package data.
TEMPLATES = Path(__file__).resolve().parents[1] / "_templates"
#: PBS Pro's server ``max_array_size`` default; Torque sites set theirs in ``qmgr``.
DEFAULT_MAX_ARRAY_SIZE = 10000
_PLACEHOLDERS = frozenset({"directives", "workdir", "log", "setup", "command"})
_REQUIRED = frozenset({"directives", "command"})
# Options hpcflow sets itself: the array, the name, the logs and the dependencies are the
# contract between a submitted array and the run folder.
_RESERVED = frozenset({"J", "t", "N", "o", "e", "j"})
# Options with a typed field: one way to set each keeps precedence simple.
_TYPED = {"q": "queue= or Resources(partition=...)", "A": "account= or Resources(account=...)"}
_UNSAFE = re.compile(r"[\s'\"\\`]")

#: What PBS Pro and Torque write into a job's output when they end it at a limit
#: (``=>> PBS: job killed: walltime 3610 exceeded limit 3600``; PBS Pro ``mem``/``vmem``
#: and Torque alike; the PBS Pro reference guide and Torque's "Job Exit Status" page), as
#: a pattern on the lowercased text and the state it means.
LOG_SIGNS: tuple[tuple[re.Pattern[str], TaskState], ...] = (
    (re.compile(r"pbs: job killed: (?:p?v?mem|rss)\b.*exceeded limit"), TaskState.OUT_OF_MEMORY),
    (re.compile(r"pbs: job killed: (?:walltime|cput|pcput)\b.*exceeded limit"), TaskState.TIMEOUT),
)


# ---------------------------------------------------------------------------------------
# Pure translation of hpcflow's neutral values to #PBS lines


def format_walltime(seconds: int) -> str:
    """A wall time in seconds as PBS's ``HH:MM:SS`` (hours may exceed 24).

    Examples
    --------
    >>> format_walltime(90), format_walltime(93785)
    ('00:01:30', '26:03:05')
    """
    return _format.format_duration(seconds, "pbs")


def format_memory(n_bytes: int) -> str:
    """Memory in bytes as a PBS size in whole ``mb`` (PBS units are binary), rounded up.

    Examples
    --------
    >>> format_memory(int(1.5 * 1024**3)), format_memory(1)
    ('1536mb', '1mb')
    """
    return _format.format_memory(n_bytes, "mb")


def pbs_failure_reason(log_text: str) -> TaskState | None:
    """The state PBS's own kill message in ``log_text`` means (`LOG_SIGNS`), if any.

    Examples
    --------
    >>> pbs_failure_reason("=>> PBS: job killed: walltime 65 exceeded limit 60")
    <TaskState.TIMEOUT: 'TIMEOUT'>
    >>> pbs_failure_reason("=>> PBS: job killed: mem 1100mb exceeded limit 1024mb")
    <TaskState.OUT_OF_MEMORY: 'OUT_OF_MEMORY'>
    >>> pbs_failure_reason("ValueError: x") is None
    True
    """
    text = log_text.lower()
    for sign, state in LOG_SIGNS:
        if sign.search(text):
            return state
    return None


def job_name(name: str, limit: int) -> str:
    """``name`` as a PBS job name of at most ``limit`` characters.

    PBS names may not hold whitespace or shell-special characters and, in PBS Pro, must
    start with a letter; other characters become ``_``. A long name loses hpcflow's
    ``hpcflow-`` prefix first (``h`` stays), then its middle, marked ``~`` (the run id's
    start and the stage name's end are what tell jobs apart in ``qstat``).

    Examples
    --------
    >>> job_name("hpcflow-3f2a1b2c-heavy-0", 236)
    'hpcflow-3f2a1b2c-heavy-0'
    >>> job_name("hpcflow-3f2a1b2c-heavy-0", 15)
    'h3f2a1b~heavy-0'
    >>> job_name("it's 2 \\"weird\\"", 236)
    'it_s_2__weird_'
    >>> job_name("1st", 236)
    'h1st'
    """
    if limit < 1:
        raise InputError(f"max_name_length={limit!r} must be >= 1")
    clean = re.sub(r"[^A-Za-z0-9_.+-]", "_", name) or "hpcflow"
    if len(clean) > limit and clean.startswith("hpcflow-"):
        clean = "h" + clean.removeprefix("hpcflow-")
    if not clean[0].isalpha():
        clean = "h" + clean
    if len(clean) > limit:
        head = (limit - 1) // 2
        tail = limit - 1 - head
        clean = clean[:head] + "~" + clean[-tail:] if head and tail else clean[:limit]
    return clean


def resource_directives(
    resources: Resources, dialect: Dialect, *, select: bool = True
) -> list[tuple[str, str]]:
    """The ``(option, value)`` pairs of ``#PBS`` lines for ``resources``, extra excluded.

    PBS Pro with ``select=True``: one ``-l select=N:ncpus=..:ngpus=..:mem=..`` line (a
    chunk per node; ``cpus_per_node`` gives ``mpiprocs``; a ``constraint`` must be
    ``key=value`` chunk resources joined by ``:``). With ``select=False`` (sites without
    ``select``): one ``-l`` line per resource (``ncpus``, ``ngpus``, ``mem``,
    ``nodes=N:ppn=P``). Torque: ``-l nodes=N:ppn=P[:gpus=G][:property]`` and ``-l mem=``.
    ``mem`` comes last in a chunk and every resource gets its own ``-l`` line where PBS
    allows it: Slurm's ``#PBS`` reader (used by the cluster tests) misreads anything after
    ``mem=`` in a chunk and a ``ncpus=..,mem=..`` list. ``partition`` is the queue
    (``-q``); PBS has no QOS, so ``qos`` is refused.

    Examples
    --------
    >>> r = Resources(cpus=4, memory="1.5GB", gpus=1, walltime=3600, partition="gpu")
    >>> resource_directives(r, "pbs")
    [('q', 'gpu'), ('l', 'select=1:ncpus=4:ngpus=1:mem=1536mb'), ('l', 'walltime=01:00:00')]
    >>> resource_directives(r, "pbs", select=False)
    [('q', 'gpu'), ('l', 'ncpus=4'), ('l', 'ngpus=1'), ('l', 'mem=1536mb'), ('l', 'walltime=01:00:00')]
    >>> resource_directives(r, "torque")
    [('q', 'gpu'), ('l', 'nodes=1:ppn=4:gpus=1'), ('l', 'mem=1536mb'), ('l', 'walltime=01:00:00')]
    """
    if resources.qos is not None:
        raise InputError(
            f"Resources(qos={resources.qos!r}): PBS has no QOS; use a queue "
            "(partition=...) or a site option through extra (e.g. {'W': 'group_list=...'})"
        )
    out: list[tuple[str, str]] = []
    if resources.partition is not None:
        out.append(("q", resources.partition))
    if resources.account is not None:
        out.append(("A", resources.account))
    nodes = resources.nodes or 1
    per_node = resources.cpus_per_node
    ncpus = per_node * (resources.cpus or 1) if per_node else resources.cpus
    gpus = resources.gpus or None
    mem = format_memory(resources.memory) if resources.memory is not None else None
    constraint = resources.constraint
    if dialect == "torque":
        if ncpus or gpus or resources.nodes or constraint:
            spec = f"nodes={nodes}" + (f":ppn={ncpus}" if ncpus else "")
            spec += f":gpus={gpus}" if gpus else ""
            if constraint:
                if not re.fullmatch(r"[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)*", constraint):
                    raise InputError(
                        f"Resources(constraint={constraint!r}): for Torque write node "
                        "properties joined by ':' (e.g. 'fast:ib')"
                    )
                spec += f":{constraint}"
            out.append(("l", spec))
        if mem:
            out.append(("l", f"mem={mem}"))
    else:
        pairs: list[str] = []
        if constraint:
            pairs = constraint.split(":")
            if not all(re.fullmatch(r"[A-Za-z0-9_.]+=[^:=]+", p) for p in pairs):
                raise InputError(
                    f"Resources(constraint={constraint!r}): for PBS write chunk resources "
                    "as key=value joined by ':' (e.g. 'model=skylake:ib=True')"
                )
        if select:
            chunk = [str(nodes)]
            chunk += [f"ncpus={ncpus}"] if ncpus else []
            chunk += [f"mpiprocs={per_node}"] if per_node else []
            chunk += [f"ngpus={gpus}"] if gpus else []
            chunk += pairs
            chunk += [f"mem={mem}"] if mem else []
            if len(chunk) > 1 or resources.nodes:
                out.append(("l", "select=" + ":".join(chunk)))
        else:
            out += [("l", f"ncpus={ncpus}")] if ncpus else []
            out += [("l", f"ngpus={gpus}")] if gpus else []
            out += [("l", p) for p in pairs]
            out += [("l", f"mem={mem}")] if mem else []
            if resources.nodes or per_node:
                out.append(("l", f"nodes={nodes}" + (f":ppn={per_node}" if per_node else "")))
    if resources.walltime is not None:
        out.append(("l", f"walltime={format_walltime(resources.walltime)}"))
    return out


def dependency_directive(dependencies: Iterable[JobDependency], dialect: Dialect) -> str | None:
    """The ``-W depend=`` value: ``afterok`` (``"whole"``; also ``"aligned"``) or ``afterany``.

    PBS has no task-by-task dependency, so an ``"aligned"`` one waits for the whole array
    (stricter, never wrong). Torque names array ids in ``afterokarray``/``afteranyarray``
    groups. Ids of one type are joined with ``:``, groups with ``,`` (all must hold).

    Examples
    --------
    >>> deps = [JobDependency("7[].s"), JobDependency("8.s", "aligned"),
    ...         JobDependency("9[].s", "any"), JobDependency("7[].s")]
    >>> dependency_directive(deps, "pbs")
    'depend=afterok:7[].s:8.s,afterany:9[].s'
    >>> dependency_directive(deps, "torque")
    'depend=afterok:8.s,afterokarray:7[].s,afteranyarray:9[].s'
    >>> dependency_directive([], "pbs") is None
    True
    >>> dependency_directive([JobDependency("<y[0]>")], "torque")  # in a dry run
    'depend=afterokarray:<y[0]>'

    """
    kinds = ("afterok", "afterany")
    groups: dict[str, list[str]] = {}
    for kind in kinds:
        groups[kind] = []
        groups[kind + "array"] = []
    for dep in dependencies:
        # A dry run names arrays it did not submit "<stage[0]>"; they print as they are.
        planned = is_placeholder(dep.job_id)
        is_array = True if planned else _checked_job_id(dep.job_id).is_array
        kind = "afterany" if dep.kind == "any" else "afterok"
        if dialect == "torque" and is_array:
            kind += "array"
        if dep.job_id not in groups[kind]:
            groups[kind].append(dep.job_id)
    order = ("afterok", "afterokarray", "afterany", "afteranyarray")
    parts = [":".join([kind, *groups[kind]]) for kind in order if groups[kind]]
    return "depend=" + ",".join(parts) if parts else None


def _checked_job_id(job_id: str) -> JobId:
    # Ids become command-line arguments and #PBS values: nothing else may pass.
    if not isinstance(job_id, str):
        raise InputError(f"{job_id!r} is not a PBS job id (as qsub prints it)")
    try:
        job = parse_job_id(job_id)
    except SchedulerError:
        raise InputError(
            f"{job_id!r} is not a PBS job id (as qsub prints it, e.g. '123[].server')"
        ) from None
    if job.index is not None and not job.is_array:
        raise InputError(f"{job_id!r} is a subjob; hpcflow tracks whole jobs ('123[].server')")
    return job


def _normalized_extra(extra: Mapping[str, Any], where: str) -> dict[str, list[str] | bool | None]:
    """Extra qsub options as letter -> values (``True``: a bare flag; ``None``: remove it)."""
    out: dict[str, list[str] | bool | None] = {}
    for name, value in _format.option_names(extra, where, _format.PBS_OPTION).items():
        if name in _TYPED:
            raise InputError(f"{where}: set -{name} through {_TYPED[name]}, not extra")
        if name in _RESERVED:
            raise InputError(
                f"{where}: -{name} is set by hpcflow and cannot be overridden "
                f"(reserved: {', '.join('-' + r for r in sorted(_RESERVED))}, -W depend=)"
            )
        if value is None or value is False:
            out[name] = None  # removes the option a scheduler default would set
            continue
        if value is True:
            out[name] = True
            continue
        values = [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]
        for v in values:
            _check_value(f"{where}: -{name}", v)
            if name == "W" and v.startswith("depend"):
                raise InputError(f"{where}: -W {v} is set by hpcflow from the stage dependencies")
        out[name] = values
    return out


def _check_value(what: str, value: str) -> None:
    if not value or _UNSAFE.search(value):
        raise InputError(
            f"{what} {value!r}: a #PBS value cannot be empty or hold whitespace, quotes or "
            "backslashes (PBS splits directive lines like a shell); use another value"
        )


# ---------------------------------------------------------------------------------------
# The schedulers


class _PbsFamily(CommandScheduler):
    """What PBS Pro and Torque share: rendering from a template, qsub, qdel, one qstat."""

    dialect: ClassVar[Dialect]
    supports_per_task_dependencies: ClassVar[bool] = False
    missing_hint: ClassVar[str] = "is the PBS client installed, or a 'module load pbs' missing?"
    # qsub runs in the log folder: PBS writes the job's own output file (its messages,
    # such as a walltime kill) into the folder qsub ran in.
    submit_in_log_dir: ClassVar[bool] = True
    #: The array option and the environment variable holding a subjob's index.
    array_option: ClassVar[str]
    index_variable: ClassVar[str]
    default_name_length: ClassVar[int]
    select: bool = False

    def __init__(
        self,
        *,
        queue: str | None = None,
        account: str | None = None,
        setup: Sequence[str] = (),
        python: str | None = None,
        extra_directives: Mapping[str, Any] | None = None,
        max_array_size: int = DEFAULT_MAX_ARRAY_SIZE,
        max_name_length: int | None = None,
        template: str | Path | None = None,
        slots: int | None = None,
        max_walltime: str | int | None = None,
    ) -> None:
        super().__init__(python=python, setup=setup)
        if extra_directives is not None and not isinstance(extra_directives, Mapping):
            raise InputError(
                f"extra_directives={extra_directives!r} must be a mapping of qsub option "
                'letter -> value, e.g. {"m": "ae"}'
            )
        for what, value in (
            ("max_array_size", max_array_size),
            ("max_name_length", max_name_length),
            ("slots", slots),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InputError(f"{what}={value!r} must be an int >= 1")
        for what, text in (("queue", queue), ("account", account)):
            if text is not None:
                _check_value(what, str(text))
        self.queue = queue
        self.account = account
        self.extra_directives = dict(extra_directives or {})
        self._extra = _normalized_extra(self.extra_directives, "extra_directives")
        self._max_array_size = max_array_size
        self.max_name_length = max_name_length
        self.template_path = None if template is None else Path(template)
        self._template = _load_template(self.template_path, self.name)
        self.slots = slots
        try:
            self.max_walltime = None if max_walltime is None else parse_walltime(max_walltime)
        except SpecError as e:
            raise InputError(f"max_walltime: {e}") from None

    def options(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "account": self.account,
            "setup": list(self.setup),
            "python": self.python,
            "extra_directives": dict(self.extra_directives),
            "max_array_size": self._max_array_size,
            "max_name_length": self.max_name_length,
            "template": None if self.template_path is None else str(self.template_path),
            "slots": self.slots,
            "max_walltime": self.max_walltime,
        }

    def max_array_size(self) -> int:
        return self._max_array_size

    def capacity(self, resources: Resources) -> Capacity:
        """The ``slots`` and ``max_walltime`` options, the same for every resource shape.

        PBS capacity is taken from options, never asked of the server: ``slots`` is how
        many subjobs may run at once (say the queue's ``max_run`` for a user), and
        ``max_walltime`` the queue's ``resources_max.walltime`` (see
        ``qmgr -c 'print queue NAME'``). Unset: unknown. No command is run.

        Examples
        --------
        >>> c = PbsScheduler(slots=40, max_walltime="48:00:00").capacity(Resources())
        >>> c.slots, c.max_task_seconds
        (40, 172800)
        """
        queue = resources.partition or self.queue or "the default queue"
        limit = "None" if self.max_walltime is None else f"{self.max_walltime} s"
        return Capacity(
            self.slots,
            self.max_walltime,
            f"{self.name} options for {queue}: slots={self.slots}, max_walltime={limit}",
        )

    # -- rendering -----------------------------------------------------------------------

    def directives(self, request: ArrayRequest) -> list[tuple[str, str | None]]:
        """Every ``#PBS`` option of ``request`` as (letter, value; ``None``: a bare flag)."""
        limit = self.max_name_length or self.default_name_length
        out: list[tuple[str, str | None]] = [("N", job_name(request.name, limit))]
        if request.n_tasks > 1:
            array = _format.array_range(request.n_tasks, request.max_parallel)
            out.append((self.array_option, array))
        # Rerunnable: a task whose node failed or that an admin requeued runs again; its
        # log is appended to, and chunks it finished stay done.
        res = request.resources
        extra = {**self._extra, **_normalized_extra(res.extra, "Resources.extra")}
        if "r" not in extra:  # {"r": None} drops it, {"r": "n"} replaces it
            out.append(("r", "y"))
        out.append(("j", "oe"))
        typed = resource_directives(
            dataclasses.replace(
                res,
                partition=res.partition or self.queue,
                account=res.account or self.account,
            ),
            self.dialect,
            select=self.select,
        )
        for letter, value in typed:
            _check_value(f"-{letter}", value)
            out.append((letter, value))
        depend = dependency_directive(request.dependencies, self.dialect)
        if depend is not None:
            out.append(("W", depend))
        for letter, values in extra.items():
            if values is True:
                out.append((letter, None))
            elif isinstance(values, list):
                out += [(letter, v) for v in values]
        return out

    def directive_lines(self, request: ArrayRequest) -> list[str]:
        """The ``#PBS`` lines of ``request``'s job script."""
        return [
            f"#PBS -{letter}" + ("" if value is None else f" {value}")
            for letter, value in self.directives(request)
        ]

    def render(self, request: ArrayRequest) -> str:
        log_dir = shlex.quote(str(request.log_dir))
        if request.n_tasks > 1:
            var = self.index_variable
            # The task number fails loudly where the index is missing (a copy of the
            # script run as a plain job): "+ 0" would silently run task 0 in every subjob.
            number = f"$(({request.task_offset} + ${{{var}:?not set: not a PBS array job}}))"
            # PBS_JOBID of a subjob is "123[4].server"; the log is named after the array
            # "123[].server", as qsub printed it and as hpcflow's status looks it up.
            name = _format.task_log_name("${PBS_JOBID/\\[*\\]/[]}", f"${{{var}}}")
        else:
            number = str(request.task_offset)
            name = _format.task_log_name("${PBS_JOBID}", "0")
        log = f'{log_dir}/"{name}"'
        values = {
            "directives": "\n".join(self.directive_lines(request)),
            "workdir": shlex.quote(str(request.workdir)),
            "log": log,
            "setup": "\n".join(self.setup),
            "command": f"exec {shlex.join(request.argv)} {number}",
        }
        for name in ("workdir", "log"):
            if "\n" in values[name] or "\r" in values[name]:
                raise InputError(f"{name} {values[name]!r}: a path cannot hold a line break")
        return self._template.substitute(values)

    # -- hooks of the core ---------------------------------------------------------------

    def submit_argv(self, script: Path) -> list[str]:
        return ["qsub", str(script)]

    def parse_submit_output(self, stdout: str) -> str:
        return parse_qsub_output(stdout)

    def validate_job_id(self, job_id: str) -> None:
        _checked_job_id(job_id)

    def cancel_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["qdel", *job_ids]

    def is_unknown_job_error(self, stderr: str) -> bool:
        return only_unknown_jobs(stderr)

    def qstat_argv(self, job_ids: Sequence[str]) -> list[str]:
        """The one ``qstat`` command `states` runs."""
        return ["qstat", "-f", "-F", "json", "-x", "-t", *job_ids]

    def parse_qstat(self, stdout: str) -> dict[str, dict[str, str]]:
        """Attributes by job id from the output of `qstat_argv`."""
        return parse_qstat_json(stdout)

    def status_queries(self, job_ids: Sequence[str]) -> list[StatusQuery]:
        """One ``qstat`` call for all ids.

        An id qstat no longer knows ("Unknown Job Id") has no tasks; hpcflow then reads
        the run folder's markers.
        """
        seqs = {job_id: _checked_job_id(job_id).seq for job_id in job_ids}

        def parse(stdout: str) -> dict[str, dict[int, TaskStatus]]:
            # qstat names jobs by their sequence number and a server name that may differ
            tasks = tasks_by_job(self.parse_qstat(stdout), self.dialect)
            return {job_id: tasks.get(seq, {}) for job_id, seq in seqs.items()}

        return [StatusQuery(tuple(self.qstat_argv(job_ids)), parse, only_unknown_jobs)]

    def accounting(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskAccounting]]:
        """The same one ``qstat -x`` call as `states`, read for ``resources_used``."""
        ids = [j for j in dict.fromkeys(job_ids) if not is_placeholder(j)]
        if not ids:
            return {}
        seqs = {job_id: _checked_job_id(job_id).seq for job_id in ids}
        argv = self.qstat_argv(ids)
        proc = self._run(argv)
        if proc.returncode != 0 and not only_unknown_jobs(proc.stderr):
            raise SchedulerError(failure(argv, proc))
        found = accounting_by_job(self.parse_qstat(proc.stdout), self.dialect)
        return {job_id: found.get(seq, {}) for job_id, seq in seqs.items()}

    @classmethod
    def job_environment(cls, environ: Mapping[str, str]) -> JobEnvironment:
        """``PBS_JOBID`` (as the array's id) and the subjob index variable."""
        found = pbs_job_environment(environ, cls.index_variable)
        if cls.index_variable not in environ and cls.dialect == "torque":
            return JobEnvironment()  # a plain job: PBS Pro's reader claims it
        return found

    @classmethod
    def failure_reason(cls, log_text: str) -> TaskState | None:
        """PBS's ``=>> PBS: job killed: ... exceeded limit`` messages (`LOG_SIGNS`)."""
        return pbs_failure_reason(log_text)


class PbsScheduler(_PbsFamily):
    """Submit hpcflow's job arrays to PBS Pro / OpenPBS (``scheduler="pbs"``).

    Parameters
    ----------
    queue, account
        Defaults for every array (``-q``, ``-A``); a function's `Resources`
        (``partition``, ``account``) override them.
    setup
        Shell lines run before each task (``module load ...``).
    python
        The Python executable of the tasks (default: this interpreter).
    select
        ``True`` (default): resources as one ``-l select=...`` chunk statement. ``False``
        for sites without ``select``: one ``-l`` line per resource (``ncpus``, ``mem``).
    extra_directives
        More qsub options for every array, option letter -> value, e.g.
        ``{"m": "ae", "M": "me@example.org", "l": ["place=scatter"], "V": True}``; a list
        renders one line per value, ``True`` a bare flag, ``None``/``False`` none. A
        function's ``Resources.extra`` (same form) overrides these option by option.
        ``-q``/``-A`` have typed options; the array, name, log and dependency options are
        hpcflow's.
    max_array_size
        Most subjobs per array (default 10000, PBS Pro's server default; see
        ``qmgr -c 'print server max_array_size'``). Larger stages are split.
    max_name_length
        Longest job name (default 236, PBS Pro's limit); longer names are shortened by
        `job_name`.
    template
        Path to a job script template (a copy of ``templates/pbs.sh`` adapted for a
        site); default: the one shipped with hpcflow.
    slots, max_walltime
        What `capacity` reports: subjobs that may run at once (``>= 1``), and the
        longest walltime a task may have (seconds or ``"HH:MM:SS"``). PBS capacity is
        taken from these options only; the server is never asked. Unset: unknown.

    Examples
    --------
    >>> from pathlib import Path
    >>> s = PbsScheduler(queue="workq", python="/usr/bin/python3")
    >>> request = ArrayRequest(name="run1-f", argv=("python3", "-m", "task"), n_tasks=4,
    ...                        resources=Resources(walltime=3600, cpus=2), log_dir=Path("/r/logs"),
    ...                        workdir=Path("/r"), task_offset=8, max_parallel=2)
    >>> print("\\n".join(s.directive_lines(request)))
    #PBS -N run1-f
    #PBS -J 0-3%2
    #PBS -r y
    #PBS -j oe
    #PBS -q workq
    #PBS -l select=1:ncpus=2
    #PBS -l walltime=01:00:00
    >>> print(s.render(request).splitlines()[-1])
    exec python3 -m task $((8 + ${PBS_ARRAY_INDEX:?not set: not a PBS array job}))
    """

    name: ClassVar[str] = "pbs"
    script_suffix: ClassVar[str] = "pbs"
    dialect: ClassVar[Dialect] = "pbs"
    array_option: ClassVar[str] = "J"
    index_variable: ClassVar[str] = "PBS_ARRAY_INDEX"
    default_name_length: ClassVar[int] = 236

    def __init__(self, *, select: bool = True, **options: Any) -> None:
        if not isinstance(select, bool):
            raise InputError(f"select={select!r} must be True or False")
        self.select = select
        super().__init__(**options)

    def options(self) -> dict[str, Any]:
        return {**super().options(), "select": self.select}


class TorqueScheduler(_PbsFamily):
    """Submit hpcflow's job arrays to Torque (``scheduler="torque"``).

    The parameters are those of `PbsScheduler` without ``select``; resources become
    ``-l nodes=N:ppn=P[:gpus=G]`` and ``-l mem=``. ``max_name_length`` defaults to 15,
    the limit of older Torque versions (newer ones allow more; raise it there).

    Examples
    --------
    >>> from pathlib import Path
    >>> s = TorqueScheduler(python="/usr/bin/python3")
    >>> request = ArrayRequest(name="hpcflow-3f2a1b2c-heavy", argv=("python3", "-m", "task"),
    ...                        n_tasks=4, resources=Resources(cpus=2), log_dir=Path("/r/logs"),
    ...                        workdir=Path("/r"), max_parallel=2)
    >>> print("\\n".join(s.directive_lines(request)))
    #PBS -N h3f2a1b2c-heavy
    #PBS -t 0-3%2
    #PBS -r y
    #PBS -j oe
    #PBS -l nodes=1:ppn=2
    """

    name: ClassVar[str] = "torque"
    script_suffix: ClassVar[str] = "torque"
    dialect: ClassVar[Dialect] = "torque"
    array_option: ClassVar[str] = "t"
    index_variable: ClassVar[str] = "PBS_ARRAYID"
    default_name_length: ClassVar[int] = 15

    def qstat_argv(self, job_ids: Sequence[str]) -> list[str]:
        return ["qstat", "-f", "-1", "-t", *job_ids]

    def parse_qstat(self, stdout: str) -> dict[str, dict[str, str]]:
        return parse_qstat_full(stdout)


def _load_template(path: Path | None, name: str) -> string.Template:
    source = path if path is not None else TEMPLATES / f"{name}.sh"
    try:
        text = source.read_text()
    except OSError as e:
        if path is None:
            raise InputError(
                f"the default {name} job script template {source} cannot be read ({e}); pass "
                f"template='/path/to/{name}.sh' with a copy of templates/{name}.sh from hpcflow"
            ) from None
        raise InputError(f"template={str(path)!r} cannot be read: {e}") from None
    template = string.Template(text)
    if not template.is_valid():
        raise InputError(
            f"template {source} has a '$' that is not a placeholder; write $$ for a literal $ "
            "(e.g. $$HOME)"
        )
    found = set(template.get_identifiers())
    unknown, missing = found - _PLACEHOLDERS, _REQUIRED - found
    if unknown or missing:
        problems = []
        if unknown:
            problems.append(
                f"unknown placeholders {sorted(unknown)} (write $$NAME for a shell variable)"
            )
        if missing:
            problems.append(f"missing placeholders {sorted(missing)}")
        raise InputError(
            f"template {source}: {'; '.join(problems)}; placeholders are "
            f"{', '.join('$' + p for p in sorted(_PLACEHOLDERS))}"
        )
    return template


register_scheduler("pbs", PbsScheduler)
register_scheduler("torque", TorqueScheduler)
