"""The scheduler interface every backend (SLURM, local, PBS) implements.

A backend knows how to turn one `ArrayRequest` (a command run once per array task,
with resources and dependencies) into a job id, how to cancel jobs, and how to ask for
the state of many jobs in one call. It knows nothing of pipelines or run folders:
the submit layer (`hpcflow.submission.submit`) decides what the arrays are.

The command of a task is ``argv`` followed by one more argument, the task number
``task_offset + array index``; backends render that sum in the job script (SLURM:
``$((OFFSET + SLURM_ARRAY_TASK_ID))``), so one script serves every task of an array.
"""

from __future__ import annotations

import enum
import importlib
import os
import sys
import warnings
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from hpcflow.errors import InputError
from hpcflow.schedulers._format import task_log_name
from hpcflow.schedulers._jobenv import JobEnvironment
from hpcflow.spec.resources import Resources

__all__ = [
    "Capacity",
    "ArrayRequest",
    "JobDependency",
    "JobEnvironment",
    "Scheduler",
    "TaskAccounting",
    "TaskState",
    "TaskStatus",
    "detect_job_environment",
    "get_scheduler",
    "register_scheduler",
    "scheduler_names",
    "scheduler_ref",
    "tasks_per_node",
]


@dataclass(frozen=True)
class JobDependency:
    """Wait for job ``job_id``: task by task (``"aligned"``, SLURM ``aftercorr``) or whole.

    A ``"whole"`` dependency is satisfied only when every task of the upstream job
    succeeded (SLURM ``afterok``). Backends submit with "kill on invalid dependency", so a
    job whose dependency can never be satisfied is cancelled, never left pending.
    An ``"any"`` dependency waits until every task of the upstream job has ended, however
    it ended (SLURM ``afterany``); it is always satisfied eventually. Follow-up jobs that
    retry failures use it.
    """

    job_id: str
    kind: Literal["aligned", "whole", "any"] = "whole"


@dataclass(frozen=True)
class ArrayRequest:
    """One job array to submit.

    Attributes
    ----------
    name
        Job name shown by the scheduler; carries the run id.
    argv
        The command run by every task; the task number is appended as one more argument.
    n_tasks
        Number of array tasks, indexed ``0 .. n_tasks - 1``.
    task_offset
        Added to the array index to give the task number passed to the command.
    resources
        What each task needs (already merged with the pipeline's defaults).
    log_dir
        Folder for the tasks' logs (one file per task, opened in append mode so a
        requeued task keeps its earlier output).
    workdir
        Working directory of the tasks.
    dependencies
        Jobs this array waits for.
    max_parallel
        Most tasks of this array running at once (``None``: no limit).
    """

    name: str
    argv: tuple[str, ...]
    n_tasks: int
    resources: Resources
    log_dir: Path
    workdir: Path
    task_offset: int = 0
    dependencies: tuple[JobDependency, ...] = ()
    max_parallel: int | None = None

    def __post_init__(self) -> None:
        if self.n_tasks < 1:
            raise InputError(f"array {self.name!r} needs at least one task, got {self.n_tasks}")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise InputError(f"max_parallel={self.max_parallel} must be >= 1 (or None)")


@dataclass(frozen=True)
class Capacity:
    """What the target partition/queue can run, for one resource shape.

    Attributes
    ----------
    slots
        Tasks of this shape that can run at once (``None``: unknown). ``0`` means no
        node of the target can hold one such task at all: the caller raises a clear
        error (a backend does not, so a dry run can still show the plan).
    max_task_seconds
        Longest time limit a task may have (``None``: unlimited or unknown).
    source
        One line saying where the numbers came from, for dry runs, e.g.
        ``"sinfo -p debug: 3 nodes x 2 CPUs, 4000 MB each"``.
    """

    slots: int | None
    max_task_seconds: float | None
    source: str

    def __post_init__(self) -> None:
        if self.slots is not None and self.slots < 0:
            raise InputError(f"Capacity(slots={self.slots}) must be >= 0 or None")
        if self.max_task_seconds is not None and self.max_task_seconds <= 0:
            raise InputError(
                f"Capacity(max_task_seconds={self.max_task_seconds}) must be > 0 or None"
            )


