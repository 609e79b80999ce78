"""A run folder's lock: one submit, resume or map at a time.

The lock is a file created with ``O_EXCL`` (atomic on local and NFSv3+ filesystems),
holding who took it. A second submit, resume or map fails with a message naming the
holder.
A lock whose holder was a process on this host that no longer exists is stale and is
taken over; one held from another host cannot be checked from here, so it is reported
with the command that clears it (`clear_lock`, ``hpcflow unlock DIR``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from hpcflow.errors import RunLockedError
from hpcflow.runfolder.layout import LOCK

__all__ = ["LOCK_NAME", "RunLockedError", "clear_lock", "holder_alive", "lock_holder", "run_lock"]

LOCK_NAME = LOCK


@contextmanager
def run_lock(folder: Path, purpose: str) -> Iterator[None]:
    """Hold ``folder``'s lock for the duration of the block."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    me = {"host": socket.gethostname(), "pid": os.getpid(), "purpose": purpose, "time": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = _read(path)
            if holder is not None and _is_stale(holder):
                path.unlink(missing_ok=True)  # its process is gone: take over
                continue
            raise RunLockedError(_message(folder, holder)) from None
        with os.fdopen(fd, "w") as fh:
            json.dump(me, fh)
        break
    else:
        raise RunLockedError(_message(folder, _read(path)))
    try:
        yield
    finally:
        if _read(path) == me:
            path.unlink(missing_ok=True)


def clear_lock(folder: Path) -> dict[str, Any] | None:
    """Remove ``folder``'s lock (only when you know its holder is gone); the old holder."""
    path = Path(folder) / LOCK_NAME
    holder = _read(path)
    path.unlink(missing_ok=True)
    return holder


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError):
        return {"host": "?", "pid": -1, "purpose": "?", "time": 0.0}  # being written
    return data


def _is_stale(holder: dict[str, Any]) -> bool:
    if holder.get("host") != socket.gethostname():
        return False
    pid = int(holder.get("pid", -1))
    return pid > 0 and not psutil.pid_exists(pid)


def _message(folder: Path, holder: dict[str, Any] | None) -> str:
    if holder is None:
        return f"run folder {folder} was locked by another process; try again"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("time", 0))))
    return (
        f"run folder {folder} is locked by a {holder.get('purpose')} in process "
        f"{holder.get('pid')} on host {holder.get('host')} (since {since}); wait for it to "
        f"finish. If that process is gone, clear the lock with: hpcflow unlock {folder}"
    )


def lock_holder(folder: Path) -> dict[str, Any] | None:
    """Who holds ``folder``'s lock (host, pid, purpose, time), or None if nobody does."""
    return _read(Path(folder) / LOCK_NAME)


def holder_alive(holder: dict[str, Any]) -> bool | None:
    """Whether the lock's holder is alive: a process on this host is checked (True or
    False); one on another host cannot be checked from here (None)."""
    if holder.get("host") != socket.gethostname():
        return None
    return not _is_stale(holder)
