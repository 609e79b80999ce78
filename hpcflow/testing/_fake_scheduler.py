"""`FakeScheduler`: a scheduler for tests, with no batch system behind it.

It records each `ArrayRequest`, hands out job ids ``"1"``, ``"2"``, ..., and reports
the task states a test sets. On request, `FakeScheduler.run_all` runs the pending tasks
synchronously, in submission order and respecting dependencies, either in subprocesses
(``bash -c`` of the rendered task, as a batch system would) or in this process (for a
``python -m module`` or ``python -c code`` command), so a test can submit a pipeline and
let it run without a cluster::

    from hpcflow.testing import FakeScheduler

    fake = FakeScheduler()
    run = submit(pipeline, folder, scheduler=fake)
    fake.run_all()
    assert run.status().done

`register_fake_scheduler` makes one instance available as ``scheduler="fake"``. The
fake's memory lives in the instance: a job that submits again from another process
(follow-up jobs) does not see it.
"""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import shlex
import subprocess
import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal

from hpcflow.errors import InputError
from hpcflow.schedulers import register_scheduler
from hpcflow.schedulers._format import LOOSE_OPTION, option_names
from hpcflow.schedulers._jobenv import env_int
from hpcflow.schedulers.base import (
    ArrayRequest,
    Capacity,
    JobEnvironment,
    Scheduler,
    TaskState,
    TaskStatus,
)
from hpcflow.spec.resources import Resources

__all__ = ["FakeScheduler", "register_fake_scheduler"]

RunMode = Literal["subprocess", "inline"]
_KILLED = "hpcflow fake scheduler: task "


