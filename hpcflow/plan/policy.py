"""How many elements go into one array task when the user does not choose.

A pure function of what it is given (:class:`ChunkInputs`): no I/O, no scheduler, no
clock. The submit layer gathers the inputs (slots of the stage's resource shape,
``MaxArraySize``, partition ``MaxTime``, a per-func cost hint or the cost measured from
chunk markers, see :func:`measured_element_seconds`) and calls :func:`choose_chunksize`;
a dry run prints :attr:`ChunkDecision.reason`.

Why: every array task pays a Python start-up (0.5-1 s on the mini cluster) and a
scheduler launch (about 10 tasks/s there), and counts against ``MaxJobCount`` /
``MaxSubmitJobs``. The old default (up to 1,000 tasks per stage whatever the cluster or
the element cost) ran a 3,000-element stage of 20 ms elements on 6 slots in 366 s
against an ideal of 20 s; 6 tasks per stage gave 1.18x the ideal.

The formulas
------------
With ``n`` elements, ``S`` slots, ``W`` waves, element cost ``c`` (seconds, or unknown),
total work ``T = n * c``, minimum task time ``m``, task start cost ``s``, launch rate
``r`` (tasks/s, optional), ``A = max_array_size``, ``J = max_tasks`` (optional):

1. **target** ``= W * S``: a small multiple of the slots, so a stage runs in about one
   round of the cluster with room to balance uneven element times.
2. **cost known**: ``long = floor(T / m)`` tasks of at least ``m`` seconds each, and
   ``wave = min(S, floor(T / (SHORT_TASK_FACTOR * s)))``: a short stage may still use
   one wave of up to ``S`` shorter tasks, as long as each does at least
   ``SHORT_TASK_FACTOR`` (10) times its start cost of work. When the launch rate ``r``
   is known, ``launch = floor(sqrt(T * r))`` if ``T * r <= S**2`` (one wave: launching
   ``k`` tasks takes ``k / r``, each runs ``T / k``; their sum is least at
   ``k = sqrt(T * r)``), else ``floor(T * r / S)`` (several waves: launching all tasks
   takes no longer than each slot's share of the work); otherwise ``launch = inf``.
   ``preferred = max(1, min(target, launch, max(long, wave)))``. So tasks are never
   shorter than ``m`` unless they all fit in one wave (at most ``S`` tasks).
3. **cost unknown**: ``preferred = target`` (never 1,000 tiny tasks by default).
4. **soft caps**: ``preferred = min(preferred, A, J)``: one job array per stage, within
   the queue limit, unless the walltime forces more (5).
5. **walltime** (hard): with a per-element walltime ``w`` (or, if none, the known cost
   ``c``) and a per-task limit ``L`` (partition ``MaxTime`` or the user's), a task of
   ``k`` elements asks for :func:`task_walltime` ``= k * w + TASK_START_MARGIN``, so
   ``k <= k_max = floor((L - TASK_START_MARGIN) / w)`` and
   ``tasks >= ceil(n / k_max)``; if ``k_max < 1`` one element cannot fit and
   :class:`~hpcflow.errors.InputError` says so.
6. ``tasks = min(n, max(preferred, forced))``; ``chunksize = ceil(n / tasks)``;
   ``n_tasks = ceil(n / chunksize)`` (at most ``tasks``; the last chunk may be short).

Examples
--------
The mini cluster's sweep (3,000 elements of 20 ms on 6 slots):

>>> d = choose_chunksize(ChunkInputs(3000, slots=6, element_seconds=0.02, max_array_size=101))
>>> d.chunksize, d.n_tasks
(500, 6)
>>> print(d.reason)
3,000 elements; 6 slots x 2 waves = 12 tasks; 20 ms/element known (60 s of work): tasks >= 60 s allow 1, one wave of tasks >= 7 s allows 6 -> 6 tasks of 500 elements (10 s each)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hpcflow.errors import InputError

__all__ = [
    "DEFAULT_MIN_TASK_SECONDS",
    "DEFAULT_TASK_START_SECONDS",
    "DEFAULT_WAVES",
    "SHORT_TASK_FACTOR",
    "TASK_START_MARGIN",
    "ChunkDecision",
    "ChunkInputs",
    "choose_chunksize",
    "measured_element_seconds",
    "task_walltime",
]

DEFAULT_MIN_TASK_SECONDS = 60.0
"""Tasks of known cost are at least this long (unless one wave of tasks fits the slots)."""

DEFAULT_WAVES = 2
"""Target tasks per stage = this many times the slots (each task pays a start-up, so
few waves; two leave room to balance uneven elements)."""

DEFAULT_TASK_START_SECONDS = 0.7
"""Start-up cost of one array task (Python + imports), measured on the mini cluster."""

SHORT_TASK_FACTOR = 10.0
"""A task shorter than ``m`` must still do this many times its start cost of work."""

TASK_START_MARGIN = 60.0
"""Seconds added to ``k * element walltime`` for a task's start-up, imports and I/O."""


