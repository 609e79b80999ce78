"""A sweep on a real SLURM cluster: hpcflow's ``submit`` side by side with pipefunc's
``map_async`` on adaptive-scheduler's ``SlurmExecutor``, in one run.

Pipeline: ``x[i] -> y[i]`` (``2 * x``), ``y[i] -> z[i]`` (``y + 1``), each element
sleeping ``--sleep`` seconds (20 ms), then a reduce ``z[:] -> total``. hpcflow runs with
default settings (no ``chunksizes``) unless a configuration says otherwise. Measured:

1. wall time from just before submitting to every output done, results checked equal
   to a local reference: (a) the sweep; (b) the same sweep with log-normal element
   times (sigma 1, the same mean, so the same total per stage); (c) ``--long-n`` (48)
   elements of ``--long-sleep`` (2.5 s) through the two stages;
2. scheduler commands (sbatch, squeue, sacct, scontrol, scancel, sinfo), counted twice:
   by hpcflow's own ``run.scheduler.calls`` and by a PATH shim that logs every call of
   those commands made by any process of a measurement (with the job id when made from
   inside a job), so the two tools are counted the same way;
3. ``submit`` of a ``--scale-n`` (1,000,000) element sweep: time, files in the run
   folder when it returns, scheduler calls (submitted held, then cancelled);
4. (d) the import and start-up of the job side (``python -m hpcflow.worker --help``)
   against ``import numpy, cloudpickle``, median of 9 fresh interpreters each.

Every measurement runs in a subprocess of this script (the submitting process), with
the shim first on its PATH. Before each, the script waits until the shared cluster's
queue is empty (``--idle-timeout``) and says whether it was.

Run (peers only in the benchmark environment, never dependencies of hpcflow)::

    python -m venv .bench-venv
    .bench-venv/bin/pip install -e . "pipefunc==0.93.*" adaptive-scheduler
    export SLURM_CONF=...   # a cluster whose nodes share this filesystem
    .bench-venv/bin/python -m benchmarks.cluster_sweep --folder /tmp/hpcflow-cluster-bench
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SLURM_COMMANDS = ("sbatch", "squeue", "sacct", "scontrol", "scancel", "sinfo")
_SHIM_ENV = "HPCFLOW_BENCH_SHIM_LOG"
_MARKER = ".cluster_sweep"  # only a folder holding it is emptied by a new run


# ---------------------------------------------------------------------------------------
# The pipeline's functions (the same code for both tools)


def _pause(key: int) -> float:
    """``_SLEEP``, or with ``_SIGMA`` a log-normal time of the same mean, fixed per key."""
    if not _SIGMA:
        return _SLEEP
    import numpy as np

    z = np.random.default_rng(key).standard_normal()
    return float(_SLEEP * np.exp(_SIGMA * z - _SIGMA**2 / 2))


def double(x: int) -> int:
    time.sleep(_pause(2 * x))
    return 2 * x


def add_one(y: int) -> int:
    time.sleep(_pause(y + 1))
    return y + 1


def total(z: Any) -> int:
    return int(sum(int(v) for v in z))


_SLEEP = 0.02  # set from --sleep; pickled by value with the functions
_SIGMA = 0.0  # log-normal spread of element times (0: all equal)


def reference(n: int) -> tuple[list[int], int]:
    z = [2 * x + 1 for x in range(n)]
    return z, sum(z)


def _by_value() -> None:
    # Ship the functions by value: the compute nodes need not import this module.
    import cloudpickle

    module = sys.modules[__name__]
    if module.__name__ != "__main__":
        cloudpickle.register_pickle_by_value(module)


# ---------------------------------------------------------------------------------------
# The shim: every SLURM command of a measurement is logged, then run


def make_shim(folder: Path) -> Path:
    """Wrapper scripts named like the SLURM commands that log each call, then exec it."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in SLURM_COMMANDS:
        real = shutil.which(name)
        if real is None:
            continue
        script = folder / name
        script.write_text(
            "#!/bin/sh\n"
            f'printf "%s {name} %s %s\\n" "$(date +%s.%N)" "${{SLURM_JOB_ID:-login}}" "$$" '
            f'>> "${_SHIM_ENV}"\n'
            f'exec {real} "$@"\n'
        )
        script.chmod(0o755)
    return folder


