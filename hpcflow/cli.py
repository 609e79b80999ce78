"""``hpcflow``: submit a pipeline and follow it from the shell.

Thin over the library: each command parses its arguments and calls `hpcflow.Run` or
``Pipeline.submit``.

Examples
--------
::

    hpcflow submit sweep.py:pipeline --inputs inputs.json --run-folder runs/a --scheduler local
    hpcflow status runs/a --watch
    hpcflow wait runs/a
    hpcflow cancel runs/a
    hpcflow resume runs/a
    hpcflow rerun runs/a --output y --index 3 [--pdb]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cloudpickle

from hpcflow.errors import HpcflowError, InputError
from hpcflow.runfolder.lock import clear_lock
from hpcflow.spec.pipeline import Pipeline
from hpcflow.submission.handle import Run

__all__ = ["load_inputs", "load_pipeline", "main"]


def load_pipeline(target: str) -> Pipeline:
    """The pipeline named by ``FILE.py:NAME`` or ``module:NAME``.

    ``NAME`` may be a `Pipeline` or a function returning one. Functions of a file
    loaded this way are pickled by value, so compute nodes need not import the file.
    """
    path, sep, name = target.rpartition(":")
    if not sep or not path or not name:
        raise InputError(f"{target!r} must be FILE.py:NAME or module:NAME")
    if path.endswith(".py"):
        file = Path(path)
        if not file.is_file():
            raise InputError(f"pipeline file {file} does not exist")
        mod_name = f"hpcflow_user_{abs(hash(str(file.resolve())))}"
        spec = importlib.util.spec_from_file_location(mod_name, file)
        if spec is None or spec.loader is None:
            raise InputError(f"cannot load {file} as a Python module")
        module = importlib.util.module_from_spec(spec)
        sys.modules[mod_name] = module
        spec.loader.exec_module(module)
        cloudpickle.register_pickle_by_value(module)
    else:
        module = importlib.import_module(path)
    try:
        obj = getattr(module, name)
    except AttributeError:
        raise InputError(f"{path} has no attribute {name!r}") from None
    if not isinstance(obj, Pipeline) and callable(obj):
        obj = obj()
    if not isinstance(obj, Pipeline):
        raise InputError(f"{target} is a {type(obj).__name__}, not a hpcflow.Pipeline")
    return obj


def load_inputs(path: str | Path) -> dict[str, Any]:
    """Inputs from a ``.json``, ``.yaml``/``.yml``, ``.npz`` or ``.pkl``/``.pickle`` file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"inputs file {p} does not exist")
    suffix = p.suffix.lower()
    data: Any
    if suffix == ".json":
        data = json.loads(p.read_text())
    elif suffix in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]
        except ImportError:
            raise InputError(
                f"reading {p} needs PyYAML (pip install pyyaml), or use .json/.npz/.pkl"
            ) from None
        data = yaml.safe_load(p.read_text())
    elif suffix == ".npz":
        import numpy as np

        with np.load(p, allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
    elif suffix in (".pkl", ".pickle"):
        with open(p, "rb") as fh:
            data = pickle.load(fh)
    else:
        raise InputError(f"inputs file {p}: use .json, .yaml, .npz or .pkl, not {suffix!r}")
    if not isinstance(data, dict):
        raise InputError(f"inputs file {p} must hold a mapping of name -> value")
    return data


def _submit(args: argparse.Namespace) -> int:
    pipeline = load_pipeline(args.target)
    inputs = load_inputs(args.inputs)
    options: dict[str, Any] = {}
    for key in ("partition", "account", "qos", "python"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.setup:
        options["setup"] = args.setup
    common: dict[str, Any] = dict(
        scheduler=args.scheduler, chunksizes=args.chunksize, storage=args.storage,
        max_parallel=args.max_parallel, fuse=not args.no_fuse,
        max_task_walltime=args.max_task_walltime, **options,
    )  # fmt: skip
    if args.dry_run:
        print(pipeline.plan(inputs, args.run_folder, **common))
        return 0
    result = pipeline.submit(inputs, args.run_folder, overwrite=args.overwrite, **common)
    ids = result.job_ids()
    print(f"submitted run {result.run_id} to {result.scheduler.name}: {len(ids)} jobs")
    print(f"follow it with: hpcflow status {_quote(result.path)}")
    return 0


def _status(args: argparse.Namespace) -> int:
    run = Run.open(args.run_folder)
    while True:
        status = run.status()
        print(status, flush=True)
        if not args.watch or status.finished:
            return 0
        time.sleep(max(3.0, args.interval))


def _wait(args: argparse.Namespace) -> int:
    status = Run.open(args.run_folder).wait(timeout=args.timeout)
    print(status)
    return 0 if status.complete else 1


def _cancel(args: argparse.Namespace) -> int:
    run = Run.open(args.run_folder)
    run.cancel()
    print(f"cancelled every job of run {run.run_id}")
    return 0


def _resume(args: argparse.Namespace) -> int:
    run = Run.open(args.run_folder)
    pipeline = load_pipeline(args.pipeline) if args.pipeline else None
    n = run.resume(retry_failed=args.retry_failed, pipeline=pipeline)
    if n == 0:
        print(f"run {run.run_id} is complete; nothing to resume")
    else:
        print(f"resumed run {run.run_id}: {n} arrays submitted for the missing elements")
    return 0


def _unlock(args: argparse.Namespace) -> int:
    holder = clear_lock(Path(args.run_folder))
    print(f"removed the lock of {args.run_folder}" + (f" (held by {holder})" if holder else ""))
    return 0


def _rerun(args: argparse.Namespace) -> int:
    import traceback

    from hpcflow.element.rerun import load_failed_element, parse_index

    element = load_failed_element(args.run_folder, args.output, parse_index(args.index))
    print(element.describe(), flush=True)
    try:
        value = element.call(debug=args.pdb)
    except Exception as e:  # the user's function raised: its exception, not hpcflow's
        if not args.pdb:  # with --pdb the traceback came before the debugger session
            traceback.print_exception(e)
        print(f"hpcflow rerun: {element.label} failed again ({type(e).__name__})", file=sys.stderr)
        return 1
    print(element.now_succeeds(value))
    return 0


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hpcflow", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    s = sub.add_parser("submit", help="submit a pipeline as job arrays and return")
    s.add_argument("target", help="FILE.py:NAME or module:NAME of a Pipeline")
    s.add_argument("--inputs", required=True, help="inputs file: .json, .yaml, .npz or .pkl")
    s.add_argument("--run-folder", required=True)
    s.add_argument("--scheduler", default="slurm", help="slurm (default) or local")
    s.add_argument("--chunksize", type=int, default=None, help="elements per array task")
    s.add_argument("--storage", default=None, help="storage backend (chunked_file_array)")
    s.add_argument("--max-parallel", type=int, default=None, help="running tasks per array")
    s.add_argument("--partition")
    s.add_argument("--account")
    s.add_argument("--qos")
    s.add_argument("--python", help="Python executable on the compute nodes")
    s.add_argument("--setup", action="append", help="shell line run before each task")
    s.add_argument(
        "--no-fuse", action="store_true", help="give every function its own arrays (no fusion)"
    )
    s.add_argument("--max-task-walltime", help="longest time limit of one task, e.g. 12:00:00")
    s.add_argument("--dry-run", action="store_true", help="print the arrays; submit nothing")
    s.add_argument("--overwrite", action="store_true", help="replace a run in --run-folder")
    s.set_defaults(handler=_submit)

    st = sub.add_parser("status", help="elements done/failed/running/pending per output")
    st.add_argument("run_folder")
    st.add_argument("--watch", action="store_true", help="repeat until nothing is active")
    st.add_argument("--interval", type=float, default=10.0, help="seconds between updates")
    st.set_defaults(handler=_status)

    w = sub.add_parser("wait", help="block until nothing of the run is queued or running")
    w.add_argument("run_folder")
    w.add_argument("--timeout", type=float, default=None)
    w.set_defaults(handler=_wait)

    c = sub.add_parser("cancel", help="cancel every job of the run")
    c.add_argument("run_folder")
    c.set_defaults(handler=_cancel)

    r = sub.add_parser("resume", help="submit the missing elements of a finished run")
    r.add_argument("run_folder")
    r.add_argument(
        "--retry-failed", action=argparse.BooleanOptionalAction, default=False,
        help="also compute again the elements whose function raised (after fixing it); "
        "their stored errors move to RUN/superseded/",
    )  # fmt: skip
    r.add_argument(
        "--pipeline", metavar="FILE.py:NAME", default=None,
        help="the run's pipeline with fixed functions (same funcs, outputs and mapspecs)",
    )  # fmt: skip
    r.set_defaults(handler=_resume)

    u = sub.add_parser("unlock", help="remove a run folder's lock left by a dead process")
    u.add_argument("run_folder")
    u.set_defaults(handler=_unlock)

    rr = sub.add_parser("rerun", help="call a failed element's function again, here")
    rr.add_argument("run_folder")
    rr.add_argument("--output", required=True, help="the output whose element failed")
    rr.add_argument("--index", help="the element, e.g. 3 or 2,5; omit for a single value")
    rr.add_argument("--pdb", action="store_true", help="post-mortem debugger on an exception")
    rr.set_defaults(handler=_rerun)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except (HpcflowError, TimeoutError) as e:
        print(f"hpcflow {args.command}: error: {e}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
