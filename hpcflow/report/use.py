"""What a function used and what it should ask for next time, from its chunk markers
and its tasks' accounting (pure: plain data in, plain data out; no I/O).

Per element (markers): ``elapsed / elements`` of each chunk, counted once per element,
and the task process's peak RSS when each chunk ended. Per task (accounting): elapsed,
MaxRSS, TotalCPU. Where the batch system measured a task's peak memory, that is what
the memory efficiency and suggestion use; otherwise the markers' peaks.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hpcflow.plan.policy import ChunkInputs, choose_chunksize, measured_element_seconds
from hpcflow.report import stats
from hpcflow.report.model import TaskRow

__all__ = ["concurrency", "element_samples", "func_use"]


def func_use(
    markers: Sequence[Mapping[str, Any]],
    rows: Sequence[TaskRow],
    requested: Mapping[str, Any],
    n_elements: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[float]]]:
    """``(used, suggested, samples)`` of one function (keys: ``docs/report.md``).

    ``requested`` holds ``memory_bytes`` and ``task_walltime_s`` (either may be
    ``None``); ``n_elements`` is what the chunk size is suggested for.
    """
    times, peaks, counts = element_samples(markers)
    weighted = np.repeat(np.asarray(times, dtype=float), counts).tolist() if times else []
    ran = [r for r in rows if r.elapsed_s is not None and r.start is not None]
    elapsed = [float(r.elapsed_s) for r in ran if r.elapsed_s is not None]
    task_rss = [float(r.max_rss_bytes) for r in rows if r.max_rss_bytes is not None]
    with_cpu = [r for r in ran if r.total_cpu_s is not None and r.cpus]
    peak_for_request = task_rss or peaks  # the batch system's view wins where it has one
    used = {
        "peak_rss_bytes": _ints(stats.percentiles(peaks, ("p50", "max"))),
        "element_s": stats.percentiles(weighted),
        "task_elapsed_s": stats.percentiles(elapsed, ("p50", "max")),
        "task_max_rss_bytes": _ints(stats.percentiles(task_rss, ("p50", "max"))),
        "cpu_efficiency": stats.cpu_efficiency(
            [r.total_cpu_s or 0.0 for r in with_cpu],
            [r.elapsed_s or 0.0 for r in with_cpu],
            [r.cpus or 1 for r in with_cpu],
        ),
        "memory_efficiency": stats.ratio(
            max(peak_for_request) if peak_for_request else None, requested.get("memory_bytes")
        ),
        "time_efficiency": stats.ratio(
            max(elapsed) if elapsed else None, requested.get("task_walltime_s")
        ),
    }
    suggested = {
        "memory_bytes": stats.suggest_memory(peak_for_request),
        "walltime_s": stats.suggest_walltime(weighted),
        "task_walltime_s": stats.suggest_walltime(elapsed),
        **_chunksize(n_elements, markers, ran),
    }
    return used, suggested, {"element_s": times, "peak_rss_bytes": peaks}


def element_samples(
    markers: Sequence[Mapping[str, Any]],
) -> tuple[list[float], list[float], list[int]]:
    """Per chunk: seconds per element, peak RSS, elements run (markers that ran any)."""
    times, peaks, counts = [], [], []
    for m in markers:
        n = int(m.get("ok", 0)) + len(m.get("failed", []))
        e = m.get("elapsed")
        if n <= 0 or not isinstance(e, int | float) or not math.isfinite(e) or e < 0:
            continue
        times.append(float(e) / n)
        counts.append(n)
        rss = m.get("peak_rss")
        if isinstance(rss, int) and rss > 0:
            peaks.append(float(rss))
    return times, peaks, counts


def _ints(values: dict[str, float | None]) -> dict[str, int | None]:
    return {k: None if v is None else int(v) for k, v in values.items()}


def _chunksize(
    n_elements: int,
    markers: Sequence[Mapping[str, Any]],
    ran: Sequence[TaskRow],
) -> dict[str, Any]:
    """The chunk policy's answer with the measured element time, on as many slots as
    the run's tasks used at once (`concurrency`)."""
    seconds = measured_element_seconds(markers)
    if n_elements < 1 or seconds is None:
        return {"chunksize": None, "chunksize_reason": "no element was measured"}
    slots = concurrency(ran) or 1
    decision = choose_chunksize(ChunkInputs(n_elements, slots=slots, element_seconds=seconds))
    why = f"{slots} tasks ran at once; {decision.reason}"
    return {"chunksize": decision.chunksize, "chunksize_reason": why}


def concurrency(rows: Sequence[TaskRow]) -> int:
    """Most tasks running at the same instant (from start and end times)."""
    events = []
    for r in rows:
        if r.start is not None and r.end is not None:
            events += [(r.start, 1), (r.end, -1)]
    best = now = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # ends before starts
        now += step
        best = max(best, now)
    return best
