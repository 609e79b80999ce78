"""Whether the local scheduler may trust a folder or file of its state directory.

The runner runs whatever command a job file names, as the user it runs as: a state
directory (or a job file) that another user could write would let that user run
commands as this one (as root, if root submits). So a folder or file is used only if it
is owned by the current (effective) user and neither its group nor others may write it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from hpcflow.errors import SchedulerError

__all__ = ["UntrustedStateError", "check_private_dir", "untrusted_reason"]

_WAY_OUT = (
    "point the local scheduler at a private folder of yours (set HPCFLOW_LOCAL_DIR or "
    "pass LocalScheduler(state_dir=...)), or, if this folder is yours and nobody else "
    "wrote into it, fix it with `chown -R {user} {path}; chmod -R go-w {path}`"
)


class UntrustedStateError(SchedulerError):
    """A state directory (or a folder in it) that another user could have written."""


def untrusted_reason(st: os.stat_result, *, kind: int) -> str | None:
    """Why a file with status ``st`` must not be trusted, or ``None`` if it may be.

    ``kind`` is `stat.S_IFDIR` or `stat.S_IFREG`; anything else (a symlink, when the
    status came from `os.lstat`) is refused too.

    Examples
    --------
    >>> import os, stat
    >>> mine = os.stat_result((stat.S_IFDIR | 0o700, 0, 0, 0, os.geteuid(), 0, 0, 0, 0, 0))
    >>> untrusted_reason(mine, kind=stat.S_IFDIR) is None
    True
    >>> shared = os.stat_result((stat.S_IFDIR | 0o777, 0, 0, 0, os.geteuid(), 0, 0, 0, 0, 0))
    >>> untrusted_reason(shared, kind=stat.S_IFDIR)
    'others may write it (mode 0777)'
    """
    if stat.S_IFMT(st.st_mode) != kind:
        what = "a folder" if kind == stat.S_IFDIR else "a regular file"
        return f"it is not {what} (a symlink or another kind of file)"
    if st.st_uid != os.geteuid():
        return f"it is owned by uid {st.st_uid}, not by you (uid {os.geteuid()})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"others may write it (mode {stat.S_IMODE(st.st_mode):04o})"
    return None


def check_private_dir(path: Path, *, follow: bool) -> None:
    """Raise `UntrustedStateError` unless ``path`` is a folder only this user may write.

    ``follow``: whether a symlink to such a folder is fine (for the state directory
    itself, which the user chose; not for the folders inside it).
    """
    st = os.stat(path) if follow else os.lstat(path)
    reason = untrusted_reason(st, kind=stat.S_IFDIR)
    if reason is not None:
        user = os.environ.get("USER") or str(os.geteuid())
        raise UntrustedStateError(
            f"the local scheduler refuses its state folder {path}: {reason}; "
            "a folder others can write could hold jobs they planted, which would run as "
            "you. " + _WAY_OUT.format(user=user, path=path)
        )
