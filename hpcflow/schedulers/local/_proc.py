"""Process handling for the local runner: start a task, measure it, kill it, reap it.

Every task runs in its own session (so its own process group, with the group id equal
to its pid): signals go to the whole group, which reaches the children a task started
too, as SLURM reaches every process of a job step through its cgroup.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import psutil

__all__ = [
    "exit_code",
    "exited",
    "kill_group",
    "process_identity",
    "start_task",
    "task_script",
    "tree_rss",
]


def task_script(setup: Sequence[str], argv: Sequence[str], task_arg: str) -> str:
    """The ``bash -c`` program of a task: the setup lines, then ``exec`` the command.

    ``task_arg`` is already shell syntax: a quoted number when running, ``"$TASK"`` when
    rendering. ``exec`` makes the command itself the group leader, so its exit status
    (or the signal that killed it) is the task's, as in a SLURM batch step.
    """
    return "\n".join([*setup, f"exec {shlex.join(argv)} {task_arg}"]) + "\n"


def start_task(
    script: str, *, workdir: str, log_file: Path, env: Mapping[str, str]
) -> subprocess.Popen[bytes]:
    """Start ``bash -c script`` in its own session, output appended to ``log_file``.

    Raises
    ------
    OSError
        If the log folder cannot be made, the log opened or the working directory
        entered; the caller records the task as FAILED.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    # Append mode: a task run again keeps its earlier output, as with SLURM --open-mode.
    with open(log_file, "ab") as log:
        return subprocess.Popen(
            ["bash", "-c", script],
            cwd=workdir,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            close_fds=True,  # above all the runner's lock: a task must never hold it
            start_new_session=True,
        )


def exited(proc: subprocess.Popen[bytes]) -> bool:
    """Whether the task's leader has exited, without reaping it where possible.

    While the leader is an unreaped zombie its pid, hence its group id, cannot be
    reused, so the caller can still kill what is left of the group safely before
    `subprocess.Popen.wait` reaps it.
    """
    if proc.returncode is not None:
        return True
    if hasattr(os, "waitid"):
        try:
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return proc.poll() is not None
        return info is not None
    return proc.poll() is not None  # pragma: no cover - platforms without waitid


def kill_group(pgid: int, sig: int) -> None:
    """Send ``sig`` to a process group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def exit_code(returncode: int) -> str:
    """SLURM's ``exit:signal`` form: ``"0:0"``, ``"3:0"``, or ``"0:9"`` when killed by signal 9."""
    if returncode < 0:
        return f"0:{-returncode}"
    return f"{returncode}:0"


def process_identity(pid: int) -> float | None:
    """The creation time of ``pid``, which tells a process apart from a later one with its pid."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


def is_same_group_leader(pid: int, created: float | None) -> bool:
    """Whether ``pid`` still is the task leader started at ``created`` (not a reused pid)."""
    if created is None:
        return False
    now = process_identity(pid)
    try:
        leads = os.getpgid(pid) == pid
    except OSError:
        return False
    return leads and now is not None and abs(now - created) < 0.5


def tree_rss(roots: Iterable[int]) -> dict[int, int]:
    """Resident memory in bytes of each root's whole process tree.

    One pass over the process table serves every root, so sampling many tasks costs
    about as much as sampling one. Processes that vanish or cannot be read count 0.
    """
    children: defaultdict[int, list[int]] = defaultdict(list)
    rss: dict[int, int] = {}
    for p in psutil.process_iter(["ppid", "memory_info"]):
        info = p.info
        if info.get("ppid") is not None:
            children[int(info["ppid"])].append(int(p.pid))
        mem = info.get("memory_info")
        rss[int(p.pid)] = int(mem.rss) if mem is not None else 0
    out = {}
    for root in roots:
        total, stack, seen = 0, [root], set()
        while stack:
            pid = stack.pop()
            if pid in seen:
                continue
            seen.add(pid)
            total += rss.get(pid, 0)
            stack.extend(children.get(pid, ()))
        out[root] = total
    return out


# Imported by the runner for its escalation; kept here so every signal name is in one place.
TERM = signal.SIGTERM
KILL = signal.SIGKILL
