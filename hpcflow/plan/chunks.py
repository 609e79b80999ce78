"""How a func's elements are split into chunks (the unit of work)."""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from hpcflow.errors import InputError

__all__ = [
    "ChunkSizes",
    "check_chunksizes",
    "check_output_keys",
    "chunk_ranges",
    "resolve_chunksize",
    "user_chunksize",
]

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
    try:
        return _check_size(size, f"chunksizes for {key}")
    except InputError:
        raise InputError(
            f"chunksizes for {key} gave {size!r}; a chunk size must be an int >= 1"
        ) from None


def check_chunksizes(chunksizes: ChunkSizes, outputs: Iterable[tuple[str, ...]]) -> None:
    """Refuse a ``chunksizes=`` that is not one of its forms, before anything runs.

    The forms are pipefunc's: ``None`` (automatic), an int >= 1 for every func, or a
    dict whose keys are output names (or a multi-output func's tuple, or ``""`` for
    the default) and whose values are ints >= 1, callables of the number of elements
    (checked when called), or ``None``. A key that names no output is refused: a
    misspelt one would silently fall back to the default.

    Parameters
    ----------
    chunksizes
        What the caller passed.
    outputs
        The output names of each func of the pipeline (``Func.output_names``).

    Raises
    ------
    InputError
        Naming ``chunksizes``, the bad key or value, and the valid keys.

    Examples
    --------
    >>> check_chunksizes({"": 10, "y": lambda n: n // 4}, [("y",), ("a", "b")])
    >>> check_chunksizes({"yy": 10}, [("y",)])
    Traceback (most recent call last):
    ...
    hpcflow.errors.InputError: chunksizes has key 'yy', which is no output of the pipeline; valid keys are ['', 'y']
    """
    if chunksizes is None or callable(chunksizes):
        return
    if not isinstance(chunksizes, Mapping):
        _check_size(chunksizes, "chunksizes")
        return
    check_output_keys("chunksizes", chunksizes, outputs)
    for key, value in chunksizes.items():
        if value is not None and not callable(value):
            _check_size(value, f"chunksizes[{key!r}]")


def check_output_keys(
    arg: str, mapping: Mapping[Any, Any], outputs: Iterable[tuple[str, ...]]
) -> None:
    """Refuse a key of a per-output dict (``chunksizes``, ``executor``, ``storage``) that
    names no output: a misspelt one would silently fall back to the ``""`` default.

    Parameters
    ----------
    arg
        The argument's name, for the message.
    mapping
        What the caller passed.
    outputs
        The output names of each func of the pipeline (``Func.output_names``).

    Raises
    ------
    InputError
        Naming ``arg``, the bad key and the valid keys.

    Examples
    --------
    >>> check_output_keys("storage", {"": "dict", ("a", "b"): "file_array"}, [("a", "b")])
    >>> check_output_keys("executor", {"yy": None}, [("y",)])
    Traceback (most recent call last):
    ...
    hpcflow.errors.InputError: executor has key 'yy', which is no output of the pipeline; valid keys are ['', 'y']
    """
    valid: list[Any] = [""]
    for names in outputs:
        valid.extend(names)
        if len(names) > 1:
            valid.append(tuple(names))
    for key in mapping:
        if key not in valid:
            raise InputError(
                f"{arg} has key {key!r}, which is no output of the pipeline; valid keys are {valid}"
            )


def _check_size(value: Any, where: str) -> int:
    """``value`` as a chunk size (an int >= 1, numpy integers included)."""
    try:
        size = operator.index(value) if not isinstance(value, bool) else None
    except TypeError:
        size = None
    if size is None or size < 1:
        raise InputError(
            f"{where}={value!r} is not a chunk size: use an int >= 1, a dict of output name "
            '-> int, callable or None ("" for the default), or None for automatic'
        )
    return size


def chunk_ranges(n: int, size: int) -> list[range]:
    """Contiguous ranges of linear indices covering ``range(n)``."""
    return [range(i, min(i + size, n)) for i in range(0, n, size)]
