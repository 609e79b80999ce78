"""Submit a 2-D parameter sweep as job arrays, then follow it like a cluster user.

    python examples/sweep.py [RUN_FOLDER] [--scheduler local|slurm] [--no-wait]

Sweeps a toy "simulation" over 12 temperatures x 8 pressures (96 elements), reduces each
temperature's row and summarises the lot: three stages, submitted as job arrays chained
by dependencies. With the default ``--scheduler local`` a detached runner on this
machine executes them (honouring each function's cpus and memory), so the script could
exit at once (``--no-wait``) and you would follow the run with::

    hpcflow status RUN_FOLDER
    hpcflow wait RUN_FOLDER

On a SLURM login node, ``--scheduler slurm`` submits the same arrays with sbatch.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

import hpcflow


@hpcflow.func(
    "energy",
    mapspec="temperature[i], pressure[j] -> energy[i, j]",
    resources={"cpus": 1, "memory": "200MB", "walltime": "0:10:00"},
)
def simulate(temperature: float, pressure: float) -> float:
    """A stand-in for an expensive simulation."""
    time.sleep(0.05)
    return pressure * math.exp(-1.0 / temperature)


@hpcflow.func("best", mapspec="energy[i, :] -> best[i]")
def lowest(energy: np.ndarray) -> float:
    """Reduce over pressures: the lowest energy at each temperature."""
    return float(np.min(energy))


@hpcflow.func("summary")
def summarize(best: np.ndarray) -> dict[str, float]:
    """One value from the whole sweep."""
    return {"min": round(float(np.min(best)), 4), "max": round(float(np.max(best)), 4)}


pipeline = hpcflow.Pipeline([simulate, lowest, summarize])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", nargs="?", default="runs/sweep")
    parser.add_argument("--scheduler", default="local", choices=["local", "slurm"])
    parser.add_argument("--no-wait", action="store_true", help="submit and exit")
    args = parser.parse_args()

    inputs = {"temperature": np.geomspace(0.5, 64, 12), "pressure": np.linspace(1, 10, 8)}
    run = pipeline.submit(inputs, args.run_folder, scheduler=args.scheduler, overwrite=True)
    assert isinstance(run, hpcflow.Run)
    print(f"submitted run {run.run_id}: {len(run.job_ids())} job arrays in {run.path}")
    if args.no_wait:
        print(f"follow it with: hpcflow status {args.run_folder}")
        return
    print("waiting for it (Ctrl-C stops waiting, not the run):", flush=True)
    status = run.wait(progress=True)
    print(status)
    print(f"results: {run.path} (load them with hpcflow.Run.open(...).load_outputs)")
    print(f"logs:    {status.logs}")
    if not status.complete:
        raise SystemExit(1)
    best = np.asarray(run.load_outputs("best"), dtype=float)
    print("lowest energy per temperature:", np.round(best, 3).tolist())
    print("summary:", run.load_outputs("summary"))


if __name__ == "__main__":
    main()