def read_shim(log: Path) -> list[tuple[float, str, str]]:
    """(time, command, job id or 'login') of every logged call."""
    if not log.exists():
        return []
    out = []
    for line in log.read_text().splitlines():
        t, name, where, _pid = line.split()
        out.append((float(t), name, where))
    return out


def count_calls(
    calls: list[tuple[float, str, str]], *, after: float | None = None, login_only: bool = True
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t, name, where in calls:
        if login_only and where != "login":
            continue
        if after is not None and t < after:
            continue
        counts[name] = counts.get(name, 0) + 1
    return counts


def fmt_calls(counts: dict[str, int]) -> str:
    if not counts:
        return "none"
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))


# ---------------------------------------------------------------------------------------
# Children: each measurement runs in its own process


def _count_files(folder: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(folder))


def _hpcflow_pipeline() -> Any:
    import hpcflow

    return hpcflow.Pipeline(
        [
            hpcflow.func("y", mapspec="x[i] -> y[i]")(double),
            hpcflow.func("z", mapspec="y[i] -> z[i]")(add_one),
            hpcflow.func("total")(total),  # no mapspec: one task, after all of z,
        ]
    )


def _chunksizes(spec: str) -> int | None:
    return None if spec == "default" else int(spec)


def child_hpcflow(spec: dict[str, Any]) -> dict[str, Any]:
    """Submit; then either wait (``run.wait()``) or exit at once (``detach``)."""
    _by_value()
    n = spec["n"]
    folder = Path(spec["folder"])
    pipeline = _hpcflow_pipeline()
    inputs = {"x": list(range(n))}
    options: dict[str, Any] = {}
    if spec.get("hold"):
        options["extra_sbatch"] = {"hold": True}
    global _SLEEP, _SIGMA
    _SLEEP, _SIGMA = float(spec.get("sleep", _SLEEP)), float(spec.get("sigma", _SIGMA))
    t0 = time.time()
    run = pipeline.submit(
        inputs, folder, scheduler="slurm", chunksizes=_chunksizes(spec["chunksizes"]), **options
    )
    t_submit = time.time() - t0
    n_files = _count_files(folder)
    submit_calls = dict(run.scheduler.calls)
    stages = [
        {"stage": s.name, "tasks": s.n_tasks, "arrays": len(s.arrays), "chunksize": s.chunksize}
        for sub in _submissions(run)
        for s in sub.stages
    ]
    out: dict[str, Any] = {
        "t_start": t0,
        "t_submit": t_submit,
        "files_at_submit": n_files,
        "submit_calls": submit_calls,
        "stages": stages,
        "folder": str(folder),
    }
    if spec.get("cancel"):
        run.cancel()
        out["cancel_calls"] = _diff(run.scheduler.calls, submit_calls)
        return out
    if spec.get("detach"):
        return out  # the submitting process exits now
    status = run.wait(timeout=spec["timeout"])
    out["t_done"] = time.time() - t0
    out["complete"] = status.complete
    out["wait_calls"] = _diff(run.scheduler.calls, submit_calls)
    out["check"] = _check_hpcflow(folder, n)
    return out


def _diff(now: Any, before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in now.items() if v - before.get(k, 0)}


def _submissions(run: Any) -> Any:
    from hpcflow.runfolder.records import read_submissions

    return read_submissions(run.folder)


def _check_hpcflow(folder: Path, n: int) -> str:
    import numpy as np

    import hpcflow

    run = hpcflow.Run.open(folder)
    z = np.asarray(run.load_outputs("z"))
    t = run.load_outputs("total")
    ref_z, ref_t = reference(n)
    ok = z.tolist() == ref_z and int(t) == ref_t
    return "equal" if ok else f"DIFFERENT (total {t} != {ref_t})"


