"""The chunking policy (``hpcflow.plan.policy``) on simulated clusters, 6 to 100,000 slots.

For each stage (``n`` elements of mean cost ``c``, known to the policy or not) the
script asks :func:`~hpcflow.plan.policy.choose_chunksize` for a chunk size, then runs a
small discrete-event simulation of the stage on ``S`` slots:

- the scheduler starts tasks in order, at most ``--rate`` per second (about 10/s on the
  mini cluster; real clusters differ, so it is a parameter), each as soon as a slot is
  free;
- a task of ``k`` elements holds its slot for ``--start-cost`` (0.7 s: the Python
  start-up measured on the mini cluster) plus the sum of its elements' times;
- element times are either all ``c`` ("const") or log-normal with sigma 1 and the same
  mean ``c`` ("logn"; one seeded draw per ``n``, scaled by ``c``).

The ideal is the best any split could do with free, instant tasks:
``max(total element time / S, longest element)`` (``n * c / S`` for const when
``n >= S``). When the cost is unknown the policy does not see it, but the simulation
uses the true cost. What the policy sees of the cluster: slots, ``MaxArraySize``, the
launch rate, a partition ``MaxTime`` of 48 h and, when the cost is known, a per-element
walltime request of ``2 * c``. ``best split`` is the least
makespan over about 3,000 chunk sizes (const times, no array, queue or walltime
limits): what is reachable at all given the start cost and the launch rate; ``vs
best`` is the policy's makespan over it. ``old`` is the previous default (at most 1,000 tasks
per stage, ``ceil(n / 1000)`` elements each) on the same simulation, const times.

Run::

    python -m benchmarks.chunk_policy            # prints a Markdown table
    python -m benchmarks.chunk_policy --rate 100 # a faster scheduler
"""

from __future__ import annotations

import argparse
import heapq
import math
import time
from dataclasses import dataclass

import numpy as np

from hpcflow.plan.policy import ChunkInputs, choose_chunksize

MAX_TIME = 48 * 3600.0  # partition MaxTime the policy is told about
MAX_JOB_COUNT = 10_000  # SLURM's default MaxJobCount: every array task counts

# (slots, MaxArraySize): the mini cluster, SLURM's default array size, big sites
CLUSTERS = [(6, 101), (100, 1001), (1000, 1001), (10_000, 100_001), (100_000, 100_001)]
COSTS = [0.01, 1.0, 60.0, 3600.0]


@dataclass(frozen=True)
class Case:
    slots: int
    max_array_size: int
    n: int
    cost: float
    known: bool


def cases() -> list[Case]:
    """The grid: every cluster x n in (3,000, 10^6) x cost x known, plus a few extras."""
    out = [Case(6, 101, 3000, 0.02, k) for k in (True, False)]  # the measured sweep
    out += [Case(6, 101, 48, 2.5, k) for k in (True, False)]
    for slots, size in CLUSTERS:
        ns = [3000, 10**6] + ([10**7] if slots == 100_000 else [])
        for n in ns:
            for cost in COSTS:
                out += [Case(slots, size, n, cost, k) for k in (True, False)]
    return out


def makespan(durations: np.ndarray, slots: int, rate: float) -> float:
    """When the last task ends: in-order starts, ``rate`` per second, on free slots.

    >>> makespan(np.array([1.0, 1.0, 1.0]), slots=2, rate=10.0)
    2.0
    >>> makespan(np.array([5.0, 1.0]), slots=8, rate=1.0)
    5.0
    """
    n_tasks = len(durations)
    gap = 1.0 / rate
    if n_tasks <= slots:  # one wave: only the launch rate delays a start
        return float(np.max(np.arange(n_tasks) * gap + durations))
    free = [0.0] * slots  # when each slot is next free (a heap)
    start = -gap
    end = 0.0
    for d in durations.tolist():
        start = max(start + gap, free[0])
        finish = start + d
        heapq.heapreplace(free, finish)
        end = max(end, finish)
    return end