def tasks_per_node(
    resources: Resources, *, cpus: int, memory: int | None = None, gpus: int | None = None
) -> int:
    """How many tasks of shape ``resources`` fit at once on one node of this size.

    ``cpus`` and ``memory`` (bytes) are the node's; ``memory=None`` means not limited by
    memory (unknown). ``gpus`` counts only when the task asks for GPUs; ``None`` is 0.
    A task takes ``resources.cpus`` (default 1) times ``resources.cpus_per_node``
    (default 1) CPUs, ``resources.memory`` bytes and ``resources.gpus`` GPUs.

    Examples
    --------
    >>> tasks_per_node(Resources(), cpus=8)
    8
    >>> tasks_per_node(Resources(cpus=2, memory="3GB"), cpus=8, memory=8 * 1024**3)
    2
    >>> tasks_per_node(Resources(gpus=2), cpus=8, gpus=4), tasks_per_node(Resources(gpus=1), cpus=8)
    (2, 0)
    >>> tasks_per_node(Resources(cpus=16), cpus=8)
    0
    """
    need_cpus = (resources.cpus or 1) * (resources.cpus_per_node or 1)
    fits = cpus // need_cpus
    if resources.memory is not None and memory is not None:
        fits = min(fits, memory // resources.memory)
    if resources.gpus:
        fits = min(fits, (gpus or 0) // resources.gpus)
    return max(fits, 0)


class TaskState(enum.StrEnum):
    """Where one array task is, in neutral names (backends map their own states)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMEOUT = "TIMEOUT"
    OUT_OF_MEMORY = "OUT_OF_MEMORY"
    PREEMPTED = "PREEMPTED"
    NODE_FAIL = "NODE_FAIL"
    UNKNOWN = "UNKNOWN"

    @property
    def finished(self) -> bool:
        return self not in (TaskState.PENDING, TaskState.RUNNING, TaskState.UNKNOWN)


@dataclass(frozen=True)
class TaskStatus:
    """State of one array task, with the scheduler's exit code and reason if it gave one."""

    state: TaskState
    exit_code: str | None = None  # SLURM's "code:signal", which every backend gives
    reason: str | None = None

    @property
    def exit_text(self) -> str | None:
        """How the task's process ended, for a status: ``"exit 1"``, ``"killed by signal
        9"``; ``None`` when unknown or a clean ``0:0``.

        Examples
        --------
        >>> TaskStatus(TaskState.FAILED, "1:0").exit_text
        'exit 1'
        >>> TaskStatus(TaskState.FAILED, "0:9").exit_text
        'killed by signal 9'
        >>> TaskStatus(TaskState.FAILED, "137:0").exit_text
        'exit 137 (signal 9)'
        >>> TaskStatus(TaskState.CANCELLED, "0:0").exit_text is None
        True
        """
        code, _, sig = (self.exit_code or "").partition(":")
        if not code.isdecimal() or not (sig or "0").isdecimal():
            return None
        if int(sig or 0):
            return f"killed by signal {int(sig)}"
        n = int(code)
        if 128 < n < 192:  # a shell reports a child killed by signal s as 128 + s
            return f"exit {n} (signal {n - 128})"
        return f"exit {n}" if n else None


@dataclass(frozen=True)
class TaskAccounting:
    """What the batch system's accounting says one array task used (`Scheduler.accounting`).

    Times are epoch seconds, sizes bytes; ``None`` where the backend does not record it
    (the local scheduler has no CPU time or RSS; a task that never started has no start).
    """

    state: TaskState
    submit: float | None = None
    start: float | None = None
    end: float | None = None
    elapsed_s: float | None = None
    max_rss_bytes: int | None = None
    total_cpu_s: float | None = None
    cpus: int | None = None  # allocated, where the accounting says


class Scheduler(ABC):
    """A batch system that runs job arrays.

    Parameters
    ----------
    python
        The Python executable the tasks run (default: this interpreter). It must have
        hpcflow installed on the compute nodes.
    setup
        Shell lines run before each task: ``module load ...``, ``source venv/bin/activate``,
        ``conda activate ...``.

    Notes
    -----
    ``calls`` counts the scheduler commands this object ran (``sbatch``, ``squeue``,
    ``sacct``, ``scontrol``, ...), so benchmarks and tests can check that submitting
    costs a few calls per stage, independent of the number of elements.
    """

    name: ClassVar[str]
    supports_per_task_dependencies: ClassVar[bool]
    #: Scheduler options of other backends this one accepts and ignores, with a warning
    #: (`get_scheduler`); any other unknown option is refused.
    ignored_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, *, python: str | None = None, setup: Sequence[str] = ()) -> None:
        if isinstance(setup, str):
            raise InputError("setup must be a list of shell lines, not one string")
        self.python = python or sys.executable
        self.setup = tuple(setup)
        self.calls: Counter[str] = Counter()

    @abstractmethod
    def options(self) -> dict[str, Any]:
        """JSON-able keyword arguments that rebuild this scheduler (stored in the run folder)."""

    @abstractmethod
    def max_array_size(self) -> int:
        """Most tasks one array may have (arrays are indexed from 0)."""

    @abstractmethod
    def render(self, request: ArrayRequest) -> str:
        """The job script for ``request`` (pure; what ``--dry-run`` prints)."""

    @abstractmethod
    def submit(self, request: ArrayRequest) -> str:
        """Submit ``request`` and return its job id."""

    @abstractmethod
    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel these jobs (all their tasks); unknown or finished ids are ignored."""

    @abstractmethod
    def states(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskStatus]]:
        """For each job id, the status of each array task by index, in one batched query.

        Tasks the scheduler does not report (for example long finished, with no
        accounting) are absent; callers fall back on the run folder's markers.
        """

    def capacity(self, resources: Resources) -> Capacity:
        """What the target partition/queue can run at once for tasks of ``resources``.

        ``resources.partition``, if set, overrides the scheduler's own default. The
        answer is cached per scheduler object where it costs a command. Backends that
        know node shapes return ``slots=0`` for a task no node can hold; the caller
        turns that into an error. Default: unknown.
        """
        return Capacity(None, None, "unknown for this scheduler")

    def live_tasks(self, job_ids: Sequence[str]) -> dict[str, int]:
        """How many tasks of each job are queued or running, in one `states` query
        (none asked when ``job_ids`` is empty)."""
        if not job_ids:
            return {}
        states = self.states(job_ids)
        live = (TaskState.PENDING, TaskState.RUNNING)
        return {j: sum(ts.state in live for ts in states.get(j, {}).values()) for j in job_ids}

    def accounting(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskAccounting]]:
        """What each array task of these jobs used, by job id and array index, in one
        batched query (for ``hpcflow report``). Default: nothing is known (``{}``)."""
        return {}

    # -- where a task's output goes, and what a running task can learn ------------------

    def task_log(self, log_dir: Path, job_id: str, index: int) -> Path:
        """The log file of array task ``index`` of job ``job_id`` in ``log_dir``.

        Every built-in backend names it ``<job id>_<index>.log`` (`task_log_name`).
        """
        return log_dir / task_log_name(job_id, str(index))

    @classmethod
    def job_environment(cls, environ: Mapping[str, str]) -> JobEnvironment:
        """What a task of this backend learns from ``environ`` (pure; no job: empty)."""
        return JobEnvironment()

    @classmethod
    def failure_reason(cls, log_text: str) -> TaskState | None:
        """How the batch system says, in a task's log, that it ended the task, if it did.

        ``log_text`` is the end of the log of the task's last attempt. ``None``: nothing
        of the batch system's own kill messages is in it.
        """
        return None


_REGISTRY: dict[str, Callable[..., Scheduler]] = {}
# Built-in backends are imported when first asked for: they pull in subprocess
# helpers and psutil, which a local ``map`` never needs.
_BUILTIN = {
    "slurm": "hpcflow.schedulers.slurm",
    "local": "hpcflow.schedulers.local._scheduler",
    "pbs": "hpcflow.schedulers.pbs",
    "torque": "hpcflow.schedulers.pbs",
}


def register_scheduler(name: str, factory: Callable[..., Scheduler]) -> None:
    """Make ``scheduler=name`` available to ``submit``."""
    _REGISTRY[name] = factory


def scheduler_names() -> list[str]:
    return sorted({*_REGISTRY, *_BUILTIN})


def scheduler_ref(scheduler: Scheduler) -> str:
    """The name that rebuilds ``scheduler``'s class in another process."""
    cls = type(scheduler)
    if scheduler.name in _BUILTIN and _REGISTRY.get(scheduler.name) is cls:
        return scheduler.name
    return f"{cls.__module__}:{cls.__qualname__}"


def get_scheduler(name: str | Scheduler, options: Mapping[str, Any] | None = None) -> Scheduler:
    """A scheduler by name built with ``options``.

    ``name`` is ``"slurm"``, ``"local"``, a name given to `register_scheduler`, or
    ``"package.module:Class"`` for a backend of your own (it must be importable where
    follow-up jobs run, since they submit too).
    """
    if isinstance(name, Scheduler):
        if options:
            raise InputError(
                f"scheduler options {sorted(options)} cannot be given with a Scheduler instance; "
                "pass them to its constructor"
            )
        return name
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])  # registers itself
    if name not in _REGISTRY and ":" in name:
        # "package.module:Class": a site's own backend, importable on the compute nodes
        module, _, attr = name.partition(":")
        try:
            _REGISTRY[name] = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise InputError(f"scheduler={name!r} cannot be imported: {e}") from None
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise InputError(
            f"scheduler={name!r} is not known; use one of {scheduler_names()}"
        ) from None
    options = dict(options or {})
    ignored: frozenset[str] = getattr(factory, "ignored_options", frozenset())
    for key in sorted(ignored & options.keys()):
        # one script serves laptop and cluster: a cluster option means nothing here
        warnings.warn(
            f"scheduler={name!r} ignores {key}={options.pop(key)!r} (an option of cluster "
            "schedulers)",
            UserWarning,
            stacklevel=3,
        )
    try:
        return factory(**options)
    except TypeError as e:
        raise InputError(f"bad option for scheduler {name!r}: {e}") from None


def detect_job_environment(environ: Mapping[str, str] | None = None) -> JobEnvironment:
    """What the running task learns from ``environ`` (default `os.environ`), asking every
    built-in backend; outside any job, an empty `JobEnvironment`.

    The local scheduler is asked first: its tasks inherit the submitter's environment,
    which holds ``SLURM_JOB_ID`` when hpcflow's local scheduler runs inside a SLURM
    allocation. Only light modules are imported (no psutil).

    Examples
    --------
    >>> detect_job_environment({"SLURM_JOB_ID": "12", "SLURM_ARRAY_JOB_ID": "10",
    ...                         "SLURM_ARRAY_TASK_ID": "2"})
    JobEnvironment(scheduler='slurm', job_id='10', array_index=2, restart_count=None)
    >>> detect_job_environment({"PBS_JOBID": "7[3].pbs01", "PBS_ARRAY_INDEX": "3"})
    JobEnvironment(scheduler='pbs', job_id='7[].pbs01', array_index=3, restart_count=None)
    >>> detect_job_environment({}).found
    False
    """
    from hpcflow.schedulers._jobenv import detect  # pure readers, no backend imported

    return detect(os.environ if environ is None else environ)