@dataclass(frozen=True)
class ChunkInputs:
    """What the chunking policy reads; every field is plain data.

    Parameters
    ----------
    n_elements
        Elements in the stage (``>= 0``).
    slots
        Tasks of this stage's resource shape that can run at once: the cluster's
        capacity for that shape, already capped by ``max_parallel`` (``>= 1``).
    element_seconds
        Known or estimated cost of one element in seconds (a per-func hint, or
        :func:`measured_element_seconds`); ``None`` if unknown.
    max_array_size
        The scheduler's bound on one array (SLURM ``MaxArraySize``: highest index + 1).
    max_task_seconds
        Longest a task may run (partition ``MaxTime`` or the user's
        ``max_task_walltime``); ``None`` if unlimited.
    element_walltime
        The user's walltime request for one element, if any. Bounds the elements per
        task so that ``task_walltime(k, element_walltime) <= max_task_seconds``.
    min_task_seconds
        Tasks of known cost are at least this long, unless one wave fits the slots.
    waves
        Target tasks = ``waves * slots``.
    task_start_seconds
        Start-up cost of one task; a task shorter than ``min_task_seconds`` must do at
        least ``SHORT_TASK_FACTOR`` times this much work.
    launch_rate
        Tasks per second the scheduler starts, if known (about 10 on the mini
        cluster); bounds the one-wave exception only.
    task_margin
        Seconds added to a task's time limit for its start-up (default
        ``TASK_START_MARGIN``).
    max_tasks
        Soft cap on tasks per stage (a share of ``MaxJobCount`` / ``MaxSubmitJobs``,
        which count every array task); ``None`` for no cap. Exceeded only when the
        walltime forces it.
    """

    n_elements: int
    slots: int
    element_seconds: float | None = None
    max_array_size: int = 1001
    max_task_seconds: float | None = None
    element_walltime: float | None = None
    min_task_seconds: float = DEFAULT_MIN_TASK_SECONDS
    waves: int = DEFAULT_WAVES
    task_start_seconds: float = DEFAULT_TASK_START_SECONDS
    launch_rate: float | None = None
    max_tasks: int | None = None
    task_margin: float = TASK_START_MARGIN

    def __post_init__(self) -> None:
        _check_int("n_elements", self.n_elements, 0)
        _check_int("slots", self.slots, 1)
        _check_int("max_array_size", self.max_array_size, 1)
        _check_int("waves", self.waves, 1)
        if self.max_tasks is not None:
            _check_int("max_tasks", self.max_tasks, 1)
        _check_seconds("element_seconds", self.element_seconds, zero_ok=True)
        _check_seconds("max_task_seconds", self.max_task_seconds, zero_ok=False)
        _check_seconds("element_walltime", self.element_walltime, zero_ok=False)
        _check_seconds("min_task_seconds", self.min_task_seconds, zero_ok=True)
        _check_seconds("task_start_seconds", self.task_start_seconds, zero_ok=True)
        _check_seconds("launch_rate", self.launch_rate, zero_ok=False)
        _check_seconds("task_margin", self.task_margin, zero_ok=True)


@dataclass(frozen=True)
class ChunkDecision:
    """The policy's answer for one stage.

    Attributes
    ----------
    chunksize
        Elements per array task (``>= 1``).
    n_tasks
        Array tasks of the stage: ``ceil(n_elements / chunksize)``.
    reason
        One line saying why, for a dry run.
    """

    chunksize: int
    n_tasks: int
    reason: str


