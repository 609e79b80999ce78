"""On-disk state of the local scheduler: one state directory is one machine-wide queue.

The submitting processes and the detached runner (`hpcflow.schedulers.local._runner`)
talk only through these files, so a submitter may exit at once and any later process
can read the states without asking the runner anything. Layout::

    STATE_DIR/
      counter               last job id handed out (incremented under an flock)
      capacity.json         {"cpus": .., "memory": ..}: what the queue may use at once
      runner.lock           flock'd by the live runner for its whole life; holds its pid
      runner.log            the runner's own log (its stdout and stderr)
      jobs/<id>.json        one job array as submitted; never changes afterwards
      tasks/<id>/<i>.json   task i of job <id>, once it started or was cancelled
      tasks/<id>/<i>.done   written by the task itself once its work is stored (see
                            `hpcflow.schedulers._jobenv.record_task_done`)
      cancel/<id>           a cancel request, removed once it was applied
      finished/<id>.json    every task's final status, written when the job finished

Every JSON file is written atomically (`hpcflow._atomic`): a reader sees the
old file, the new one, or none, never half of one. A task without a file is pending.

The runner runs the commands of the job files as the user it runs as, so the folders
are made private (0700) and files 0600, and a folder or job file that is not the
user's own, or that others may write, is refused (`hpcflow.schedulers.local._trust`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcflow.schedulers._io import atomic_write_json
from hpcflow.schedulers.base import TaskState, TaskStatus
from hpcflow.schedulers.local._env import task_environment
from hpcflow.schedulers.local._trust import check_private_dir, untrusted_reason

__all__ = ["JobSpec", "StateDir", "record_status", "release_lock"]

_NUMBERED = re.compile(r"(\d+)(\.json)?")

# The submitter starts this tiny program. It takes the runner lock at once (a second
# after the spawn, the runner is still importing hpcflow: holding the lock already keeps
# `ensure_runner` from starting more runners meanwhile), then forks and exits, leaving a
# grandchild that init adopts: the submitter never has a child to reap (no zombie, no
# "subprocess still running" ResourceWarning) and the runner, in its own session, lives
# on after the submitter exits. The grandchild execs the runner, handing it the locked
# file descriptor (flock belongs to the open file, which fork and exec keep). Forking is
# safe here: this fresh interpreter has a single thread.
_DAEMONIZE = """\
import fcntl, os, sys
state_dir = sys.argv[1]
fd = os.open(os.path.join(state_dir, "runner.lock"), os.O_RDWR | os.O_CREAT, 0o600)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    sys.exit(0)  # a runner is alive; it sees every job written before this point
if os.fork():
    os._exit(0)