class FakeScheduler(Scheduler):
    """A scheduler that only records, unless told to run (`run_all`).

    Parameters
    ----------
    max_array_size
        Most tasks per array (the submit layer splits larger stages).
    slots, max_task_seconds
        What `capacity` reports, for every resource shape (``None``: unknown).
    setup, python
        As for every `Scheduler`; ``setup`` lines run before each task in
        ``"subprocess"`` mode.

    Attributes
    ----------
    requests
        Every submitted request, by job id, in submission order.
    cancelled
        The ids `cancel` was given, in order.
    """

    name: ClassVar[str] = "fake"
    supports_per_task_dependencies: ClassVar[bool] = True

    def __init__(
        self,
        *,
        max_array_size: int = 1000,
        setup: Sequence[str] = (),
        python: str | None = None,
        slots: int | None = None,
        max_task_seconds: float | None = None,
    ) -> None:
        super().__init__(python=python, setup=setup)
        if slots is not None and (
            isinstance(slots, bool) or not isinstance(slots, int) or slots < 0
        ):
            raise InputError(f"slots={slots!r} must be an int >= 0 or None")
        if max_task_seconds is not None and (
            isinstance(max_task_seconds, bool)
            or not isinstance(max_task_seconds, int | float)
            or not max_task_seconds > 0
        ):
            raise InputError(f"max_task_seconds={max_task_seconds!r} must be a number > 0 or None")
        self.slots = slots
        self.max_task_seconds = max_task_seconds
        if isinstance(max_array_size, bool) or not isinstance(max_array_size, int):
            raise InputError(f"max_array_size={max_array_size!r} must be an int >= 1")
        if max_array_size < 1:
            raise InputError(f"max_array_size={max_array_size!r} must be an int >= 1")
        self._max_array_size = max_array_size
        self.requests: dict[str, ArrayRequest] = {}
        self.cancelled: list[str] = []
        self._states: dict[str, dict[int, TaskStatus]] = {}

    def options(self) -> dict[str, Any]:
        return {
            "max_array_size": self._max_array_size,
            "setup": list(self.setup),
            "python": self.python,
            "slots": self.slots,
            "max_task_seconds": self.max_task_seconds,
        }

    def max_array_size(self) -> int:
        return self._max_array_size

    def capacity(self, resources: Resources) -> Capacity:
        """The ``slots`` and ``max_task_seconds`` given to the constructor, for any shape.

        Examples
        --------
        >>> FakeScheduler(slots=3, max_task_seconds=600).capacity(Resources())
        Capacity(slots=3, max_task_seconds=600, source='fake scheduler options')
        """
        return Capacity(self.slots, self.max_task_seconds, "fake scheduler options")

    def render(self, request: ArrayRequest) -> str:
        """A bash script of the task (``$HPCFLOW_ARRAY_TASK_ID`` picks the task)."""
        option_names(request.resources.extra, "Resources.extra", LOOSE_OPTION)
        deps = " ".join(f"{d.kind}:{d.job_id}" for d in request.dependencies) or "none"
        lines = [
            "#!/bin/bash",
            f"# hpcflow fake array {request.name}: {request.n_tasks} tasks, deps {deps}",
            f"cd {shlex.quote(str(request.workdir))} || exit 1",
            *self.setup,
            f"exec {shlex.join(request.argv)} $(({request.task_offset} + HPCFLOW_ARRAY_TASK_ID))",
        ]
        return "\n".join(lines) + "\n"

    def submit(self, request: ArrayRequest) -> str:
        """Record ``request`` with every task PENDING; its job id."""
        self.calls["submit"] += 1
        self.render(request)  # the same checks as a dry run
        for dep in request.dependencies:
            if dep.job_id not in self.requests:
                raise InputError(
                    f"array {request.name!r} depends on job {dep.job_id!r}, which this "
                    "FakeScheduler did not hand out"
                )
        job_id = str(len(self.requests) + 1)
        self.requests[job_id] = request
        self._states[job_id] = dict.fromkeys(range(request.n_tasks), TaskStatus(TaskState.PENDING))
        return job_id

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Unfinished tasks become CANCELLED; unknown ids are ignored."""
        self.calls["cancel"] += 1
        for job_id in job_ids:
            self.cancelled.append(job_id)
            for index, status in self._states.get(job_id, {}).items():
                if not status.state.finished:
                    self._states[job_id][index] = TaskStatus(
                        TaskState.CANCELLED, reason="cancelled"
                    )

    def states(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskStatus]]:
        self.calls["states"] += 1
        return {job_id: dict(self._states.get(job_id, {})) for job_id in job_ids}

    def set_state(
        self,
        job_id: str,
        state: TaskState | TaskStatus,
        indices: Sequence[int] | None = None,
    ) -> None:
        """Give tasks ``indices`` (default: all) of ``job_id`` the state a test wants."""
        if job_id not in self._states:
            raise InputError(f"job {job_id!r} was not submitted to this FakeScheduler")
        status = state if isinstance(state, TaskStatus) else TaskStatus(state)
        tasks = self._states[job_id]
        for index in tasks if indices is None else indices:
            if index not in tasks:
                raise InputError(f"job {job_id!r} has no task {index}")
            tasks[index] = status

    # -- job side ------------------------------------------------------------------------

    @classmethod
    def job_environment(cls, environ: Mapping[str, str]) -> JobEnvironment:
        """``HPCFLOW_FAKE_JOB_ID`` and ``HPCFLOW_ARRAY_TASK_ID``, which `run_all` sets."""
        job_id = environ.get("HPCFLOW_FAKE_JOB_ID", "").strip()
        if not job_id:
            return JobEnvironment()
        return JobEnvironment("fake", job_id, env_int(environ, "HPCFLOW_ARRAY_TASK_ID"), 0)

    @classmethod
    def failure_reason(cls, log_text: str) -> TaskState | None:
        """The state of a ``hpcflow fake scheduler: task STATE`` line `kill` wrote."""
        found = [line for line in log_text.splitlines() if line.startswith(_KILLED)]
        if not found:
            return None
        with contextlib.suppress(ValueError):
            return TaskState(found[-1].removeprefix(_KILLED).split(":")[0].strip())
        return None

    def kill(self, job_id: str, index: int, state: TaskState) -> None:
        """End a task as the batch system would: its state, and a line in its log."""
        request = self.requests[job_id]
        log = self.task_log(request.log_dir, job_id, index)
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a") as fh:
            fh.write(f"{_KILLED}{state.value}: killed by the test\n")
        self.set_state(job_id, TaskStatus(state, None, "killed by the test"), [index])

    # -- running -------------------------------------------------------------------------

    def run_all(self, mode: RunMode = "subprocess") -> int:
        """Run every pending task whose dependencies allow it, until none is left.

        ``"subprocess"`` runs ``bash -c`` of `render` per task, output appended to its log
        (`task_log`); ``"inline"`` runs a ``PYTHON -m module ...`` or ``PYTHON -c code
        ...`` command in this process (setup lines are not possible then). A task whose
        dependency can no longer be met is CANCELLED (``DependencyNeverSatisfied``).

        Returns
        -------
        int
            How many tasks ran.
        """
        if mode not in ("subprocess", "inline"):
            raise InputError(f"mode={mode!r} must be 'subprocess' or 'inline'")
        ran = 0
        progress = True
        while progress:
            progress = False
            for job_id, request in self.requests.items():
                for index, status in self._states[job_id].items():
                    if status.state is not TaskState.PENDING:
                        continue
                    verdict = self._ready(request, index)
                    if verdict == "never":
                        never = TaskStatus(TaskState.CANCELLED, None, "DependencyNeverSatisfied")
                        self._states[job_id][index] = never
                        progress = True
                    elif verdict == "ok":
                        self._states[job_id][index] = self._run_task(job_id, index, mode)
                        ran += 1
                        progress = True
        return ran

    def _ready(self, request: ArrayRequest, index: int) -> str:
        verdict = "ok"
        for dep in request.dependencies:
            tasks = self._states[dep.job_id]
            if dep.kind == "aligned" and index in tasks:
                wanted = [tasks[index]]
            else:
                wanted = list(tasks.values())
            if not all(s.state.finished for s in wanted):
                verdict = "wait"
            elif dep.kind != "any" and any(s.state is not TaskState.COMPLETED for s in wanted):
                return "never"
        return verdict

    def _run_task(self, job_id: str, index: int, mode: RunMode) -> TaskStatus:
        request = self.requests[job_id]
        log = self.task_log(request.log_dir, job_id, index)
        log.parent.mkdir(parents=True, exist_ok=True)
        env = {
            "HPCFLOW_FAKE_JOB_ID": job_id,
            "HPCFLOW_ARRAY_TASK_ID": str(index),
            "HPCFLOW_RESTART_COUNT": "0",
        }
        if mode == "inline":
            code = self._run_inline(request, index, log, env)
        else:
            with open(log, "ab") as fh:
                code = subprocess.run(
                    ["bash", "-c", self.render(request)],
                    env={**os.environ, **env},
                    stdin=subprocess.DEVNULL,
                    stdout=fh,
                    stderr=subprocess.STDOUT,
                    check=False,
                ).returncode
        if code == 0:
            return TaskStatus(TaskState.COMPLETED, "0:0")
        if code < 0:
            return TaskStatus(TaskState.FAILED, f"0:{-code}", f"killed by signal {-code}")
        return TaskStatus(TaskState.FAILED, f"{code}:0", "NonZeroExitCode")

    def _run_inline(
        self, request: ArrayRequest, index: int, log: Path, env: Mapping[str, str]
    ) -> int:
        argv = [*request.argv, str(request.task_offset + index)]
        if self.setup or len(argv) < 3 or argv[1] not in ("-m", "-c"):
            raise InputError(
                f"array {request.name!r}: run_all('inline') runs only 'PYTHON -m module ...' "
                "or 'PYTHON -c code ...' without setup lines; use run_all('subprocess')"
            )
        out = io.StringIO()
        with (
            _patched(env, request.workdir),
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(out),
        ):
            code = _call(argv)
        with open(log, "a") as fh:
            fh.write(out.getvalue())
        return code


def _call(argv: list[str]) -> int:
    saved = sys.argv
    try:
        if argv[1] == "-m":
            sys.argv = [argv[2], *argv[3:]]
            with warnings.catch_warnings():
                # runpy warns when the module is imported already (hpcflow.worker is, in
                # any test session); it is run afresh as __main__, which is what a task does
                warnings.filterwarnings("ignore", "'.*' found in sys.modules", RuntimeWarning)
                runpy.run_module(argv[2], run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *argv[3:]]
            exec(compile(argv[2], "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as e:
        if e.code is None:
            return 0
        return e.code if isinstance(e.code, int) else 1
    except Exception:  # the task's own failure, as its exit status 1
        import traceback

        traceback.print_exc()
        return 1
    finally:
        sys.argv = saved
    return 0


@contextlib.contextmanager
def _patched(env: Mapping[str, str], workdir: Path) -> Iterator[None]:
    old_env = {k: os.environ.get(k) for k in env}
    old_cwd = os.getcwd()
    os.environ.update(env)
    try:
        os.chdir(workdir)
        yield
    finally:
        os.chdir(old_cwd)
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def register_fake_scheduler(instance: FakeScheduler | None = None) -> FakeScheduler:
    """Make ``instance`` (default: a new one) the scheduler named ``"fake"``; returns it.

    ``get_scheduler("fake")`` then returns this very instance, so what a pipeline
    submits by name is visible to the test. Registration is explicit: importing
    `hpcflow.testing` registers nothing.
    """
    fake = instance if instance is not None else FakeScheduler()

    def factory(**options: Any) -> FakeScheduler:
        return fake

    register_scheduler("fake", factory)
    return fake
