"""A 10^7-element, 2-stage sweep on a real SLURM cluster: submit, status, cancel,
resume of the 1% missing, and loading an output (issue 13, "Scale to 10^7").

Pipeline: ``x[i] -> y[i]`` (``2 * x``), ``y[i] -> z[i]`` (``y + 1``), ``x`` a float
array of ``--n`` (10,000,000) elements, default storage (``chunked_file_array``).
Nothing is run to completion (a 6-slot mini cluster cannot): jobs are submitted held
(``extra_sbatch={"hold": True}``) and cancelled. Each step runs in a fresh subprocess,
whose wall time, peak RSS (``wait4``) and result this script prints. The host is
shared, so each timed call is repeated ``--repeat`` (3) times and the best is kept:
status and load in one process, submit on fresh folders, resume on fresh copies of
the 99%-done run.

1. ``submit`` with default settings: time to its return, files in the run folder,
   peak RSS of the submitting process (building the input array included);
2. ``Run.open(folder).status()`` on that run (all pending);
3. ``run.cancel()``, then ``squeue`` asked for the run's job ids: nothing may be left;
4. a second run submitted with ``chunksizes=--chunk`` (10,000: 1,000 tasks) and
   cancelled, then 99% of its chunks written *directly* with the element path's own
   store functions (``StorageBase.dump_chunk`` and ``write_marker`` with a
   ``ChunkReport`` marker, which is what ``store_report`` calls at the end of a
   task), for ``y`` and ``z``; every 100th task is left missing. Then ``status()``
   on it and ``run.resume()``: time to the return of the call, which finds the 1%
   missing and submits them (held, as the run's settings say; then cancelled);
5. ``load_outputs("z")`` of that run, the 10^7 floats with 1% masked, against
   ``np.load`` of the same values as one ``.npy`` file.

Run::

    export SLURM_CONF=...   # a cluster whose nodes share this filesystem
    python -m benchmarks.scale --folder /tmp/hpcflow-scale
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_MARKER = ".scale_bench"  # only a folder holding it is emptied by a new run


def double(x: float) -> float:
    return 2 * x


def add_one(y: float) -> float:
    return y + 1


def _pipeline() -> Any:
    import cloudpickle

    import hpcflow

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers need no benchmarks/
    return hpcflow.Pipeline(
        [
            hpcflow.func("y", mapspec="x[i] -> y[i]")(double),
            hpcflow.func("z", mapspec="y[i] -> z[i]")(add_one),
        ]
    )


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


# ---------------------------------------------------------------------------------------
# Steps, each in its own process


def step_submit(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    x = np.arange(spec["n"], dtype=np.float64)
    pipeline = _pipeline()
    t0 = time.perf_counter()
    run = pipeline.submit(
        {"x": x},
        spec["folder"],
        scheduler="slurm",
        chunksizes=spec.get("chunksizes"),
        extra_sbatch={"hold": True},
    )
    t = time.perf_counter() - t0
    from hpcflow.runfolder.records import read_submissions

    stages = [
        f"{s.name}: {s.n_tasks} tasks of {s.chunksize}"
        for sub in read_submissions(run.folder)
        for s in sub.stages
    ]
    return {
        "seconds": t,
        "files": _count_files(Path(spec["folder"])),
        "calls": dict(run.scheduler.calls),
        "stages": stages,
    }


def step_status(spec: dict[str, Any]) -> dict[str, Any]:
    import hpcflow

    run = hpcflow.Run.open(spec["folder"])
    times = []
    for _ in range(spec.get("repeat", 1)):
        t0 = time.perf_counter()
        status = run.status()
        times.append(time.perf_counter() - t0)
    return {
        "seconds": min(times),
        "all": times,
        "status": str(status),
        "calls": dict(run.scheduler.calls),
    }


def _queued(ids: list[str]) -> list[str]:
    if not ids:
        return []
    out = subprocess.run(
        ["squeue", "-h", "-o", "%i %T", "-j", ",".join(ids)],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line for line in out.stdout.splitlines() if line.strip()]


def step_cancel(spec: dict[str, Any]) -> dict[str, Any]:
    import hpcflow

    run = hpcflow.Run.open(spec["folder"])
    ids = run.job_ids()
    t0 = time.perf_counter()
    run.cancel()
    t = time.perf_counter() - t0
    # scancel is asynchronous: give slurmctld a bounded while to drop them
    deadline = time.monotonic() + 30
    left = _queued(ids)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _queued(ids)
    return {"seconds": t, "job_ids": ids, "queued_after": left}


def step_fill(spec: dict[str, Any]) -> dict[str, Any]:
    """Write 99% of the run's chunks as finished tasks would (every 100th left out)."""
    import numpy as np

    from hpcflow.element.task import ChunkReport
    from hpcflow.runfolder.layout import RunFolder
    from hpcflow.runfolder.markers import write_marker
    from hpcflow.runfolder.records import read_submissions
    from hpcflow.runfolder.results import open_storage

    folder = RunFolder(spec["folder"])
    meta = folder.read_meta()
    sub = read_submissions(folder)[0]
    t0 = time.perf_counter()
    written = missing = 0
    for stage in sub.stages:
        stores = [open_storage(folder, o, meta) for o in stage.outputs]
        marker_dir = folder.marker_folder(tuple(stage.outputs))
        for task in range(stage.n_tasks):
            idx = stage.task_elements(folder, task)
            if task % 100 == 50:
                missing += len(idx)
                continue
            x = idx.astype(np.float64)
            values = {"y": 2 * x, "z": 2 * x + 1}
            for store, name in zip(stores, stage.outputs, strict=True):
                store.dump_chunk(idx, values[name].tolist())
            start, stop = int(idx[0]), int(idx[-1]) + 1
            report = ChunkReport(tuple(stage.outputs), start, stop, n_ok=len(idx), elapsed=1.0)
            write_marker(marker_dir, start, stop, report.marker())
            written += len(idx)
    return {"seconds": time.perf_counter() - t0, "written": written, "missing": missing}


