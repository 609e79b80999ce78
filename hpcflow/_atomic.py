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
import uuid
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np

__all__ = [
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_npy",
    "atomic_write_pickle",
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


def read_pickle(path: Path) -> Any:
    """Load a (cloud)pickled value."""
    with open(path, "rb") as fh:
        return cloudpickle.load(fh)
