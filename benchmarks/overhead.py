"""Per-element overhead of the local engine, side by side with pipefunc in one process.

Pipeline: ``a[k], b[k] -> c[k]``; ``c[k], x[i], y[j] -> d[i, j, k]``;
``d[i, j, :] -> e[i, j]``, with N values on each axis (N**3 innermost elements), dict
storage, run sequentially. The functions are trivial, so the time is the engine's.

Run (pipefunc only in the benchmark environment, never a dependency of hpcflow)::

    python -m venv .bench-venv && .bench-venv/bin/pip install -e . "pipefunc==0.93.*"
    .bench-venv/bin/python benchmarks/overhead.py --n 50 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np


def add(a: int, b: int) -> int:
    return a + b


def combine(c: int, x: int, y: int) -> int:
    return c * x + y


def total(d: Any) -> int:
    return int(sum(d))


def hpcflow_run(n: int) -> np.ndarray:
    import hpcflow

    pipeline = hpcflow.Pipeline(
        [
            hpcflow.func("c", mapspec="a[k], b[k] -> c[k]")(add),
            hpcflow.func("d", mapspec="c[k], x[i], y[j] -> d[i, j, k]")(combine),
            hpcflow.func("e", mapspec="d[i, j, :] -> e[i, j]")(total),
        ]
    )
    r = pipeline.map(_inputs(n), parallel=False, storage="dict")
    return np.asarray(r["e"].output, dtype=np.int64)


def pipefunc_run(n: int) -> np.ndarray:
    import pipefunc

    pipeline = pipefunc.Pipeline(
        [
            pipefunc.PipeFunc(add, "c", mapspec="a[k], b[k] -> c[k]"),
            pipefunc.PipeFunc(combine, "d", mapspec="c[k], x[i], y[j] -> d[i, j, k]"),
            pipefunc.PipeFunc(total, "e", mapspec="d[i, j, :] -> e[i, j]"),
        ]
    )
    r = pipeline.map(_inputs(n), parallel=False, storage="dict")
    return np.asarray(r["e"].output, dtype=np.int64)


def _inputs(n: int) -> dict[str, list[int]]:
    return {"a": list(range(n)), "b": list(range(n)), "x": list(range(n)), "y": list(range(n))}


def best_of(fn: Callable[[int], np.ndarray], n: int, repeat: int) -> tuple[float, np.ndarray]:
    times = []
    result = np.empty(0)
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn(n)
        times.append(time.perf_counter() - t0)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import pipefunc

    import hpcflow

    t_h, r_h = best_of(hpcflow_run, args.n, args.repeat)
    t_p, r_p = best_of(pipefunc_run, args.n, args.repeat)
    if not np.array_equal(r_h, r_p):
        raise SystemExit("results differ between hpcflow and pipefunc")
    elements = args.n + args.n**3 + args.n**2
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}"
    )
    print(f"N={args.n}: {elements} elements, best of {args.repeat}, results equal")
    print(f"hpcflow {hpcflow.__version__}: {t_h:.3f} s ({t_h / elements * 1e6:.1f} us/element)")
    print(f"pipefunc {pipefunc.__version__}: {t_p:.3f} s ({t_p / elements * 1e6:.1f} us/element)")
    print(f"ratio hpcflow/pipefunc: {t_h / t_p:.3f}")


if __name__ == "__main__":
    main()
