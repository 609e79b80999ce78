"""How a func's elements are split into chunks (the unit of work)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from hpcflow.errors import InputError

__all__ = ["ChunkSizes", "chunk_ranges", "resolve_chunksize", "user_chunksize"]

ChunkSizes = int | Mapping[Any, int | Callable[[int], int] | None] | None


def resolve_chunksize(
    chunksizes: ChunkSizes, key: tuple[str, ...], n: int, *, workers: int | None
) -> int:
    """Chunk size for a func with outputs ``key`` and ``n`` elements.

    ``chunksizes`` is ``None`` (automatic), an int, or a dict keyed by output name (or
    the tuple of a multi-output func; ``""`` is the default) whose values are ints,
    callables of ``n``, or ``None`` (automatic).

    The automatic size runs everything as one chunk when there is no executor
    (``workers=None``), and otherwise about four chunks per worker, so that uneven
    elements still balance while per-task overhead stays small.

    Examples
    --------
    >>> resolve_chunksize(None, ("y",), 1000, workers=4)
    63
    >>> resolve_chunksize({"": 10, "y": lambda n: n // 4}, ("y",), 1000, workers=4)
    250
    """
    size = user_chunksize(chunksizes, key, n)
    if size is not None:
        return size
    if workers is None:
        return max(1, n)
    return max(1, math.ceil(n / (4 * workers)))


def user_chunksize(chunksizes: ChunkSizes, key: tuple[str, ...], n: int) -> int | None:
    """The chunk size the user asked for (validated), or None for "automatic".

    Examples
    --------
    >>> user_chunksize({"y": 10}, ("y",), 100), user_chunksize({"z": 10}, ("y",), 100)
    (10, None)
    """
    size: Any = chunksizes
    if isinstance(chunksizes, Mapping):
        size = None
        for k in (key, *key, ""):
            if k in chunksizes:
                size = chunksizes[k]
                break
    if callable(size):
        size = size(n)
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InputError(f"chunksizes for {key} gave {size!r}; a chunk size must be an int >= 1")
    return size


def chunk_ranges(n: int, size: int) -> list[range]:
    """Contiguous ranges of linear indices covering ``range(n)``."""
    return [range(i, min(i + size, n)) for i in range(0, n, size)]
