"""The report's numbers: percentiles, efficiencies and suggestions (pure, no I/O).

Every function takes plain numbers and returns plain numbers, so the report's figures
are tested on recorded accounting output without a cluster.

Suggestions for the next submission
-----------------------------------
- memory: the high percentile of the measured peaks (p95; the maximum when fewer than
  `MIN_SAMPLES_FOR_P95` were measured, where a p95 would just be an interpolation of
  the two largest) times `MEMORY_MARGIN`, rounded up by `round_memory` to a size a site
  accepts: whole 100 MiB up to 1000 MiB, whole 256 MiB up to 8 GiB, whole GiB above.
- walltime: the same percentile of the measured times times `TIME_MARGIN`, rounded up
  to whole minutes (`round_walltime`), at least one minute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "MEMORY_MARGIN",
    "MIN_SAMPLES_FOR_P95",
    "TIME_MARGIN",
    "cpu_efficiency",
    "high",
    "percentiles",
    "ratio",
    "round_memory",
    "round_walltime",
    "suggest_memory",
    "suggest_walltime",
]

MEMORY_MARGIN = 1.2
TIME_MARGIN = 1.5
MIN_SAMPLES_FOR_P95 = 20
_MIB = 2**20
_GIB = 2**30


def percentiles(
    values: Sequence[float], qs: Sequence[str] = ("p50", "p95", "max")
) -> dict[str, float | None]:
    """``{"p50": ..., "p95": ..., "max": ...}`` of ``values`` (``None`` each when empty).

    Examples
    --------
    >>> percentiles([1, 2, 3, 4])
    {'p50': 2.5, 'p95': 3.85, 'max': 4.0}
    >>> percentiles([], ("p50", "max"))
    {'p50': None, 'max': None}
    """
    out: dict[str, float | None] = {}
    arr = np.asarray(values, dtype=float)
    for q in qs:
        if not len(arr):
            out[q] = None
        elif q == "max":
            out[q] = round(float(arr.max()), 6)
        else:
            out[q] = round(float(np.percentile(arr, float(q[1:]))), 6)
    return out


def high(values: Sequence[float]) -> float | None:
    """The percentile suggestions start from: p95, or the maximum of few samples.

    Examples
    --------
    >>> high([1.0, 5.0]), high(list(range(101))), high([])
    (5.0, 95.0, None)
    """
    if not len(values):
        return None
    if len(values) < MIN_SAMPLES_FOR_P95:
        return float(max(values))
    return float(np.percentile(np.asarray(values, dtype=float), 95))


def round_memory(n_bytes: float) -> int:
    """``n_bytes`` rounded up to a size a site accepts and a person reads: whole 100 MiB
    up to 1000 MiB, whole 256 MiB up to 8 GiB, whole GiB above.

    Examples
    --------
    >>> round_memory(150_000_000) // 2**20, round_memory(1001 * 2**20) // 2**20
    (200, 1024)
    >>> round_memory(4 * 2**30) // 2**20, round_memory(9.5 * 2**30) // 2**30
    (4096, 10)
    """
    for limit, step in ((1000 * _MIB, 100 * _MIB), (8 * _GIB, 256 * _MIB)):
        if n_bytes <= limit:
            return max(1, math.ceil(n_bytes / step)) * step
    return math.ceil(n_bytes / _GIB) * _GIB


def round_walltime(seconds: float) -> int:
    """``seconds`` rounded up to whole minutes, at least one.

    Examples
    --------
    >>> round_walltime(0.2), round_walltime(61), round_walltime(120)
    (60, 120, 120)
    """
    return max(1, math.ceil(seconds / 60)) * 60


def suggest_memory(peaks: Sequence[float]) -> int | None:
    """Memory to request: `high` of the peaks x `MEMORY_MARGIN`, `round_memory`'ed.

    Examples
    --------
    >>> suggest_memory([100 * 2**20, 160 * 2**20]) // 2**20  # 192 MiB -> 200 MiB
    200
    """
    top = high(peaks)
    return None if top is None else round_memory(top * MEMORY_MARGIN)


def suggest_walltime(seconds: Sequence[float]) -> int | None:
    """Walltime to request: `high` of the times x `TIME_MARGIN`, `round_walltime`'ed.

    Examples
    --------
    >>> suggest_walltime([30.0, 50.0]), suggest_walltime([])
    (120, None)
    """
    top = high(seconds)
    return None if top is None else round_walltime(top * TIME_MARGIN)


def cpu_efficiency(
    total_cpu_s: Sequence[float], elapsed_s: Sequence[float], cpus: Sequence[int]
) -> float | None:
    """CPU efficiency of tasks: ``sum(TotalCPU) / sum(Elapsed x cpus)``.

    Examples
    --------
    >>> cpu_efficiency([50.0, 30.0], [100.0, 60.0], [1, 1])
    0.5
    >>> cpu_efficiency([10.0], [0.0], [2]) is None
    True
    """
    wall = sum(e * c for e, c in zip(elapsed_s, cpus, strict=True))
    if wall <= 0:
        return None
    return round(sum(total_cpu_s) / wall, 4)


def ratio(used: float | None, limit: float | None) -> float | None:
    """``used / limit``, or ``None`` when either is unknown (or the limit is 0).

    Examples
    --------
    >>> ratio(50, 200), ratio(None, 2), ratio(1, 0)
    (0.25, None, None)
    """
    if used is None or not limit:
        return None
    return round(used / limit, 4)