def even_makespan(n_tasks: np.ndarray, d: np.ndarray, slots: int, rate: float) -> np.ndarray:
    """:func:`makespan` of ``n_tasks`` tasks all lasting ``d``, in closed form (vectorised).

    In-order starts on equal tasks reuse slots round-robin: task ``i`` starts at
    ``floor(i / S) * d + (i mod S) / rate`` when ``d >= S / rate``, else at ``i / rate``.

    >>> t, d = np.array([1, 5, 40, 333]), np.array([3.0, 0.4, 2.0, 0.05])
    >>> got = even_makespan(t, d, slots=6, rate=10.0)
    >>> want = [makespan(np.full(k, x), 6, 10.0) for k, x in zip(t, d)]
    >>> bool(np.allclose(got, want))
    True
    """
    last = n_tasks - 1
    slot_bound = (last // slots) * d + (last % slots) / rate + d
    launch_bound = last / rate + d
    out: np.ndarray = np.where(d >= slots / rate, slot_bound, launch_bound)
    return out


def best_split(n: int, cost: float, slots: int, rate: float, start_cost: float) -> float:
    """The least const-time makespan over about 3,000 task counts from 1 to ``n``.

    Unconstrained (no MaxArraySize, MaxJobCount or walltime): what the best chunk size
    would give in this simulation, for comparison with the policy's.
    """
    tasks = np.unique(np.round(np.logspace(0, math.log10(n), 3000)).astype(np.int64))
    k = np.ceil(n / tasks)
    tasks = np.ceil(n / k)
    return float(even_makespan(tasks, start_cost + k * cost, slots, rate).min())


def task_sizes(n: int, chunksize: int) -> np.ndarray:
    """Elements of each task: ``chunksize``, the last one the rest."""
    n_tasks = math.ceil(n / chunksize)
    k = np.full(n_tasks, chunksize, dtype=np.float64)
    k[-1] = n - (n_tasks - 1) * chunksize
    return k


def fmt(seconds: float) -> str:
    """A short duration.

    >>> fmt(0.5), fmt(42.0), fmt(5400.0), fmt(3 * 86400.0), fmt(730 * 86400.0)
    ('0.5 s', '42 s', '1.5 h', '3 d', '2 y')
    """
    for unit, size in (("y", 365 * 86400.0), ("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 1.5 * size:
            return f"{seconds / size:.3g} {unit}"
    if seconds < 0.1:
        return f"{seconds * 1000:.3g} ms"
    return f"{seconds:.3g} s"


def run(rate: float, start_cost: float, seed: int) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    draws: dict[int, tuple[np.ndarray, float, float]] = {}
    rows = []
    for case in cases():
        n, c, slots = case.n, case.cost, case.slots
        if n not in draws:  # log-normal, sigma 1, mean 1 (scaled by c below)
            z = rng.lognormal(mean=-0.5, sigma=1.0, size=n)
            draws[n] = (z, float(z.sum()), float(z.max()))
        z, z_sum, z_max = draws[n]
        decision = choose_chunksize(
            ChunkInputs(
                n,
                slots,
                element_seconds=c if case.known else None,
                max_array_size=case.max_array_size,
                max_task_seconds=MAX_TIME,
                element_walltime=2 * c if case.known else None,
                task_start_seconds=start_cost,
                launch_rate=rate,
            )
        )
        k = task_sizes(n, decision.chunksize)
        const = start_cost + k * c
        starts = np.arange(0, n, decision.chunksize)
        logn = start_cost + np.add.reduceat(z, starts) * c
        ideal = max(n * c / slots, c)
        ideal_logn = max(z_sum * c / slots, z_max * c)
        span = makespan(const, slots, rate)
        span_logn = makespan(logn, slots, rate)
        old_k = task_sizes(n, max(1, math.ceil(n / 1000)))
        span_old = makespan(start_cost + old_k * c, slots, rate)
        best = best_split(n, c, slots, rate, start_cost)
        over = int((const > MAX_TIME).sum()), int((logn > MAX_TIME).sum())
        jobs = decision.n_tasks / MAX_JOB_COUNT
        rows.append(
            {
                "slots": f"{slots:,}",
                "MaxArraySize": f"{case.max_array_size:,}",
                "n": f"{n:,}",
                "cost": fmt(c),
                "known": "yes" if case.known else "no",
                "chunksize": f"{decision.chunksize:,}",
                "tasks": f"{decision.n_tasks:,}",
                "longest task": fmt(float(const.max())),
                "makespan": fmt(span),
                "ideal": fmt(ideal),
                "ratio": f"{span / ideal:.2f}",
                "best split": fmt(best),
                "vs best": f"{span / best:.2f}",
                "logn ratio": f"{span_logn / ideal_logn:.2f}",
                "old ratio": f"{span_old / ideal:.2f}",
                "tasks > MaxTime": "-" if over == (0, 0) else f"{over[0]:,} / {over[1]:,}",
                "vs MaxJobCount": "ok" if jobs <= 1 else f"{jobs:.3g}x over",
            }
        )
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r[h] for h in head) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10.0, help="task starts per second")
    parser.add_argument("--start-cost", type=float, default=0.7, help="seconds per task start")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    t0 = time.perf_counter()
    rows = run(args.rate, args.start_cost, args.seed)
    print(markdown(rows))
    print(
        f"\n{len(rows)} stages simulated in {time.perf_counter() - t0:.1f} s "
        f"(rate {args.rate:g} tasks/s, start cost {args.start_cost:g} s, seed {args.seed})"
    )


if __name__ == "__main__":
    main()