def child_pipefunc(spec: dict[str, Any]) -> dict[str, Any]:
    """``pipeline.map_async`` with a ``SlurmExecutor``; this process must stay alive."""
    _by_value()
    import numpy as np
    import pipefunc
    from adaptive_scheduler import SlurmExecutor

    n = spec["n"]
    cfg = spec["config"]
    folder = Path(spec["folder"])
    chunk = int(cfg.get("chunk", 1))
    items = math.ceil(n / chunk)  # pipefunc submits one sequence item per chunk
    jobs = cfg.get("jobs")
    size_per_learner = None if jobs is None else math.ceil(items / int(jobs))
    kwargs: dict[str, Any] = {
        "folder": folder / "adaptive_scheduler",
        "cores_per_node": int(cfg.get("cores", 1)),
        "size_per_learner": size_per_learner,
    }
    for key in ("job_manager_interval", "save_interval", "log_interval"):
        if key in cfg:
            kwargs[key] = float(cfg[key])
    funcs = [
        pipefunc.PipeFunc(double, "y", mapspec="x[i] -> y[i]"),
        pipefunc.PipeFunc(add_one, "z", mapspec="y[i] -> z[i]"),
        pipefunc.PipeFunc(total, "total"),
    ]
    pipeline = pipefunc.Pipeline(funcs)
    executor: Any = SlurmExecutor(**kwargs)
    if cfg.get("reduce") == "local":
        from concurrent.futures import ThreadPoolExecutor

        executor = {"": executor, "total": ThreadPoolExecutor(1)}
    storage = cfg.get("storage", "file_array")

    async def go() -> tuple[float, Any]:
        t0 = time.time()
        runner = pipeline.map_async(
            {"x": list(range(n))},
            run_folder=folder / "run",
            executor=executor,
            chunksizes=chunk,
            storage=storage,
            show_progress=False,
        )
        result = await runner.task
        return t0, result

    t0, result = asyncio.run(go())
    t_done = time.time() - t0
    ref_z, ref_t = reference(n)
    z = np.asarray(result["z"].output).tolist()
    ok = z == ref_z and int(result["total"].output) == ref_t
    return {
        "t_start": t0,
        "t_done": t_done,
        "check": "equal" if ok else "DIFFERENT",
        "size_per_learner": size_per_learner,
        "jobs_per_stage": 1 if size_per_learner is None else math.ceil(items / size_per_learner),
        "files": _count_files(folder),
    }


# ---------------------------------------------------------------------------------------
# The parent


def _squeue_count() -> int:
    proc = subprocess.run(
        ["squeue", "--noheader", "--array", "--format=%i"],
        capture_output=True,
        text=True,
        check=False,
    )
    return len([line for line in proc.stdout.splitlines() if line.strip()])


def wait_idle(timeout: float) -> str:
    """Wait until no job is queued or running on the (shared) cluster."""
    deadline = time.monotonic() + timeout
    while True:
        n = _squeue_count()
        if n == 0:
            return "idle"
        if time.monotonic() >= deadline:
            return f"busy ({n} tasks of others queued or running)"
        time.sleep(2)


def run_child(
    kind: str, spec: dict[str, Any], shim: Path, log: Path, timeout: float
) -> tuple[dict[str, Any], float]:
    env = dict(os.environ)
    env["PATH"] = f"{shim}{os.pathsep}{env.get('PATH', '')}"
    env[_SHIM_ENV] = str(log)
    spec = {"sleep": _SLEEP, **spec}  # a measurement may set its own element time
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.cluster_sweep", "--child", kind, json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=Path(__file__).resolve().parent.parent,
    )
    exited = time.time()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout)[-3000:]
        raise RuntimeError(f"{kind} child failed (exit {proc.returncode}):\n{tail}")
    return json.loads(lines[-1][len("RESULT ") :]), exited


