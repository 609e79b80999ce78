"""The scheduler contract: one test class that every scheduler backend subclasses.

Subclass `SchedulerContract`, implement `make` (and set the class attributes that
describe your backend's recorded samples), and pytest runs every test on it::

    from hpcflow.testing.schedulers import SchedulerContract

    class TestMyScheduler(SchedulerContract):
        sample_job_ids = ("11", "12")

        def make(self, tmp_path, monkeypatch):
            return MyScheduler(...)

Command-line backends are built over a fake command runner that replays recorded
outputs; the local backend runs real tiny tasks. A capability a backend lacks (no
recorded kill message, no way to run a task here) is a `pytest.skip`, never a deleted
test.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from hpcflow.errors import InputError
from hpcflow.schedulers.base import (
    ArrayRequest,
    Capacity,
    JobDependency,
    JobEnvironment,
    Scheduler,
    TaskState,
)
from hpcflow.spec.resources import Resources

__all__ = ["SchedulerContract", "hostile_dir"]

#: Characters a path may hold that a job script must quote.
HOSTILE = "a dir 'q' \"dq\" ; semi $x"


def hostile_dir(root: Path) -> Path:
    """A folder under ``root`` whose name has spaces, quotes, ``;`` and ``$``."""
    path = root / HOSTILE
    path.mkdir(parents=True, exist_ok=True)
    return path


class SchedulerContract:
    """Behaviour every scheduler backend must have; a missing capability is a skip."""

    #: Two job ids of the backend's form, for rendering dependencies.
    sample_job_ids: ClassVar[tuple[str, str]]
    #: An id the batch system does not know (cancel must be quiet about it).
    unknown_job_id: ClassVar[str] = "999999"
    #: A task's environment as recorded and the `JobEnvironment` it means
    #: (``None``: the backend runs tasks here and `run_task_environment` is used).
    recorded_environment: ClassVar[tuple[Mapping[str, str], JobEnvironment] | None] = None
    #: A log text with the batch system's kill message and the state it means.
    recorded_kill_log: ClassVar[tuple[str, TaskState] | None] = None
    #: Whether submitted tasks really run (then `wait` must finish them).
    runs_tasks: ClassVar[bool] = False
    #: A task shape no node of the backend's target can hold (`capacity` gives
    #: ``slots=0``, or ``None`` if the backend does not know node shapes).
    too_big: ClassVar[Resources] = Resources(cpus=10**6)

    # -- what a subclass provides --------------------------------------------------------

    def make(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scheduler:
        """The scheduler under test (command backends: over recorded command output)."""
        raise NotImplementedError

    def wait(self, scheduler: Scheduler, job_id: str) -> None:
        """Let the tasks of ``job_id`` run to their end (backends with `runs_tasks`)."""
        deadline = time.monotonic() + 60  # a hang guard, not a timing assertion
        while True:
            tasks = scheduler.states([job_id])[job_id]
            if tasks and all(s.state.finished for s in tasks.values()):
                return
            if time.monotonic() > deadline:
                pytest.fail(f"job {job_id} did not finish: {tasks}")
            time.sleep(0.05)

    # -- helpers -------------------------------------------------------------------------

    @pytest.fixture
    def scheduler(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scheduler:
        return self.make(tmp_path, monkeypatch)

    def request(self, folder: Path, **changes: Any) -> ArrayRequest:
        fields: dict[str, Any] = {
            "name": "contract",
            "argv": (sys.executable, "-c", "pass"),
            "n_tasks": 2,
            "resources": Resources(),
            "log_dir": folder / "logs",
            "workdir": folder,
        }
        fields.update(changes)
        return ArrayRequest(**fields)

    # -- the contract --------------------------------------------------------------------

    def test_render_is_pure_and_deterministic(self, scheduler: Scheduler, tmp_path: Path) -> None:
        req = self.request(tmp_path / "not made")
        before = dict(scheduler.calls)
        assert scheduler.render(req) == scheduler.render(req)
        assert not (tmp_path / "not made").exists()
        assert dict(scheduler.calls) == before

    def test_render_quotes_hostile_paths(self, scheduler: Scheduler, tmp_path: Path) -> None:
        folder = hostile_dir(tmp_path)
        req = self.request(folder, argv=(sys.executable, "-c", "pass", str(folder)))
        script = scheduler.render(req)
        assert shlex.quote(str(folder)) in script
        for line in script.splitlines():
            if not line.lstrip().startswith("#"):
                assert str(folder) not in line, f"unquoted path in {line!r}"
        check = subprocess.run(
            ["bash", "-n"], input=script, text=True, capture_output=True, check=False
        )
        assert check.returncode == 0, check.stderr

    def test_submit_returns_an_id_states_report(self, scheduler: Scheduler, tmp_path: Path) -> None:
        job_id = scheduler.submit(self.request(tmp_path))
        assert isinstance(job_id, str) and job_id
        if self.runs_tasks:
            self.wait(scheduler, job_id)
        states = scheduler.states([job_id])
        assert list(states) == [job_id]
        assert states[job_id], "the submitted job has no task states"
        assert all(isinstance(i, int) and i >= 0 for i in states[job_id])
        if self.runs_tasks:
            assert {s.state for s in states[job_id].values()} == {TaskState.COMPLETED}

    @pytest.mark.parametrize("kind", ["aligned", "whole", "any"])
    def test_dependencies_render_per_kind(
        self, scheduler: Scheduler, tmp_path: Path, kind: str
    ) -> None:
        first, second = self.sample_job_ids
        deps = (JobDependency(first, kind), JobDependency(second, kind))  # type: ignore[arg-type]
        script = scheduler.render(self.request(tmp_path, dependencies=deps))
        assert first in script and second in script
        none = scheduler.render(self.request(tmp_path))
        assert script != none
        if kind == "aligned" and not scheduler.supports_per_task_dependencies:
            whole = tuple(JobDependency(d.job_id, "whole") for d in deps)
            assert script == scheduler.render(self.request(tmp_path, dependencies=whole))

    def test_dependency_kinds_are_told_apart(self, scheduler: Scheduler, tmp_path: Path) -> None:
        first, _ = self.sample_job_ids
        scripts = {
            kind: scheduler.render(
                self.request(tmp_path, dependencies=(JobDependency(first, kind),))
            )
            for kind in ("aligned", "whole", "any")
        }
        assert scripts["whole"] != scripts["any"]
        if scheduler.supports_per_task_dependencies:
            assert scripts["aligned"] != scripts["whole"]
        else:
            assert scripts["aligned"] == scripts["whole"]

    def test_cancel_unknown_and_no_ids_is_quiet(self, scheduler: Scheduler) -> None:
        scheduler.cancel([])
        scheduler.cancel([self.unknown_job_id])

    def test_max_array_size(self, scheduler: Scheduler) -> None:
        size = scheduler.max_array_size()
        assert isinstance(size, int) and size >= 1

    @pytest.mark.parametrize("name", ["comment=x\ntouch /tmp/pwned\n#", "bad name", ""])
    def test_bad_extra_option_name_is_refused(
        self, scheduler: Scheduler, tmp_path: Path, name: str
    ) -> None:
        req = self.request(tmp_path, resources=Resources(extra={name: True}))
        with pytest.raises(InputError, match="option name") as info:
            scheduler.render(req)
        assert repr(name) in str(info.value)

    def test_job_environment_round_trip(self, scheduler: Scheduler, tmp_path: Path) -> None:
        assert not type(scheduler).job_environment({}).found
        if self.recorded_environment is not None:
            environ, expected = self.recorded_environment
            assert type(scheduler).job_environment(environ) == expected
            return
        if not self.runs_tasks:
            pytest.skip(f"{type(scheduler).__name__}: no recorded environment, runs no tasks")
        out = tmp_path / "env"
        code = (
            "import json, os, sys; "
            "open(sys.argv[1] + '_' + sys.argv[2], 'w').write(json.dumps(dict(os.environ)))"
        )
        req = self.request(tmp_path, argv=(sys.executable, "-c", code, str(out)))
        job_id = scheduler.submit(req)
        self.wait(scheduler, job_id)
        import json

        for index in range(req.n_tasks):
            environ = json.loads(Path(f"{out}_{index}").read_text())
            found = type(scheduler).job_environment(environ)
            assert (found.job_id, found.array_index) == (job_id, index)
            assert found.scheduler == scheduler.name

    def test_failure_reason(self, scheduler: Scheduler) -> None:
        assert type(scheduler).failure_reason("Traceback (most recent call last):\n") is None
        if self.recorded_kill_log is None:
            pytest.skip(f"{type(scheduler).__name__} has no recorded kill message")
        text, state = self.recorded_kill_log
        assert type(scheduler).failure_reason(text) is state

    def test_task_log_name(self, scheduler: Scheduler, tmp_path: Path) -> None:
        job_id, _ = self.sample_job_ids
        log = scheduler.task_log(tmp_path, job_id, 3)
        assert log.parent == tmp_path
        assert job_id in log.name and log.name != scheduler.task_log(tmp_path, job_id, 4).name

    def test_calls_count_commands(self, scheduler: Scheduler, tmp_path: Path) -> None:
        scheduler.render(self.request(tmp_path))
        assert sum(scheduler.calls.values()) == 0
        job_id = scheduler.submit(self.request(tmp_path))
        after_submit = sum(scheduler.calls.values())
        assert after_submit >= 1
        scheduler.states([job_id])
        assert sum(scheduler.calls.values()) > after_submit

    # -- capacity ------------------------------------------------------------------------

    def test_capacity_default_shape(self, scheduler: Scheduler) -> None:
        cap = scheduler.capacity(Resources())
        assert isinstance(cap, Capacity)
        assert cap.slots is None or cap.slots >= 1
        assert cap.max_task_seconds is None or cap.max_task_seconds > 0
        assert cap.source and "\n" not in cap.source

    def test_capacity_more_cpus_never_more_slots(self, scheduler: Scheduler) -> None:
        previous: int | None = None
        for cpus in (1, 2, 3, 4, 8, 64):
            slots = scheduler.capacity(Resources(cpus=cpus)).slots
            if slots is None:
                continue
            if previous is not None:
                assert slots <= previous, f"cpus={cpus} gives {slots} slots, more than {previous}"
            previous = slots

    def test_capacity_is_cached(self, scheduler: Scheduler) -> None:
        first = scheduler.capacity(Resources())
        before = dict(scheduler.calls)
        assert scheduler.capacity(Resources()) == first
        scheduler.capacity(Resources(cpus=2))
        assert dict(scheduler.calls) == before

    def test_capacity_too_big_is_zero_slots(self, scheduler: Scheduler) -> None:
        # The backend answers (slots=0); the caller raises the clear error.
        assert scheduler.capacity(self.too_big).slots in (0, None)