def choose_chunksize(inputs: ChunkInputs) -> ChunkDecision:
    """Elements per array task for one stage (the formulas are in the module docstring).

    Raises
    ------
    hpcflow.errors.InputError
        If one element's walltime plus ``TASK_START_MARGIN`` exceeds
        ``max_task_seconds``.

    Examples
    --------
    48 elements of 2.5 s on the mini cluster's 6 slots: one wave of 6 tasks of 20 s:

    >>> choose_chunksize(ChunkInputs(48, slots=6, element_seconds=2.5)).chunksize
    8

    A million elements of unknown cost: 2 tasks per slot, not 1,000 tiny ones:

    >>> d = choose_chunksize(ChunkInputs(10**6, slots=6, max_array_size=101))
    >>> d.chunksize, d.n_tasks
    (83334, 12)

    One-hour elements under a 2-hour partition limit: one element per task, split over
    several arrays because the walltime forces it:

    >>> d = choose_chunksize(ChunkInputs(
    ...     500, slots=6, element_seconds=3000, element_walltime=3600,
    ...     max_array_size=101, max_task_seconds=7200))
    >>> d.chunksize, d.n_tasks
    (1, 500)
    >>> choose_chunksize(ChunkInputs(5, slots=6, element_walltime=7200, max_task_seconds=7200))
    Traceback (most recent call last):
    ...
    hpcflow.errors.InputError: one element asks for 7200 s of walltime; with the 60 s task start margin a task needs 7260 s, more than the limit of 7200 s per task; ask for at most 7140 s per element, or use a partition with a longer MaxTime (max_task_seconds)
    """
    n, slots = inputs.n_elements, inputs.slots
    if n == 0:
        return ChunkDecision(1, 0, "no elements -> no tasks")
    target = inputs.waves * slots
    parts = [f"{n:,} elements", f"{slots:,} slots x {inputs.waves} waves = {target:,} tasks"]
    c = inputs.element_seconds

    # 2./3. the preferred number of tasks
    if c is None:
        preferred = target
        parts.append("element cost unknown: use the target")
    else:
        work = n * c
        m, s = inputs.min_task_seconds, inputs.task_start_seconds
        long = _count(work, m, n)
        wave = min(slots, _count(work, SHORT_TASK_FACTOR * s, n))
        preferred = min(target, max(long, wave))
        parts.append(
            f"{_dur(c)}/element known ({_dur(work)} of work): tasks >= {_dur(m)} allow "
            f"{long:,}, one wave of tasks >= {_dur(SHORT_TASK_FACTOR * s)} allows {wave:,}"
        )
        r = inputs.launch_rate
        if r is not None:
            one_wave = work * r <= float(slots) ** 2
            launch = _count(
                math.sqrt(work * r) if one_wave else work * r, 1.0 if one_wave else slots, n
            )
            if launch < preferred:
                preferred = launch
                parts.append(f"launching {r:g} tasks/s caps at {launch:,}")
        preferred = max(1, preferred)

    # 4. soft caps: one array, the queue limit
    if preferred > inputs.max_array_size:
        preferred = inputs.max_array_size
        parts.append(f"capped at MaxArraySize {inputs.max_array_size:,}")
    if inputs.max_tasks is not None and preferred > inputs.max_tasks:
        preferred = inputs.max_tasks
        parts.append(f"capped at max_tasks {inputs.max_tasks:,}")

    # 5. the walltime cap (hard)
    forced = 1
    per_element = inputs.element_walltime if inputs.element_walltime is not None else c
    limit = inputs.max_task_seconds
    if limit is not None and per_element is not None and per_element > 0:
        margin = inputs.task_margin
        k_max = _count(limit - margin, per_element, n)
        if k_max < 1:
            what = "walltime" if inputs.element_walltime is not None else "estimated time"
            raise InputError(
                f"one element asks for {per_element:g} s of {what}; with the "
                f"{margin:g} s task start margin a task needs "
                f"{per_element + margin:g} s, more than the limit of {limit:g} s "
                f"per task; ask for at most {limit - margin:g} s per element, or "
                "use a partition with a longer MaxTime (max_task_seconds)"
            )
        forced = math.ceil(n / k_max)
        if forced > preferred:
            parts.append(
                f"walltime {_dur(per_element)}/element under {_dur(limit)}/task allows "
                f"{k_max:,} per task, forcing {forced:,} tasks"
            )

    # 6. the split
    tasks = min(n, max(preferred, forced))
    chunksize = math.ceil(n / tasks)
    n_tasks = math.ceil(n / chunksize)
    result = (
        f"{n_tasks:,} task{'' if n_tasks == 1 else 's'} of "
        f"{chunksize:,} element{'' if chunksize == 1 else 's'}"
    )
    if c is not None:
        result += f" ({_dur(chunksize * c)} each)"
    return ChunkDecision(chunksize, n_tasks, "; ".join(parts) + " -> " + result)