os.ftruncate(fd, 0)
os.write(fd, b"%d\\n" % os.getpid())
os.set_inheritable(fd, True)
runner = [sys.executable, "-m", "hpcflow.schedulers.local._runner", state_dir, str(fd)]
os.execv(sys.executable, runner)
"""


@dataclass(frozen=True)
class JobSpec:
    """One submitted job array, as stored in ``jobs/<id>.json``.

    ``cpus`` is what each task is accounted for (1 if the request left it unset);
    ``memory`` is the per-task limit in bytes (``None``: neither accounted nor limited);
    ``env`` is what the tasks get of the submitter's environment (see
    `hpcflow.schedulers.local._env`: what they need, never all of it); ``None`` means
    the same part of the runner's own.
    """

    id: int
    name: str
    argv: tuple[str, ...]
    n_tasks: int
    task_offset: int
    cpus: int
    memory: int | None
    walltime: int | None
    log_dir: str
    workdir: str
    dependencies: tuple[tuple[int, str], ...]
    max_parallel: int | None
    setup: tuple[str, ...]
    submit_time: float
    env: Mapping[str, str] | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON form written to the job file."""
        return {
            "id": self.id,
            "name": self.name,
            "argv": list(self.argv),
            "n_tasks": self.n_tasks,
            "task_offset": self.task_offset,
            "cpus": self.cpus,
            "memory": self.memory,
            "walltime": self.walltime,
            "log_dir": self.log_dir,
            "workdir": self.workdir,
            "dependencies": [{"job_id": str(j), "kind": k} for j, k in self.dependencies],
            "max_parallel": self.max_parallel,
            "setup": list(self.setup),
            "submit_time": self.submit_time,
            "env": None if self.env is None else dict(self.env),
        }

    @classmethod
    def from_json(cls, job_id: int, data: Any) -> JobSpec:
        """Check and convert a job file's content.

        Raises
        ------
        ValueError
            Naming the first field that is missing or malformed. The runner marks such
            a job FAILED instead of trusting it.
        """
        if not isinstance(data, dict):
            raise ValueError("the job file does not hold a JSON object")
        deps = []
        for dep in _field(data, "dependencies", list):
            if not isinstance(dep, dict) or dep.get("kind") not in ("aligned", "whole", "any"):
                raise ValueError(f"malformed dependency {dep!r}")
            upstream = int(str(dep.get("job_id")))
            # Only earlier jobs can be waited for, so dependencies never form a cycle
            # and every waiting task is eventually started or cancelled.
            if not 0 < upstream < job_id:
                raise ValueError(f"dependency on job {upstream} is not an earlier job")
            deps.append((upstream, str(dep["kind"])))
        env = _field(data, "env", dict, optional=True)
        if env is not None and not all(isinstance(v, str) for v in [*env, *env.values()]):
            raise ValueError("env must map strings to strings")
        argv = _field(data, "argv", list)
        setup = _field(data, "setup", list)
        if not argv or not all(isinstance(a, str) for a in [*argv, *setup]):
            raise ValueError("argv and setup must be lists of strings (argv not empty)")
        spec = cls(
            id=job_id,
            name=_field(data, "name", str),
            argv=tuple(argv),
            n_tasks=_field(data, "n_tasks", int),
            task_offset=_field(data, "task_offset", int),
            cpus=_field(data, "cpus", int),
            memory=_field(data, "memory", int, optional=True),
            walltime=_field(data, "walltime", int, optional=True),
            log_dir=_field(data, "log_dir", str),
            workdir=_field(data, "workdir", str),
            dependencies=tuple(deps),
            max_parallel=_field(data, "max_parallel", int, optional=True),
            setup=tuple(setup),
            submit_time=float(_field(data, "submit_time", (int, float))),
            env=env,
        )
        positive = {"n_tasks": spec.n_tasks, "cpus": spec.cpus, "memory": spec.memory}
        positive |= {"walltime": spec.walltime, "max_parallel": spec.max_parallel}
        for name, value in positive.items():
            if value is not None and value < 1:
                raise ValueError(f"{name}={value} must be >= 1")
        return spec


def _field(data: dict[str, Any], name: str, kind: Any, *, optional: bool = False) -> Any:
    value = data.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ValueError(f"field {name!r} is missing or malformed: {value!r}")
    return value


def record_status(record: dict[str, Any]) -> TaskStatus:
    """The `TaskStatus` a task file (or a summary entry) describes."""
    try:
        state = TaskState(str(record.get("state")))
    except ValueError:
        state = TaskState.UNKNOWN
    return TaskStatus(state, record.get("exit_code"), record.get("reason"))


def release_lock(fd: int) -> None:
    """Release an flock taken with `StateDir.try_lock` (closing the file releases it)."""
    os.close(fd)


