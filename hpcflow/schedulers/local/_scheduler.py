"""``scheduler="local"``: job arrays run on this machine by a detached runner, as SLURM would.

Submitting writes the job to a state directory and makes sure a runner is alive (see
`hpcflow.schedulers.local._runner`); the runner outlives the submitting process, so a
user can submit, close the session, and check or wait later, on a laptop with no
cluster. One state directory is one machine-wide queue: concurrent runs share its CPUs
and memory.

Resources: ``cpus`` (default 1 per task) and ``memory`` are accounted against the
capacity; ``memory`` and ``walltime`` are enforced (a task whose process tree's resident
memory goes over its request is killed; one past its walltime gets SIGTERM, then
SIGKILL); ``nodes`` must be 1; ``gpus`` are neither counted nor assigned (tasks see
every GPU); ``partition``, ``account``, ``qos``, ``constraint`` and ``extra`` are
ignored, as are the cluster backends' scheduler options (``partition=``,
``account=``, ``qos=``, ``queue=``, ``extra_sbatch=``, ``extra_directives=``: with a
warning), so one script serves laptop and cluster.

Tasks get what they need of the environment of the process that submitted them, not
all of it (the job file keeps it on disk): ``PATH``, ``HOME``, ``USER``, the locale
(``LANG``, ``LC_*``), ``TMPDIR``, ``PYTHON*`` (``PYTHONPATH`` ...), ``VIRTUAL_ENV``,
``CONDA_*``, ``LD_LIBRARY_PATH``, environment modules, ``CUDA_VISIBLE_DEVICES`` and
``HPCFLOW_LOCAL_DIR`` (the full list is in `hpcflow.schedulers.local._env`), plus the
variables named in ``export=``; and ``HPCFLOW_JOB_ID``, ``HPCFLOW_ARRAY_TASK_ID`` (the
array index, as ``SLURM_ARRAY_TASK_ID``), ``HPCFLOW_RESTART_COUNT=0``,
``HPCFLOW_TASK_DONE_FILE`` and ``OMP_NUM_THREADS`` (the task's cpus).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import psutil

from hpcflow.errors import InputError
from hpcflow.schedulers._format import (
    LOOSE_OPTION,
    format_duration,
    format_size_exact,
    option_names,
    task_log_name,
)
from hpcflow.schedulers.base import (
    ArrayRequest,
    Capacity,
    JobEnvironment,
    Scheduler,
    TaskAccounting,
    TaskState,
    TaskStatus,
    register_scheduler,
    tasks_per_node,
)
from hpcflow.schedulers.local._env import task_environment
from hpcflow.schedulers.local._proc import task_script
from hpcflow.schedulers.local._state import JobSpec, StateDir, record_status, release_lock
from hpcflow.schedulers.local._task import local_failure_reason, local_job_environment
from hpcflow.spec.resources import Resources, format_bytes, parse_memory

__all__ = ["LocalScheduler"]

DEFAULT_STATE_DIR = "~/.cache/hpcflow/local-scheduler"
MAX_ARRAY_SIZE = 1_000_000
_PENDING = TaskStatus(TaskState.PENDING)


class LocalScheduler(Scheduler):
    """Run job arrays on this machine with a detached runner, like a one-node SLURM.

    Parameters
    ----------
    state_dir
        The queue's folder (default: ``$HPCFLOW_LOCAL_DIR``, else
        ``~/.cache/hpcflow/local-scheduler``). Every scheduler using the same folder
        shares one runner and one capacity.
    cpus
        CPUs the queue may use at once (default: this machine's logical CPUs).
    memory
        Bytes, or a size such as ``"8GB"``, the queue may hand out at once (default:
        this machine's total memory).
    setup
        Shell lines run before each task (``source venv/bin/activate``, ...).
    python
        The Python executable the tasks run (default: this interpreter).
    export
        Names of further environment variables the tasks get from the submitter (as
        SLURM's ``--export=NAME,...``); see the module notes for those they always get.

    Notes
    -----
    The state directory is private: it is made mode 0700 and its files 0600, and one
    that is not owned by the current user, or that group or others may write (or
    holds such a folder), is refused with a `SchedulerError` naming it: the runner
    runs the commands of its job files as you, so a folder someone else can write
    would let them run commands as you. A job file in it that is not yours, or that
    others may write, is not run (its tasks are FAILED).

    A task whose runner died (killed, or the machine rebooted) is FAILED, unless it
    recorded its work stored first (``python -m hpcflow.worker`` does, just before it
    exits 0, in the file ``HPCFLOW_TASK_DONE_FILE`` names): then it is COMPLETED and
    its dependents run.

    The capacity is that of the latest submitter; a task asking for more than it is
    refused at submission. States are read from the state directory's files, never
    by asking the runner; see `hpcflow.schedulers.local._state` for the layout.
    """

    name = "local"
    supports_per_task_dependencies = True
    #: Options of the cluster backends that `get_scheduler` drops with a warning.
    ignored_options: ClassVar[frozenset[str]] = frozenset(
        {"partition", "account", "qos", "queue", "extra_sbatch", "extra_directives"}
    )

    def __init__(
        self,
        *,
        state_dir: str | os.PathLike[str] | None = None,
        cpus: int | None = None,
        memory: int | str | None = None,
        setup: Sequence[str] = (),
        python: str | None = None,
        export: Sequence[str] = (),
    ) -> None:
        super().__init__(python=python, setup=setup)
        if isinstance(export, str) or not all(isinstance(n, str) and n for n in export):
            raise InputError(f"LocalScheduler(export={export!r}) must be a list of variable names")
        self.export = tuple(export)
        root = state_dir or os.environ.get("HPCFLOW_LOCAL_DIR") or DEFAULT_STATE_DIR
        self.state_dir = Path(root).expanduser().absolute()
        if cpus is None:
            cpus = int(psutil.cpu_count() or 1)
        if isinstance(cpus, bool) or not isinstance(cpus, int) or cpus < 1:
            raise InputError(f"LocalScheduler(cpus={cpus!r}) must be an int >= 1")
        self.cpus = cpus
        self.memory = int(psutil.virtual_memory().total) if memory is None else parse_memory(memory)
        self._state = StateDir(self.state_dir)
        self._n_tasks: dict[int, int] = {}  # job files never change: read each once
        self._final: dict[int, dict[int, TaskStatus]] = {}  # nor do finished tasks

    def options(self) -> dict[str, Any]:
        return {
            "state_dir": str(self.state_dir),
            "cpus": self.cpus,
            "memory": self.memory,
            "setup": list(self.setup),
            "python": self.python,
            "export": list(self.export),
        }

    @classmethod
    def job_environment(cls, environ: Mapping[str, str]) -> JobEnvironment:
        """``HPCFLOW_JOB_ID``, ``HPCFLOW_ARRAY_TASK_ID``, ``HPCFLOW_RESTART_COUNT``."""
        return local_job_environment(environ)

    @classmethod
    def failure_reason(cls, log_text: str) -> TaskState | None:
        """The state of the runner's ``hpcflow local scheduler: task STATE: ...`` line."""
        return local_failure_reason(log_text)

    def max_array_size(self) -> int:
        """1,000,000.

        No batch system imposes a limit here; the bound keeps the per-task state files
        (one per task) and the runner's per-task bookkeeping reasonable.
        """
        return MAX_ARRAY_SIZE

    def capacity(self, resources: Resources) -> Capacity:
        """Tasks of ``resources`` this queue runs at once, from its own ``cpus``/``memory``.

        ``min(cpus // task cpus, memory // task memory)``; no command is run, and there
        is no time limit. ``slots=0`` for a task over the capacity (or over one node),
        which `submit` would refuse. GPUs are not counted here (see the module notes).

        Examples
        --------
        >>> s = LocalScheduler(state_dir="/nonexistent", cpus=8, memory="16GB")
        >>> s.capacity(Resources(cpus=2, memory="6GB")).slots
        2
        >>> s.capacity(Resources(cpus=16)).slots
        0
        """
        source = (
            f"local scheduler at {self.state_dir}: cpus={self.cpus}, "
            f"memory={format_bytes(self.memory)}"
        )
        if resources.nodes is not None and resources.nodes > 1:
            return Capacity(0, None, source)
        # tasks_per_node counts GPUs only when the node has some; the local queue
        # neither counts nor assigns them, so they are left out of the shape here.
        shape = Resources(cpus=resources.cpus, memory=resources.memory)
        slots = tasks_per_node(shape, cpus=self.cpus, memory=self.memory)
        return Capacity(slots, None, source)

    def render(self, request: ArrayRequest) -> str:
        """What each task runs, as a script (pure: nothing is written).

        The runner runs exactly the setup lines and the ``exec`` line, in ``bash -c``,
        with the task number in place of ``"$TASK"``; the header says what it
        schedules by.
        """
        # Resources.extra is ignored here, but a malformed name is refused as elsewhere.
        option_names(request.resources.extra, "Resources.extra", LOOSE_OPTION)
        cpus = request.resources.cpus or 1
        memory = format_size_exact(request.resources.memory)
        walltime = _format_seconds(request.resources.walltime)
        deps = " ".join(f"{d.kind}:{d.job_id}" for d in request.dependencies) or "none"
        last = request.task_offset + request.n_tasks - 1
        header = [
            f"# hpcflow local array {request.name}: {request.n_tasks} tasks, cpus={cpus}, "
            f"memory={memory}, walltime={walltime}, max_parallel={request.max_parallel}, "
            f"deps {deps}",
            f"# workdir {request.workdir}; log of each task appended to "
            f"{request.log_dir}/{task_log_name('<job id>', '<array index>')}",
            f"TASK=$(({request.task_offset} + HPCFLOW_ARRAY_TASK_ID))  # "
            f"{request.task_offset}..{last}",
        ]
        return "\n".join(header) + "\n" + task_script(self.setup, request.argv, '"$TASK"')

    def submit(self, request: ArrayRequest) -> str:
        """Queue ``request`` and make sure a runner is alive; returns the job id.

        Raises
        ------
        InputError
            A task asks for more than the capacity, more than one node, or the array
            is too large, or a dependency names an unknown job; nothing is written then.
        SchedulerError
            The state directory is not private to this user (see the class notes);
            nothing is written or run then.
        """
        self.calls["submit"] += 1
        option_names(request.resources.extra, "Resources.extra", LOOSE_OPTION)
        cpus, memory = self._check(request)
        deps = []
        for dep in request.dependencies:
            if dep.kind not in ("aligned", "whole", "any"):
                raise InputError(
                    f"array {request.name!r}: dependency kind {dep.kind!r} is not "
                    "'aligned', 'whole' or 'any'"
                )
            upstream = _job_number(dep.job_id)
            if upstream is None or not self._state.job_file(upstream).exists():
                raise InputError(
                    f"array {request.name!r} depends on job {dep.job_id!r}, which the local "
                    f"scheduler at {self.state_dir} does not know"
                )
            deps.append((upstream, dep.kind))
        self._state.create()
        job_id = self._state.allocate_id()
        spec = JobSpec(
            id=job_id,
            name=request.name,
            argv=tuple(request.argv),
            n_tasks=request.n_tasks,
            task_offset=request.task_offset,
            cpus=cpus,
            memory=memory,
            walltime=request.resources.walltime,
            # the runner works from "/": relative paths mean the submitter's folder
            log_dir=str(Path(request.log_dir).absolute()),
            workdir=str(Path(request.workdir).absolute()),
            dependencies=tuple(deps),
            max_parallel=request.max_parallel,
            setup=self.setup,
            submit_time=time.time(),
            env=task_environment(os.environ, self.export),
        )
        self._state.write_capacity(self.cpus, self.memory)
        # The job file goes first, the lock check second: see local._runner.main.
        self._state.write_job(spec)
        self._state.ensure_runner()
        return str(job_id)

    def _check(self, request: ArrayRequest) -> tuple[int, int | None]:
        res = request.resources
        where = f"the local scheduler at {self.state_dir}"
        if not request.argv:
            raise InputError(f"array {request.name!r} has an empty command")
        if request.n_tasks > MAX_ARRAY_SIZE:
            raise InputError(
                f"array {request.name!r} has {request.n_tasks} tasks; {where} takes at "
                f"most {MAX_ARRAY_SIZE} per array"
            )
        if res.nodes is not None and res.nodes > 1:
            raise InputError(
                f"array {request.name!r} asks for nodes={res.nodes}; {where} runs on one machine"
            )
        cpus = res.cpus or 1
        if cpus > self.cpus:
            raise InputError(
                f"array {request.name!r} asks for cpus={cpus} per task, more than the "
                f"capacity of {where}: cpus={self.cpus}; ask for fewer or pass "
                "LocalScheduler(cpus=...)"
            )
        if res.memory is not None and res.memory > self.memory:
            raise InputError(
                f"array {request.name!r} asks for memory={format_size_exact(res.memory)} per "
                f"task, more than the capacity of {where}: "
                f"memory={format_size_exact(self.memory)}; ask for less or pass "
                "LocalScheduler(memory=...)"
            )
        return cpus, res.memory

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel these jobs: running tasks are killed, pending ones never start.

        With a runner alive, it applies the request within a scan. Without one, the
        pending tasks are marked CANCELLED here, under the runner lock.
        """
        self.calls["cancel"] += 1
        self._state.check()
        known = [n for n in map(_job_number, job_ids) if n is not None]
        known = [n for n in known if self._state.job_file(n).exists()]
        if not known:
            return
        for job_id in known:
            self._state.request_cancel(job_id)
        fd = self._state.try_lock()
        if fd is None:
            return  # the runner applies the requests
        try:
            for job_id in known:
                self._cancel_directly(job_id)
        finally:
            release_lock(fd)
        # Holding the lock may have turned a starting runner away: replace it if needed.
        if self._state.unfinished_ids():
            self._state.ensure_runner()

    def _cancel_directly(self, job_id: int) -> None:
        try:
            spec = self._state.read_job(job_id)
        except (OSError, ValueError):
            return  # malformed: the runner will mark it FAILED
        if self._state.read_summary(job_id) is not None:
            self._state.clear_cancel(job_id)
            return
        self._state.task_dir(job_id).mkdir(parents=True, exist_ok=True)
        records = self._state.read_tasks(job_id)
        statuses = []
        for index in range(spec.n_tasks):
            if index in records:
                statuses.append(record_status(records[index]))
                continue
            status = TaskStatus(TaskState.CANCELLED, None, "cancelled")
            record: dict[str, Any] = {
                "state": status.state.value,
                "exit_code": None,
                "reason": status.reason,
            }
            record |= {"start": None, "end": time.time(), "pid": None, "host": None}
            self._state.write_task(job_id, index, record)
            statuses.append(status)
        # Tasks left RUNNING by a dead runner stay for the next runner to settle.
        if all(s.state.finished for s in statuses):
            self._state.write_summary(job_id, statuses)
            self._state.clear_cancel(job_id)

    def states(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskStatus]]:
        """Each job's task statuses, from the files alone (one directory listing per job).

        Unknown ids map to ``{}``. If a queried job is unfinished and no runner is
        alive (say the machine rebooted), one is started, so waiting always ends.
        """
        self.calls["states"] += 1
        self._state.check()  # states in a folder others can write could be made up
        out: dict[str, dict[int, TaskStatus]] = {}
        unfinished = False
        for key in job_ids:
            job_id = _job_number(key)
            tasks = {} if job_id is None else self._job_states(job_id)
            out[key] = tasks
            unfinished = unfinished or any(not s.state.finished for s in tasks.values())
        if unfinished:
            self._state.ensure_runner()
        return out

    def queue(self, *, include_finished: bool = False) -> list[QueuedJob]:
        """The jobs in this queue with a task not yet finished (or every job), oldest
        first: what ``hpcflow queue`` shows, like ``squeue``."""
        self._state.check()
        ids = self._state.job_ids() if include_finished else self._state.unfinished_ids()
        rows = []
        for job_id in sorted(ids):
            try:
                spec = self._state.read_job(job_id)
            except (OSError, ValueError):
                continue  # removed meanwhile, or untrusted: the runner will not run it
            states = self._job_states(job_id)
            rows.append(QueuedJob(spec, Counter(str(ts.state) for ts in states.values())))
        return rows

    def accounting(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskAccounting]]:
        """Each task's state, submit/start/end times and elapsed seconds, read from the
        task files (read-only; the runner records neither CPU time nor peak memory)."""
        self.calls["accounting"] += 1
        self._state.check()  # as in states(): records others could write prove nothing
        out: dict[str, dict[int, TaskAccounting]] = {}
        for key in job_ids:
            job_id = _job_number(key)
            if job_id is None:
                continue
            try:
                spec = self._state.read_job(job_id)
            except (OSError, ValueError):
                continue
            records = self._state.read_tasks(job_id)
            per_task: dict[int, TaskAccounting] = {}
            for index, status in self._job_states(job_id).items():
                record = records.get(index, {})
                start, end = _number(record.get("start")), _number(record.get("end"))
                per_task[index] = TaskAccounting(
                    state=status.state,
                    submit=spec.submit_time,
                    start=start,
                    end=end,
                    elapsed_s=None if start is None or end is None else max(0.0, end - start),
                    cpus=spec.cpus,
                )
            out[key] = per_task
        return out

    def _job_states(self, job_id: int) -> dict[int, TaskStatus]:
        final = self._final.setdefault(job_id, {})
        n = self._n_tasks.get(job_id)
        if n is None or len(final) < n:
            summary = self._state.read_summary(job_id)
            if summary is not None:
                final.update(enumerate(summary))
                self._n_tasks[job_id] = n = len(summary)
        if n is None:
            try:
                n = self._n_tasks[job_id] = self._state.read_job(job_id).n_tasks
            except (OSError, ValueError):
                return {}
        current: dict[int, TaskStatus] = {}
        if len(final) < n:
            for index, record in self._state.read_tasks(job_id, skip=final).items():
                status = record_status(record)
                (final if status.state.finished else current)[index] = status
        return {i: final.get(i) or current.get(i) or _PENDING for i in range(n)}


@dataclass(frozen=True)
class QueuedJob:
    """A job in the local queue, with its tasks' states counted."""

    spec: JobSpec
    states: Counter[str]

    @property
    def finished(self) -> bool:
        return sum(self.states.values()) > 0 and not (
            self.states[TaskState.PENDING] or self.states[TaskState.RUNNING]
        )


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _job_number(job_id: str) -> int | None:
    with contextlib.suppress(ValueError):
        n = int(job_id)
        if n > 0 and str(n) == job_id.strip():
            return n
    return None


def _format_seconds(s: int | None) -> str:
    return "unlimited" if s is None else format_duration(s, "clock")


register_scheduler("local", LocalScheduler)
