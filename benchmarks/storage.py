"""Storage on a filesystem, side by side with pipefunc's ``file_array`` in one process.

Three measurements:

1. The overhead pipeline (``a[k], b[k] -> c[k]``; ``c[k], x[i], y[j] -> d[i, j, k]``;
   ``d[i, j, :] -> e[i, j]``) at N=20 (8,420 elements) with a run folder on local disk,
   run sequentially: time and number of files written, per backend.
2. Loading a finished 100,000-element output.
3. Finding the missing elements of a 1,000,000-element ``chunked_file_array`` output.
4. ``map(resume=True)`` of a finished 100,000-element ``file_array`` run: with the damage
   check (the default) and without it (``resume_validation="skip"``), best of 3.

Run (pipefunc only in the benchmark environment)::

    .bench-venv/bin/python benchmarks/storage.py --folder /tmp/hpcflow-bench

``--only resume`` runs measurement 4 alone (it needs no pipefunc).
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.overhead import add, combine, total


def count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def inputs(n: int) -> dict[str, list[int]]:
    return {k: list(range(n)) for k in "abxy"}


def hpcflow_pipeline() -> Any:
    import hpcflow

    return hpcflow.Pipeline(
        [
            hpcflow.func("c", mapspec="a[k], b[k] -> c[k]")(add),
            hpcflow.func("d", mapspec="c[k], x[i], y[j] -> d[i, j, k]")(combine),
            hpcflow.func("e", mapspec="d[i, j, :] -> e[i, j]")(total),
        ]
    )


def pipefunc_pipeline() -> Any:
    import pipefunc

    return pipefunc.Pipeline(
        [
            pipefunc.PipeFunc(add, "c", mapspec="a[k], b[k] -> c[k]"),
            pipefunc.PipeFunc(combine, "d", mapspec="c[k], x[i], y[j] -> d[i, j, k]"),
            pipefunc.PipeFunc(total, "e", mapspec="d[i, j, :] -> e[i, j]"),
        ]
    )


def bench_pipeline(root: Path, n: int) -> None:
    print(
        f"\n1. overhead pipeline, N={n} ({n + n**3 + n**2} elements), sequential, run folder on {root}"
    )
    rows = []
    folder = root / "pipefunc-file_array"
    t, r = timed(
        lambda: pipefunc_pipeline().map(inputs(n), folder, parallel=False, storage="file_array")
    )
    reference = np.asarray(r["e"].output, dtype=np.int64)
    rows.append(("pipefunc 0.93 file_array", t, count_files(folder)))
    for storage in ("file_array", "chunked_file_array", "zarr_file_array", "zarr_memory"):
        folder = root / f"hpcflow-{storage}"
        # in-memory backends save nothing to a run folder, so they run without one
        where = None if storage == "zarr_memory" else folder
        t, r = timed(
            lambda s=storage, f=where: hpcflow_pipeline().map(
                inputs(n), f, parallel=False, storage=s
            )
        )
        assert np.array_equal(np.asarray(r["e"].output, dtype=np.int64), reference)
        rows.append((f"hpcflow {storage}", t, count_files(folder)))
    base_t, base_files = rows[0][1], rows[0][2]
    print(f"   {'backend':32} {'time':>9} {'speed-up':>9} {'files':>7} {'files vs pipefunc':>18}")
    for name, t, files in rows:
        print(f"   {name:32} {t:8.3f}s {base_t / t:8.1f}x {files:7d} {files / base_files:17.4f}")


def bench_load(root: Path, size: int) -> None:
    print(f"\n2. loading a finished {size}-element output")
    import pipefunc

    values = list(range(size))
    f_pf = root / "load-pipefunc"
    p = pipefunc.Pipeline([pipefunc.PipeFunc(lambda x: x, "y", mapspec="x[i] -> y[i]")])
    p.map({"x": values}, f_pf, parallel=False, storage="file_array")
    t_pf, out_pf = timed(lambda: pipefunc.map.load_outputs("y", run_folder=f_pf))
    import hpcflow

    rows = [("pipefunc 0.93 file_array", t_pf)]
    for storage in ("file_array", "chunked_file_array", "zarr_file_array"):
        folder = root / f"load-{storage}"
        hp = hpcflow.Pipeline([hpcflow.Func(lambda x: x, "y", mapspec="x[i] -> y[i]")])
        hp.map(
            {"x": values},
            folder,
            parallel=False,
            storage=storage,
            chunksizes=1000,
            return_results=False,
        )
        t, out = timed(lambda f=folder: hpcflow.map.load_outputs("y", run_folder=f))
        assert (
            np.asarray(out, dtype=np.int64).tolist() == np.asarray(out_pf, dtype=np.int64).tolist()
        )
        rows.append((f"hpcflow {storage}", t))
    for name, t in rows:
        print(f"   {name:32} {t:8.3f}s {t_pf / t:8.1f}x")


def bench_missing(root: Path, size: int, chunk: int) -> None:
    print(
        f"\n3. missing elements of a {size}-element chunked_file_array output ({chunk} per chunk)"
    )
    from hpcflow.storage import ChunkedFileArray

    folder = root / "missing"
    arr = ChunkedFileArray(folder, (size,))
    rng = np.random.default_rng(0)
    lost = set(rng.choice(size // chunk, size=size // chunk // 20, replace=False).tolist())
    values = [0] * chunk
    for c in range(size // chunk):
        if c not in lost:
            arr.dump_chunk(range(c * chunk, (c + 1) * chunk), values)
    fresh = ChunkedFileArray(folder, (size,))
    t, mask = timed(fresh.done_mask)
    missing = np.flatnonzero(~mask)
    assert len(missing) == len(lost) * chunk
    print(f"   {len(missing)} missing of {size} found in {t:.3f}s from {count_files(folder)} files")


def _ident(x: int) -> int:
    return x


def bench_resume(root: Path, size: int) -> None:
    print(f"\n4. resume of a finished {size}-element file_array run (nothing to compute)")
    import hpcflow

    folder = root / "resume-file_array"
    p = hpcflow.Pipeline([hpcflow.Func(_ident, "y", mapspec="x[i] -> y[i]")])
    x = list(range(size))
    p.map({"x": x}, folder, parallel=False, storage="file_array", return_results=False)
    for mode in ("auto", "skip"):
        best = min(
            timed(
                lambda m=mode: p.map(
                    {"x": x}, folder, parallel=False, storage="file_array", resume=True,
                    resume_validation=m, return_results=False,
                )
            )[0]
            for _ in range(3)
        )  # fmt: skip
        what = "damage check (default)" if mode == "auto" else 'resume_validation="skip"'
        print(f"   {what:32} {best:8.3f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default="/tmp/hpcflow-bench-storage")
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--load-size", type=int, default=100_000)
    parser.add_argument("--missing-size", type=int, default=1_000_000)
    parser.add_argument("--resume-size", type=int, default=100_000)
    parser.add_argument("--only", choices=["resume"], help="run one measurement alone")
    args = parser.parse_args()
    root = Path(args.folder)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    if args.only == "resume":
        bench_resume(root, args.resume_size)
        shutil.rmtree(root, ignore_errors=True)
        return
    bench_pipeline(root, args.n)
    bench_load(root, args.load_size)
    bench_missing(root, args.missing_size, 1000)
    bench_resume(root, args.resume_size)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