def task_walltime(
    chunksize: int, element_walltime: float, margin: float = TASK_START_MARGIN
) -> float:
    """The time limit to ask for a task of ``chunksize`` elements: ``k * walltime + margin``.

    Examples
    --------
    >>> task_walltime(10, 30.0), task_walltime(1, 3600, margin=0)
    (360.0, 3600.0)
    """
    _check_int("chunksize", chunksize, 1)
    _check_seconds("element_walltime", element_walltime, zero_ok=False)
    _check_seconds("margin", margin, zero_ok=True)
    return float(chunksize * element_walltime + margin)


def measured_element_seconds(markers: Iterable[Mapping[str, Any]]) -> float | None:
    """Mean seconds per computed element, from chunk-marker dicts; ``None`` if none ran.

    Each marker has ``ok`` (elements computed), ``failed`` and ``propagated`` (lists of
    indices), ``skipped`` (count) and ``elapsed`` (seconds for the chunk). The estimate
    is ``sum(elapsed) / sum(ok + len(failed))``: the function ran for ``ok`` and
    ``failed`` elements, while ``skipped`` (already done) and ``propagated`` (an input
    had failed) elements cost next to nothing, so they are not counted. Markers
    without a usable ``elapsed`` (missing, negative, not finite) are left out.

    Examples
    --------
    >>> measured_element_seconds([
    ...     {"ok": 8, "failed": [3, 4], "propagated": [5], "skipped": 0, "elapsed": 2.0},
    ...     {"ok": 0, "failed": [], "propagated": [], "skipped": 10, "elapsed": 0.001},
    ... ])
    0.2001
    >>> measured_element_seconds([]), measured_element_seconds([{"ok": 0, "elapsed": 0.0}])
    (None, None)
    """
    elapsed = 0.0
    ran = 0
    for m in markers:
        e = m.get("elapsed")
        if isinstance(e, bool) or not isinstance(e, int | float):
            continue
        if not math.isfinite(e) or e < 0:
            continue
        elapsed += float(e)
        ran += int(m.get("ok", 0)) + len(m.get("failed", ()))
    if ran <= 0:
        return None
    return elapsed / ran


def _dur(seconds: float) -> str:
    """A short duration for the reason line.

    >>> _dur(0.02), _dur(7.0), _dur(90), _dur(7200), _dur(3 * 86400)
    ('20 ms', '7 s', '1.5 min', '2 h', '3 d')
    """
    if seconds < 1:
        return f"{seconds * 1000:.3g} ms"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size or (unit == "min" and seconds >= 90):
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} s"


def _count(total: float, each: float, n: int) -> int:
    """``floor(total / each)``, at most ``n`` (also when ``each`` is 0 or tiny).

    >>> _count(60.0, 7.0, 100), _count(60.0, 0.0, 100), _count(60.0, 1e-310, 100)
    (8, 100, 100)
    """
    if each <= 0 or total >= n * each:
        return n
    return math.floor(total / each)


def _check_int(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(f"{name}={value!r}; it must be an int >= {low}")


def _check_seconds(name: str, value: Any, *, zero_ok: bool) -> None:
    if value is None:
        return
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (value == 0 and not zero_ok):
        bound = ">= 0" if zero_ok else "> 0"
        raise InputError(f"{name}={value!r}; it must be a finite number {bound}")
