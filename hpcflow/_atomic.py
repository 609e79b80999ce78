"""Atomic file writes for shared filesystems.

A value is written to ``NAME.<uuid>.partial`` next to its destination and then renamed
over it: ``os.replace`` is atomic on POSIX filesystems (Lustre and GPFS included), so a
reader sees either nothing or the whole file, and a writer killed mid-write leaves only
a ``.partial`` file that never counts as done.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import struct
import uuid
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

from hpcflow.errors import CorruptDataError

__all__ = [
    "DELETE_AND_RESUME",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npy",
    "atomic_write_pickle",
    "pickle_looks_whole",
    "read_pickle",
]


def atomic_write_bytes(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` so that readers never see a partial file.

    ``mode`` (e.g. ``0o600``) is the file's permission bits from its creation on, so a
    private file is never readable by others, not even for a moment; ``None``: the
    default (``0o666`` less the umask).
    """
    tmp = path.with_name(f"{path.name}.{uuid.uuid4().hex}.partial")
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
        fd = os.open(tmp, flags, 0o666 if mode is None else mode)
        if mode is not None:
            os.fchmod(fd, mode)  # the umask may have cleared bits that were asked for
        with open(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def atomic_write_pickle(path: Path, value: Any) -> None:
    """Cloudpickle ``value`` to ``path`` atomically."""
    atomic_write_bytes(path, cloudpickle.dumps(value))


def atomic_write_json(path: Path, value: Any, *, mode: int | None = None) -> None:
    """Write ``value`` as indented JSON to ``path`` atomically (``mode``: as
    `atomic_write_bytes`)."""
    atomic_write_bytes(path, json.dumps(value, indent=1, sort_keys=True).encode(), mode=mode)


def atomic_write_npy(path: Path, array: np.ndarray) -> None:
    """Save ``array`` in NumPy's ``.npy`` format to ``path`` atomically."""
    buf = io.BytesIO()
    np.save(buf, array)
    atomic_write_bytes(path, buf.getvalue())


# What unpickling truncated or overwritten bytes raises. Import errors are left out:
# they mean the user's module is not importable here, not that the file is damaged.
_DAMAGED = (
    EOFError, pickle.UnpicklingError, ValueError, IndexError, KeyError, OverflowError,
    struct.error, UnicodeDecodeError,
)  # fmt: skip

#: The way out of a damaged file, unless the caller knows a better one.
DELETE_AND_RESUME = (
    "hpcflow writes files atomically, so it was damaged afterwards; resume the run "
    "(map(..., resume=True) or hpcflow resume) to compute it again, or delete the file"
)


def read_pickle(path: Path, *, way_out: str = DELETE_AND_RESUME) -> Any:
    """Load a (cloud)pickled value.

    A file that exists but cannot be unpickled (truncated, overwritten) raises
    `CorruptDataError` naming the file and ``way_out``.
    """
    with open(path, "rb") as fh:
        try:
            return cloudpickle.load(fh)
        except _DAMAGED as e:
            raise CorruptDataError(
                f"{path} is corrupt: it cannot be unpickled ({type(e).__name__}: {e}); {way_out}",
                path,
            ) from e


_PROTO, _FRAME = 0x80, 0x95
_HEAD = 4096


def pickle_looks_whole(path: Path | str, *, dir_fd: int | None = None) -> bool:
    """A cheap check, without unpickling, that a pickle file is not truncated or garbage.

    It must start with the PROTO opcode and end with STOP, and a first frame (protocol
    4+) must fit in the file: a value under 64 KiB is one frame, so any truncation of it
    is caught, and random bytes pass with a chance of about 1 in 65,536. One read of at
    most 4 KiB for small files (a second one at the end of bigger ones), through plain
    file descriptors: resume checks every element file with it.
    A missing file is not damaged (it is simply not done): True. With ``dir_fd`` (an
    open directory), ``path`` is a name in it: no path lookup per file.
    """
    try:
        fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    except FileNotFoundError:
        return True
    try:
        head = os.pread(fd, _HEAD, 0)
        if len(head) < _HEAD:  # the whole file
            size, last = len(head), head[-1:]
        else:
            size = os.fstat(fd).st_size
            last = os.pread(fd, 1, size - 1)
    finally:
        os.close(fd)
    if size < 2 or head[0] != _PROTO or last != b".":
        return False
    if len(head) >= 11 and head[2] == _FRAME:
        return 11 + int.from_bytes(head[3:11], "little") <= size
    return True
