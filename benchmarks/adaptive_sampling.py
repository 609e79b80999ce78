"""Adaptive sampling against a uniform grid of equal accuracy, on ``y = tanh(c * x)``.

For each loss goal, a `Learner1D` campaign runs to the goal; its accuracy is the
largest error of linear interpolation through its points, on 20 001 points of
``[-1, 1]``. The uniform grid is the smallest with at most that error. Each element
costs ``--cost`` seconds (a sleep, standing for a real computation).

Two modes (``--mode``):

- ``inprocess``: `hpcflow.adaptive.run`, elements one after another in this process;
- ``local``: `hpcflow.adaptive.submit` on the detached local scheduler (rounds of job
  arrays, one follow-up job per round), against one submitted run of the grid.

Run::

    python benchmarks/adaptive_sampling.py --mode inprocess --cost 0.02
    python benchmarks/adaptive_sampling.py --mode local --cost 0.02 --goals 0.05
    python benchmarks/adaptive_sampling.py --svg docs/adaptive-points.svg   # the docs' plot
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

C = 20.0


def tanh_cost(x: float, c: float, cost: float) -> float:
    time.sleep(cost)
    return math.tanh(c * x)


def interpolation_error(xs: np.ndarray, ys: np.ndarray) -> float:
    """Largest error of linear interpolation through (xs, ys) on a fine grid of [-1, 1]."""
    fine = np.linspace(-1, 1, 20001)
    order = np.argsort(xs)
    return float(np.max(np.abs(np.interp(fine, xs[order], ys[order]) - np.tanh(C * fine))))


def grid_for(error: float) -> int:
    """The fewest uniform points on [-1, 1] whose interpolation error is <= ``error``."""
    lo, hi = 2, 2
    while interpolation_error(np.linspace(-1, 1, hi), np.tanh(C * np.linspace(-1, 1, hi))) > error:
        lo, hi = hi, hi * 2
    while lo < hi:
        mid = (lo + hi) // 2
        xs = np.linspace(-1, 1, mid)
        if interpolation_error(xs, np.tanh(C * xs)) <= error:
            hi = mid
        else:
            lo = mid + 1
    return lo


def pipeline() -> Any:
    import hpcflow

    return hpcflow.Pipeline([hpcflow.func("y")(tanh_cost)])


def adaptive_inprocess(goal: float, cost: float, per_round: int) -> tuple[int, int, float, float]:
    import adaptive

    import hpcflow.adaptive as ha

    t = time.perf_counter()
    learner = ha.run(
        pipeline(), learner=adaptive.Learner1D(None, bounds=(-1, 1)), learn={"x": "y"},
        inputs={"c": C, "cost": cost}, points_per_round=per_round, loss_goal=goal,
    )  # fmt: skip
    wall = time.perf_counter() - t
    xs, ys = map(np.asarray, zip(*sorted(learner.data.items()), strict=True))
    rounds = math.ceil(learner.npoints / per_round)
    return learner.npoints, rounds, wall, interpolation_error(xs, ys)


def grid_inprocess(n: int, cost: float) -> float:
    t = time.perf_counter()
    p = pipeline().add_mapspec_axis("x", axis="i")
    p.map({"x": np.linspace(-1, 1, n).tolist(), "c": C, "cost": cost}, parallel=False)
    return time.perf_counter() - t


def adaptive_local(
    goal: float, cost: float, per_round: int, work: Path
) -> tuple[int, int, float, float]:
    import adaptive

    import hpcflow.adaptive as ha

    t = time.perf_counter()
    campaign = ha.submit(
        pipeline(), work / "campaign", learner=adaptive.Learner1D(None, bounds=(-1, 1)),
        learn={"x": "y"}, inputs={"c": C, "cost": cost}, points_per_round=per_round,
        loss_goal=goal, scheduler="local", state_dir=str(work / "queue"),
    )  # fmt: skip
    status = campaign.wait(timeout=3600, poll_interval=0.5)
    wall = time.perf_counter() - t
    learner = ha.load(work / "campaign")
    xs, ys = map(np.asarray, zip(*sorted(learner.data.items()), strict=True))
    return learner.npoints, status.rounds, wall, interpolation_error(xs, ys)


def grid_local(n: int, cost: float, work: Path) -> float:
    t = time.perf_counter()
    p = pipeline().add_mapspec_axis("x", axis="i")
    run = p.submit(
        {"x": np.linspace(-1, 1, n).tolist(), "c": C, "cost": cost}, work / "grid",
        scheduler="local", state_dir=str(work / "queue"),
    )  # fmt: skip
    run.wait(timeout=3600, poll_interval=1)
    return time.perf_counter() - t


def svg_plot(path: Path, goal: float = 0.05) -> None:
    """A hand-made SVG of the points a ``loss_goal=goal`` campaign sampled, over the curve."""
    import adaptive

    import hpcflow.adaptive as ha

    learner = ha.run(
        pipeline(), learner=adaptive.Learner1D(None, bounds=(-1, 1)), learn={"x": "y"},
        inputs={"c": C, "cost": 0.0}, points_per_round=12, loss_goal=goal,
    )  # fmt: skip
    w, h, m = 480, 240, 30

    def sx(x: float) -> float:
        return m + (x + 1) / 2 * (w - 2 * m)

    def sy(y: float) -> float:
        return h - m - (y + 1) / 2 * (h - 2 * m)

    fine = np.linspace(-1, 1, 400)
    curve = " ".join(f"{sx(x):.1f},{sy(math.tanh(C * x)):.1f}" for x in fine)
    dots = "\n".join(
        f'  <circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.5" fill="#d62728"/>'
        for x, y in sorted(learner.data.items())
    )
    ticks = "\n".join(
        f'  <line x1="{sx(x):.1f}" y1="{h - m + 4}" x2="{sx(x):.1f}" y2="{h - m + 10}" '
        'stroke="#d62728" stroke-width="0.8"/>'
        for x in sorted(learner.data)
    )
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11">\n'
        f'  <rect width="{w}" height="{h}" fill="white"/>\n'
        f'  <line x1="{m}" y1="{h - m}" x2="{w - m}" y2="{h - m}" stroke="#444"/>\n'
        f'  <line x1="{m}" y1="{m}" x2="{m}" y2="{h - m}" stroke="#444"/>\n'
        f'  <text x="{m}" y="{h - 8}">-1</text><text x="{w - m - 8}" y="{h - 8}">1</text>\n'
        f'  <text x="{w / 2 - 4}" y="{h - 8}">x</text>\n'
        f'  <text x="6" y="{m + 4}">1</text><text x="2" y="{h - m}">-1</text>\n'
        f'  <polyline points="{curve}" fill="none" stroke="#1f77b4" stroke-width="1.2"/>\n'
        f"{dots}\n{ticks}\n"
        f'  <text x="{m + 6}" y="{m - 10}">y = tanh({C:g} x): {learner.npoints} points '
        f"of a Learner1D campaign, loss_goal={goal} ({math.ceil(learner.npoints / 12)} rounds "
        "of 12)</text>\n</svg>\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=["inprocess", "local"], default="inprocess")
    parser.add_argument("--cost", type=float, default=0.02, help="seconds per element")
    parser.add_argument("--per-round", type=int, default=12)
    parser.add_argument("--goals", type=float, nargs="+", default=[0.05, 0.02, 0.01, 0.005])
    parser.add_argument("--svg", type=Path, default=None, help="write the plot of docs/adaptive.md")
    args = parser.parse_args()
    if args.svg is not None:
        svg_plot(args.svg)
        return
    print(f"mode {args.mode}, c = {C}, {args.cost} s per element, {args.per_round} points/round")
    print(
        "| loss goal | adaptive points | rounds | max error | adaptive wall s | grid points "
        "(same error) | grid wall s |"
    )
    print("|---|---|---|---|---|---|---|")
    for goal in args.goals:
        with tempfile.TemporaryDirectory(prefix="hpcflow-adaptive-bench-") as tmp:
            work = Path(tmp)
            if args.mode == "inprocess":
                n, rounds, wall, err = adaptive_inprocess(goal, args.cost, args.per_round)
                g = grid_for(err)
                gwall = grid_inprocess(g, args.cost)
            else:
                n, rounds, wall, err = adaptive_local(goal, args.cost, args.per_round, work)
                g = grid_for(err)
                gwall = grid_local(g, args.cost, work)
        print(
            f"| {goal} | {n} | {rounds} | {err:.4f} | {wall:.1f} | {g} | {gwall:.1f} |", flush=True
        )


if __name__ == "__main__":
    main()