def step_resume(spec: dict[str, Any]) -> dict[str, Any]:
    import hpcflow
    from hpcflow.runfolder.records import read_submissions

    run = hpcflow.Run.open(spec["folder"])
    t0 = time.perf_counter()
    arrays = run.resume()
    t = time.perf_counter() - t0
    subs = read_submissions(run.folder)
    resubmitted = {s.name: int(s.size) for s in subs[-1].stages if not s.is_follow_up}
    return {"seconds": t, "arrays": arrays, "resubmitted": resubmitted}


def step_load(spec: dict[str, Any]) -> dict[str, Any]:
    import numpy as np

    import hpcflow

    run = hpcflow.Run.open(spec["folder"])
    times = []
    for _ in range(spec.get("repeat", 1)):
        z = None  # the previous result is freed first
        t0 = time.perf_counter()
        z = run.load_outputs("z")
        times.append(time.perf_counter() - t0)
    t = min(times)
    data = np.ma.getdata(z)
    mask = np.ma.getmaskarray(z)
    ref = 2 * np.arange(len(data), dtype=np.float64) + 1
    ok = bool(np.array_equal(data[~mask].astype(np.float64), ref[~mask]))
    npy = Path(spec["folder"]).parent / "z-reference.npy"
    np.save(npy, ref)
    t1 = time.perf_counter()
    np.load(npy)
    t_npy = time.perf_counter() - t1
    npy.unlink()
    return {
        "seconds": t,
        "all": times,
        "dtype": str(data.dtype),
        "masked": int(mask.sum()),
        "equal": ok,
        "np_load_seconds": t_npy,
    }


STEPS = {
    "submit": step_submit,
    "status": step_status,
    "cancel": step_cancel,
    "fill": step_fill,
    "resume": step_resume,
    "load": step_load,
}


def run_step(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """Run one step in a fresh interpreter; its result, wall time and peak RSS."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.scale", "--child", name, json.dumps(spec)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise SystemExit(f"step {name} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["wall"] = time.perf_counter() - t0
    result["peak_rss_mb"] = usage.ru_maxrss / 1024  # kB on Linux
    return result


def _fresh(root: Path) -> None:
    if root.exists():
        if not (root / _MARKER).exists():
            raise SystemExit(f"{root} exists and was not made by this script; choose another")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / _MARKER).touch()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="chunk size of the resumed run")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many timings")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        name, spec = args.child
        print(json.dumps(STEPS[name](json.loads(spec)), default=str))
        return
    if args.folder is None:
        parser.error("--folder is required")
    _fresh(args.folder)
    results: dict[str, Any] = {}

    def show(label: str, r: dict[str, Any]) -> None:
        keys = {k: v for k, v in r.items() if k not in ("status",)}
        print(f"{label}: {json.dumps(keys, default=str)}", flush=True)
        if "status" in r:
            print(r["status"], flush=True)
        results[label] = r

    print(f"load average before: {os.getloadavg()}", flush=True)
    r = args.repeat
    for k in range(r):  # submits: fresh folders, each cancelled at once
        a = str(args.folder / f"default-{k}")
        show(f"1 submit (default settings) #{k}", run_step("submit", {"n": args.n, "folder": a}))
        if k == 0:
            show("2 status (all pending)", run_step("status", {"folder": a, "repeat": r}))
        show(f"3 cancel #{k}", run_step("cancel", {"folder": a}))

    b = str(args.folder / "resume")
    spec = {"n": args.n, "folder": b, "chunksizes": args.chunk}
    show(f"4a submit (chunksizes={args.chunk})", run_step("submit", spec))
    show("4b cancel", run_step("cancel", {"folder": b}))
    show("4c fill 99% directly", run_step("fill", {"folder": b}))
    show("4d status (99% done)", run_step("status", {"folder": b, "repeat": r}))
    for k in range(r):  # each resume on its own copy of the 99%-done run
        c = str(args.folder / f"resume-{k}")
        shutil.copytree(b, c, symlinks=True)
        show(f"4e resume #{k}", run_step("resume", {"folder": c}))
        show(f"4f cancel the resubmitted #{k}", run_step("cancel", {"folder": c}))
        shutil.rmtree(c)
    show("5 load_outputs('z')", run_step("load", {"folder": b, "repeat": r}))
    print(f"load average after: {os.getloadavg()}", flush=True)
    (args.folder / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(f"raw results: {args.folder / 'results.json'}")


if __name__ == "__main__":
    main()