def parse_pipefunc_config(text: str) -> dict[str, Any]:
    """``"cores=2,jobs=3,chunk=1"`` -> dict; ``"default"`` -> the executor's defaults."""
    if text == "default":
        return {}
    cfg: dict[str, Any] = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        cfg[key.strip()] = value.strip()
    return cfg


def main() -> None:
    global _SLEEP, _SIGMA  # noqa: PLW0603
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000, help="elements of the sweep")
    parser.add_argument("--sleep", type=float, default=0.02, help="seconds per element")
    parser.add_argument("--slots", type=int, default=6, help="CPU slots of the cluster")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each timed configuration")
    parser.add_argument(
        "--hpcflow-chunksizes",
        default="default,500",
        help="comma-separated: 'default' or elements per array task ('' to skip)",
    )
    parser.add_argument(
        "--pipefunc",
        action="append",
        default=None,
        help="a SlurmExecutor configuration (repeatable), e.g. 'cores=2,jobs=3,chunk=100'; "
        "keys: cores (cores_per_node), jobs (jobs per stage, via size_per_learner), chunk "
        "(pipefunc chunksizes), reduce=local (the reduce on a thread of the submitting "
        "process), storage (pipefunc storage), job_manager_interval; 'default' for "
        "SlurmExecutor() as it comes",
    )
    parser.add_argument("--skip-pipefunc", action="store_true")
    parser.add_argument("--sigma", type=float, default=1.0, help="(b) log-normal sigma (0: skip)")
    parser.add_argument("--long-n", type=int, default=48, help="(c) elements (0: skip)")
    parser.add_argument("--long-sleep", type=float, default=2.5, help="(c) seconds per element")
    parser.add_argument(
        "--detached-chunksize", default="500", help="hpcflow run whose submitter exits ('' to skip)"
    )
    parser.add_argument("--scale-n", type=int, default=1_000_000, help="submit-only size (0: skip)")
    parser.add_argument(
        "--folder", type=Path, default=Path(tempfile.gettempdir()) / "hpcflow-cluster-bench"
    )
    parser.add_argument("--idle-timeout", type=float, default=600.0)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per measurement")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _SLEEP = args.sleep

    if args.child:
        kind, spec = args.child[0], json.loads(args.child[1])
        _SLEEP = float(spec.get("sleep", 0.02))
        _SIGMA = float(spec.get("sigma", 0.0))
        out = child_hpcflow(spec) if kind == "hpcflow" else child_pipefunc(spec)
        print("RESULT " + json.dumps(out), flush=True)
        return

    if shutil.which("sbatch") is None:
        raise SystemExit("no SLURM here: sbatch is not on PATH")
    import hpcflow

    root = args.folder.absolute()
    if root.exists() and any(root.iterdir()):
        if not (root / _MARKER).exists():
            raise SystemExit(f"--folder {root} is not empty and not from a run of this script")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / _MARKER).write_text("benchmarks.cluster_sweep\n")
    shim = make_shim(root / "shim")
    n = args.n
    ideal = 2 * n * args.sleep / args.slots
    rows: list[dict[str, Any]] = []
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, python {platform.python_version()}"
    )
    print(f"hpcflow {hpcflow.__version__} (commit {_git_head()})", end="")
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Both SLURM and PBS are detected"
            import adaptive_scheduler
        import pipefunc

        print(
            f", pipefunc {pipefunc.__version__}, adaptive-scheduler {adaptive_scheduler.__version__}"
        )
    except ImportError:
        print(", pipefunc/adaptive-scheduler not installed")
        args.skip_pipefunc = True
    print(
        f"{_slurm_version()}; {n} elements x 2 stages x {args.sleep * 1000:g} ms, then a reduce; "
        f"ideal on {args.slots} slots: {ideal:.1f} s\n",
        flush=True,
    )

    def measure(label: str, kind: str, spec: dict[str, Any]) -> dict[str, Any] | None:
        idle = wait_idle(args.idle_timeout)
        log = root / f"shim-{len(rows)}.log"
        print(f"-- {label} (cluster {idle}) ...", flush=True)
        t_before = time.time()
        try:
            result, exited = run_child(kind, spec, shim, log, args.timeout)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print(f"   FAILED: {e}", flush=True)
            rows.append(
                {
                    "label": label,
                    "kind": kind,
                    "idle": idle,
                    "error": str(e).strip().splitlines()[-1],
                }
            )
            return None
        result.update(
            label=label,
            kind=kind,
            idle=idle,
            exited=exited,
            log=str(log),
            process_s=exited - t_before,
        )
        rows.append(result)
        return result

    def shim_counts(r: dict[str, Any]) -> None:
        calls = read_shim(Path(r["log"]))
        r["shim_login"] = count_calls(calls)
        r["shim_in_jobs"] = count_calls([c for c in calls if c[2] != "login"], login_only=False)
        r["shim_after_exit"] = count_calls(calls, after=r["exited"])

    reps = range(1, args.repeat + 1)
    # 1. hpcflow: submit + run.wait() in one process
    for cs in [c.strip() for c in args.hpcflow_chunksizes.split(",") if c.strip()]:
        for k in reps if cs != "default" else [1]:
            name = f"hpcflow-{cs}-{k}"
            r = measure(
                f"hpcflow, chunksizes={cs}, run.wait()"
                + (f" #{k}" if args.repeat > 1 and cs != "default" else ""),
                "hpcflow",
                {"n": n, "folder": str(root / name), "chunksizes": cs, "timeout": args.timeout},
            )
            if r:
                shim_counts(r)
                print(
                    f"   {r['t_done']:.1f} s, complete={r['complete']}, results {r['check']}; "
                    f"submit {r['t_submit']:.2f} s: {fmt_calls(r['submit_calls'])}; "
                    f"run.wait(): {fmt_calls(r['wait_calls'])}",
                    flush=True,
                )

    # (b) and (c): hpcflow with default settings on uneven and on long elements
    extra_sweeps = []
    if args.sigma:
        extra_sweeps.append(("b", n, args.sleep, args.sigma))
    if args.long_n:
        extra_sweeps.append(("c", args.long_n, args.long_sleep, 0.0))
    for tag, n_x, sleep, sigma in extra_sweeps:
        what = f"log-normal sigma {sigma:g}" if sigma else f"{n_x} x {sleep:g} s"
        r = measure(
            f"({tag}) hpcflow, default settings, {what}, run.wait()",
            "hpcflow",
            {"n": n_x, "folder": str(root / f"hpcflow-{tag}"), "chunksizes": "default",
             "timeout": args.timeout, "sleep": sleep, "sigma": sigma},
        )  # fmt: skip
        if r:
            shim_counts(r)
            r["ideal"] = 2 * n_x * sleep / args.slots
            print(
                f"   {r['t_done']:.1f} s = {r['t_done'] / r['ideal']:.2f}x its ideal "
                f"{r['ideal']:.1f} s, complete={r['complete']}, results {r['check']}; "
                f"submit: {fmt_calls(r['submit_calls'])}",
                flush=True,
            )

    # 2. hpcflow: the submitting process exits; completion seen in the run folder only
    if args.detached_chunksize:
        cs = args.detached_chunksize
        folder = root / f"hpcflow-detached-{cs}"
        r = measure(
            f"hpcflow, chunksizes={cs}, submitting process exits",
            "hpcflow",
            {
                "n": n,
                "folder": str(folder),
                "chunksizes": cs,
                "detach": True,
                "timeout": args.timeout,
            },
        )
        if r:
            done_file = _reduce_output(folder)
            deadline = time.monotonic() + args.timeout
            while not done_file.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            r["t_done"] = time.time() - r["t_start"]
            watched = hpcflow.Run.open(folder)
            status = watched.status()  # every element is done: no scheduler call needed
            r["complete"] = status.complete
            r["status_calls"] = dict(watched.scheduler.calls)
            r["check"] = _check_hpcflow(folder, n)
            time.sleep(2)  # any straggling call reaches the log
            shim_counts(r)
            print(
                f"   {r['t_done']:.1f} s (folder polled every 0.2 s), complete={r['complete']}, "
                f"results {r['check']}; submit {r['t_submit']:.2f} s: "
                f"{fmt_calls(r['submit_calls'])}; submitting process exited after "
                f"{r['process_s']:.1f} s; login-side calls after that: "
                f"{fmt_calls(r['shim_after_exit'])}; from inside jobs: "
                f"{fmt_calls(r['shim_in_jobs'])}; Run.open().status() at the end: "
                f"{fmt_calls(r['status_calls'])}",
                flush=True,
            )

    # 3. pipefunc + SlurmExecutor: the submitting process stays alive until the end
    if not args.skip_pipefunc:
        configs = args.pipefunc or [
            "cores=2,jobs=3,chunk=100,reduce=local,storage=dict",
            "cores=2,jobs=3,chunk=100",
            "default",
        ]
        for i, text in enumerate(configs):
            cfg = parse_pipefunc_config(text)
            for k in reps if text != "default" else [1]:
                label = f"pipefunc SlurmExecutor {text}" + (
                    f" #{k}" if args.repeat > 1 and text != "default" else ""
                )
                r = measure(
                    label,
                    "pipefunc",
                    {"n": n, "folder": str(root / f"pipefunc-{i}-{k}"), "config": cfg},
                )
                if r:
                    shim_counts(r)
                    print(
                        f"   {r['t_done']:.1f} s, results {r['check']}; login-side calls: "
                        f"{fmt_calls(r['shim_login'])}; jobs per stage: "
                        f"{r['jobs_per_stage']}",
                        flush=True,
                    )

    # 4. submit of a large sweep: held, counted, cancelled
    if args.scale_n:
        folder = root / f"hpcflow-scale-{args.scale_n}"
        r = measure(
            f"hpcflow submit of {args.scale_n:,} elements (held, then cancelled)",
            "hpcflow",
            {
                "n": args.scale_n,
                "folder": str(folder),
                "chunksizes": "default",
                "hold": True,
                "cancel": True,
                "timeout": args.timeout,
            },
        )
        if r:
            shim_counts(r)
            print(
                f"   submit {r['t_submit']:.2f} s, {r['files_at_submit']} files at submit, "
                f"calls: {fmt_calls(r['submit_calls'])}; arrays: "
                + ", ".join(
                    f"{s['stage']}: {s['tasks']} tasks of {s['chunksize']} in {s['arrays']} arrays"
                    for s in r["stages"]
                ),
                flush=True,
            )

    # (d) the job side's import and start-up
    imports = import_times()
    print(
        f"\n(d) start-up, median of 9: python -m hpcflow.worker --help {imports['worker']:.3f} s, "
        f"python -c 'import numpy, cloudpickle' {imports['numpy+cloudpickle']:.3f} s: "
        f"{imports['worker'] / imports['numpy+cloudpickle']:.2f}x (target <= 1.5x)"
    )
    rows.append({"label": "(d) import", "kind": "import", **imports})

    _table(rows, ideal)
    (root / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    print(f"\nraw results: {root / 'results.json'}")


def import_times(repeat: int = 9, stat: str = "median") -> dict[str, float]:
    """Wall time of a fresh interpreter: the worker's ``--help`` and numpy+cloudpickle.

    The two are timed in turn, ``repeat`` times each, so a busy host slows both alike;
    ``stat`` is ``"median"`` or ``"min"`` (the best run, least disturbed by other load).
    """
    import statistics

    argvs = {
        "worker": [sys.executable, "-m", "hpcflow.worker", "--help"],
        "numpy+cloudpickle": [sys.executable, "-c", "import numpy, cloudpickle"],
    }
    times: dict[str, list[float]] = {k: [] for k in argvs}
    for _ in range(repeat):
        for key, argv in argvs.items():
            t0 = time.perf_counter()
            subprocess.run(argv, check=True, capture_output=True)
            times[key].append(time.perf_counter() - t0)
    pick = min if stat == "min" else statistics.median
    return {k: pick(v) for k, v in times.items()}


def _reduce_output(folder: Path) -> Path:
    from hpcflow.runfolder.layout import RunFolder

    return RunFolder(folder).single_output_path("total")


def _table(rows: list[dict[str, Any]], ideal: float) -> None:
    print(
        "\n| run | wall time | / ideal | results | submit returns | files at submit | "
        "calls by submit (run.scheduler.calls) | login-side calls, whole run (PATH shim) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        if r.get("kind") == "import":
            continue
        if "error" in r:
            print(f"| {r['label']} | failed: {r['error']} | | | | | | |")
            continue
        wall = f"{r['t_done']:.1f} s" if "t_done" in r else "-"
        ratio = f"{r['t_done'] / r.get('ideal', ideal):.2f}" if "t_done" in r else "-"
        login = fmt_calls(r["shim_login"])
        if r["kind"] == "hpcflow":
            submit = f"{r['t_submit']:.2f} s"
            files = str(r["files_at_submit"])
            by_submit = fmt_calls(r["submit_calls"])
            if "wait_calls" in r:
                login += " (the rest: run.wait polling)"
            elif "cancel_calls" in r:
                login += " (scancel: run.cancel)"
            else:
                login += f"; after the submitter exited: {fmt_calls(r['shim_after_exit'])}"
        else:
            submit = files = by_submit = "-"
            login += " (submitter alive throughout)"
        print(
            f"| {r['label']} | {wall} | {ratio} | {r.get('check', '-')} | {submit} | {files} | "
            f"{by_submit} | {login} |"
        )
    done = [r for r in rows if "t_done" in r]
    default = next(
        (
            r
            for r in done
            if r["kind"] == "hpcflow" and r["label"].startswith("hpcflow, chunksizes=default")
        ),
        None,
    )
    if default:
        print(
            f"\n(a) hpcflow with default settings: {default['t_done']:.1f} s = "
            f"{default['t_done'] / ideal:.2f}x ideal (target <= 1.25x); submit made "
            f"{sum(default['submit_calls'].values())} scheduler calls (target <= 6)"
        )
    best_h = min(
        (r for r in done if r["kind"] == "hpcflow" and "ideal" not in r),
        key=lambda r: r["t_done"],
        default=None,
    )
    best_p = min(
        (r for r in done if r["kind"] == "pipefunc"), key=lambda r: r["t_done"], default=None
    )
    if best_h:
        print(
            f"\nbest hpcflow: {best_h['label']}: {best_h['t_done']:.1f} s = "
            f"{best_h['t_done'] / ideal:.2f}x ideal (target <= 1.5x)"
        )
    if best_p:
        print(
            f"best pipefunc: {best_p['label']}: {best_p['t_done']:.1f} s = "
            f"{best_p['t_done'] / ideal:.2f}x ideal"
        )
    if best_h and best_p:
        print(
            f"best hpcflow is {best_p['t_done'] / best_h['t_done']:.2f}x faster than best pipefunc"
        )
    if default and best_p:
        print(
            f"hpcflow with default settings is {best_p['t_done'] / default['t_done']:.2f}x "
            "faster than pipefunc + adaptive-scheduler in its best configuration (target >= 2x)"
        )


def _git_head() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent,
    )
    return proc.stdout.strip() or "unknown"


def _slurm_version() -> str:
    proc = subprocess.run(["sbatch", "--version"], capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "slurm ?"


if __name__ == "__main__":
    main()
