"""Quickstart: a 2-D parameter sweep with a reduction, run locally.

    python examples/quickstart.py [RUN_FOLDER]

Sweeps a toy "simulation" over 6 temperatures x 4 pressures (24 elements) on a process
pool, reduces each temperature's row, writes everything to RUN_FOLDER (default:
./runs/quickstart) and prints the results. Run it twice with ``--resume`` to see that
nothing done is recomputed.
"""

from __future__ import annotations

import argparse
import math

import numpy as np

import hpcflow


@hpcflow.func("energy", mapspec="temperature[i], pressure[j] -> energy[i, j]")
def simulate(temperature: float, pressure: float) -> float:
    """A stand-in for an expensive simulation."""
    return pressure * math.exp(-1.0 / temperature)


@hpcflow.func("best", mapspec="energy[i, :] -> best[i]")
def lowest(energy: np.ndarray) -> float:
    """Reduce over pressures: the lowest energy at each temperature."""
    return float(np.min(energy))


@hpcflow.func("summary")
def summarize(best: np.ndarray, temperature: list[float]) -> dict[float, float]:
    """One value from the whole sweep."""
    return {t: round(float(b), 4) for t, b in zip(temperature, best, strict=True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_folder", nargs="?", default="runs/quickstart")
    parser.add_argument("--resume", action="store_true", help="reuse finished elements")
    args = parser.parse_args()

    pipeline = hpcflow.Pipeline([simulate, lowest, summarize])
    inputs = {"temperature": [0.5, 1.0, 2.0, 4.0, 8.0, 16.0], "pressure": [1.0, 2.0, 5.0, 10.0]}
    results = pipeline.map(inputs, args.run_folder, resume=args.resume, show_progress=True)

    energy = results["energy"].output
    print(f"energy: shape {energy.shape} (temperature x pressure)")
    print(np.array2string(np.asarray(energy, dtype=float), precision=3))
    print("lowest energy per temperature:", results["summary"].output)
    print(f"outputs are in {args.run_folder}; load them again with")
    print(f"  hpcflow.map.load_outputs('energy', run_folder={args.run_folder!r})")


if __name__ == "__main__":
    main()