class StateDir:
    """Paths and file operations of one state directory (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.jobs = root / "jobs"
        self.tasks = root / "tasks"
        self.cancels = root / "cancel"
        self.finished = root / "finished"
        self.lock_path = root / "runner.lock"
        self.log_path = root / "runner.log"
        self.capacity_path = root / "capacity.json"

    def create(self) -> None:
        """Create the folders (idempotent) and check that they can be trusted.

        They are private to the user (mode 0700): job files hold part of the
        submitters' environments, and only the owner could signal the tasks anyway.

        Raises
        ------
        UntrustedStateError
            As `check`.
        """
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        check_private_dir(self.root, follow=True)
        for d in self._folders():
            d.mkdir(mode=0o700, exist_ok=True)
        self.check()

    def check(self) -> None:
        """Refuse a state directory another user could have written into.

        The root (which may be a symlink the user made) and each of its folders must be
        owned by the current user and not writable by group or others; a missing root
        or folder is fine (nothing is read from it).

        Raises
        ------
        UntrustedStateError
            Naming the folder, why, and the way out.
        """
        with contextlib.suppress(FileNotFoundError):
            check_private_dir(self.root, follow=True)
            for d in self._folders():
                with contextlib.suppress(FileNotFoundError):
                    check_private_dir(d, follow=False)

    def _folders(self) -> tuple[Path, ...]:
        return (self.jobs, self.tasks, self.cancels, self.finished)

    # -- ids and job files --------------------------------------------------------------

    def allocate_id(self) -> int:
        """A fresh job id, unique even when many processes submit at once."""
        fd = os.open(self.root / "counter", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            text = os.read(fd, 64).decode().strip()
            new = int(text) + 1 if text.isdigit() else 1
            # A lost or reset counter must not hand out an id that is already taken.
            while self.job_file(new).exists():
                new += 1
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, f"{new}\n".encode())
            return new
        finally:
            os.close(fd)  # also releases the flock

    def job_file(self, job_id: int) -> Path:
        return self.jobs / f"{job_id}.json"

    def write_job(self, spec: JobSpec) -> None:
        _write(self.job_file(spec.id), spec.to_json())

    def read_job(self, job_id: int) -> JobSpec:
        """The job's description; `FileNotFoundError`, `OSError` or `ValueError` if unusable.

        A job file that is a symlink, is not the user's own, or that others may write
        is refused (`ValueError`): its command would run as this user.
        """
        path = self.job_file(job_id)
        # Opened without following a symlink, and checked through the open file, so
        # the file checked is the file read.
        way_out = (
            "it was not run. Remove it, and use a state directory only you can write "
            "(HPCFLOW_LOCAL_DIR or LocalScheduler(state_dir=...))"
        )
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise ValueError(f"untrusted job file {path}: it is a symlink; {way_out}") from e
            raise
        with open(fd, "rb") as fh:
            reason = untrusted_reason(os.fstat(fh.fileno()), kind=stat.S_IFREG)
            if reason is not None:
                raise ValueError(f"untrusted job file {path}: {reason}; {way_out}")
            data = fh.read()
        return JobSpec.from_json(job_id, json.loads(data))

    def job_ids(self) -> set[int]:
        return _numbered(self.jobs, ".json")

    def unfinished_ids(self) -> set[int]:
        """Jobs with a task that has not reached a final state (two directory listings)."""
        return self.job_ids() - _numbered(self.finished, ".json")

    # -- capacity -----------------------------------------------------------------------

    def write_capacity(self, cpus: int, memory: int) -> None:
        current = self.read_capacity()
        if current != (cpus, memory):
            _write(self.capacity_path, {"cpus": cpus, "memory": memory})

    def read_capacity(self) -> tuple[int, int] | None:
        try:
            data = json.loads(self.capacity_path.read_bytes())
            return int(data["cpus"]), int(data["memory"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # -- task states --------------------------------------------------------------------

    def task_dir(self, job_id: int) -> Path:
        return self.tasks / str(job_id)

    def write_task(self, job_id: int, index: int, record: dict[str, Any]) -> None:
        _write(self.task_dir(job_id) / f"{index}.json", record)

    def done_file(self, job_id: int, index: int) -> Path:
        """Where task ``index`` records that its work is stored (the task writes it)."""
        return self.task_dir(job_id) / f"{index}.done"

    def task_done(self, job_id: int, index: int) -> bool:
        """Whether the task wrote its `done_file` (a regular file of this user's)."""
        try:
            st = os.lstat(self.done_file(job_id, index))
        except OSError:
            return False
        return untrusted_reason(st, kind=stat.S_IFREG) is None

    def read_tasks(self, job_id: int, skip: Iterable[int] = ()) -> dict[int, dict[str, Any]]:
        """The task files of a job (one directory listing), leaving out ``skip``."""
        skipped = set(skip)
        out: dict[int, dict[str, Any]] = {}
        for index in _numbered(self.task_dir(job_id), ".json") - skipped:
            # A file vanishing or unreadable is treated as absent (the task pending).
            with contextlib.suppress(OSError, ValueError):
                data = json.loads((self.task_dir(job_id) / f"{index}.json").read_bytes())
                if isinstance(data, dict):
                    out[index] = data
        return out

    def write_summary(self, job_id: int, statuses: Sequence[TaskStatus]) -> None:
        """Record a finished job's final statuses in one file, for fast later queries."""
        tasks = [[s.state.value, s.exit_code, s.reason] for s in statuses]
        _write(self.finished / f"{job_id}.json", {"job_id": job_id, "tasks": tasks})

    def read_summary(self, job_id: int) -> list[TaskStatus] | None:
        try:
            data = json.loads((self.finished / f"{job_id}.json").read_bytes())
            return [
                record_status({"state": s, "exit_code": e, "reason": r})
                for s, e, r in data["tasks"]
            ]
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return [TaskStatus(TaskState.UNKNOWN, None, "unreadable summary file")]

    # -- cancel requests ----------------------------------------------------------------

    def request_cancel(self, job_id: int) -> None:
        (self.cancels / str(job_id)).touch(mode=0o600)

    def cancel_requests(self) -> set[int]:
        return _numbered(self.cancels, "")

    def clear_cancel(self, job_id: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.cancels / str(job_id)).unlink()

    # -- the runner ---------------------------------------------------------------------

    def try_lock(self) -> int | None:
        """Take the runner lock without waiting: a file descriptor, or None if held."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def ensure_runner(self) -> bool:
        """Start a detached runner unless one holds the lock; True if one was started.

        Whoever takes the lock here and is not a runner starts one after releasing it,
        so a runner that failed to get the lock meanwhile is always replaced.
        """
        fd = self.try_lock()
        if fd is None:
            return False
        release_lock(fd)
        self.spawn_runner()
        return True

    def spawn_runner(self) -> None:
        """Start ``python -m hpcflow.schedulers.local._runner STATE_DIR``, fully detached."""
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with (
            open(log_fd, "ab") as log,
            subprocess.Popen(
                [sys.executable, "-c", _DAEMONIZE, str(self.root)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                close_fds=True,
                start_new_session=True,  # Ctrl-C in the submitter's terminal spares it
                cwd="/",  # keep no directory busy
                env=_runner_env(),
            ) as proc,
        ):
            # Only the forking parent is waited for; it exits as soon as it forked.
            rc = proc.wait()
        if rc != 0:
            from hpcflow.errors import SchedulerError

            raise SchedulerError(
                f"could not start the local scheduler runner (exit code {rc}); see {self.log_path}"
            )


def _write(path: Path, value: Any) -> None:
    """Write a state file: atomically, and readable by this user alone."""
    atomic_write_json(path, value, mode=0o600)


def _runner_env() -> dict[str, str]:
    """What the tasks get of this environment, with the hpcflow being run first on
    ``PYTHONPATH``.

    The runner works from "/", so an hpcflow imported from a source checkout (the
    submitter's working directory, not an installed package) would not be found
    there: the runner would die at import and the jobs would wait for ever.
    """
    root = Path(__file__).resolve().parents[3]
    if root.name in ("site-packages", "dist-packages"):
        # installed: found anyway; put first, it would shadow the standard library
        return task_environment(os.environ)
    path = os.environ.get("PYTHONPATH", "")
    env = task_environment(os.environ)
    return {**env, "PYTHONPATH": os.pathsep.join([str(root), path] if path else [str(root)])}


def _numbered(folder: Path, suffix: str) -> set[int]:
    """The integers N of the entries named ``N<suffix>`` (partial files are left out)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return set()
    out = set()
    for name in names:
        m = _NUMBERED.fullmatch(name)
        if m and (m.group(2) or "") == suffix:
            out.add(int(m.group(1)))
    return out
