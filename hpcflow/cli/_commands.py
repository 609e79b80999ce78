"""The handlers of ``hpcflow``'s subcommands: each parses nothing, calls the library once
and prints; each returns its exit code (`hpcflow.cli._exit`)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from hpcflow.cli._exit import ExitCode, all_done, exit_code
from hpcflow.cli._load import load_inputs, load_pipeline
from hpcflow.cli._views import status_json, tasks_table
from hpcflow.errors import InputError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.lock import clear_lock, holder_alive, lock_holder
from hpcflow.runfolder.records import read_submissions
from hpcflow.submission.handle import Run
from hpcflow.submission.locate import func_key, locate_element

__all__ = [
    "cancel",
    "failures",
    "logs",
    "queue",
    "rerun",
    "resume",
    "status",
    "submit",
    "unlock",
    "wait",
]


def submit(args: argparse.Namespace) -> int:
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
        return ExitCode.OK
    result = pipeline.submit(inputs, args.run_folder, overwrite=args.overwrite, **common)
    ids = result.job_ids()
    print(f"submitted run {result.run_id} to {result.scheduler.name}: {len(ids)} jobs")
    print(f"follow it with: hpcflow status {quote(result.path)}")
    return ExitCode.OK


def status(args: argparse.Namespace) -> int:
    run = Run.open(args.run_folder)
    if args.watch and not args.json:  # the live view; --json --watch keeps printing JSON
        from hpcflow.cli._watch import watch

        return watch(run, interval=args.interval)
    while True:
        st = run.status()
        code = exit_code(st, cancelled=run.folder.cancelled_path.exists())
        if args.json:
            print(json.dumps(status_json(run, st), indent=2), flush=True)
        else:
            print(st, flush=True)
            if args.tasks:
                print(tasks_table(run), flush=True)
        if not args.watch or st.finished:
            return code
        time.sleep(max(3.0, args.interval))


def wait(args: argparse.Namespace) -> int:
    run = Run.open(args.run_folder)
    try:
        st = run.wait(timeout=args.timeout)
    except TimeoutError as e:
        print(f"hpcflow wait: {e}", file=sys.stderr)
        return ExitCode.ACTIVE
    print(st)
    return exit_code(st, cancelled=run.folder.cancelled_path.exists())


def cancel(args: argparse.Namespace) -> int:
    run = Run.open(args.run_folder)
    ids = run.job_ids()
    live = run.live_tasks()
    already = run.folder.cancelled_path.exists()
    run.cancel()
    if live:
        print(f"cancelled run {run.run_id}: {live} queued or running tasks of {len(ids)} jobs")
    elif already:
        print(f"run {run.run_id} was already cancelled; nothing of it is queued or running")
    else:
        print(
            f"nothing of run {run.run_id} was queued or running; it is marked cancelled, "
            "so no follow-up job submits more"
        )
    return ExitCode.OK


def resume(args: argparse.Namespace) -> int:
    run = Run.open(args.run_folder)
    pipeline = load_pipeline(args.pipeline) if args.pipeline else None
    n = run.resume(retry_failed=args.retry_failed, pipeline=pipeline)
    if n:
        print(f"resumed run {run.run_id}: {n} arrays submitted for the missing elements")
        print(f"follow it with: hpcflow wait {quote(run.path)}")
        return ExitCode.OK
    st = run.status()
    if all_done(st):
        print(f"run {run.run_id} is complete; nothing to resume")
        return ExitCode.OK
    failed = sum(o.failed for o in st.outputs.values())
    if failed and not args.retry_failed:
        print(
            f"run {run.run_id}: nothing is missing, but {failed} elements failed (their "
            "function raised). Fix the function, then compute them again with:\n"
            f"  hpcflow resume {quote(run.path)} --retry-failed "
            "[--pipeline FILE.py:NAME]\n"
            f"See them with: hpcflow failures {quote(run.path)}"
        )
    else:
        print(st)
    return ExitCode.FAILED


def unlock(args: argparse.Namespace) -> int:
    folder = Path(args.run_folder)
    RunFolder(folder)  # a file (or a path inside one) is refused, naming it
    holder = lock_holder(folder)
    if holder is None:
        print(f"{folder} has no lock; nothing to do")
        return ExitCode.OK
    who = f"{holder.get('purpose')} in process {holder.get('pid')} on {holder.get('host')}"
    alive = holder_alive(holder)
    if alive is None:
        who += " (another host: not checked from here)"
    if alive and not args.force:
        raise InputError(
            f"the lock of {folder} is held by a live {who}; wait for it to finish, or pass "
            "--force if you are sure it no longer works on this folder"
        )
    clear_lock(folder)
    print(f"removed the lock of {folder} (held by {who})")
    return ExitCode.OK


def failures(args: argparse.Namespace) -> int:
    run = Run.open(args.run_folder)
    names = [args.output] if args.output else _outputs(run)
    if args.output:
        func_key(run.folder, args.output)  # an unknown name is an error, not "no failures"
    total = 0
    for name in names:
        for index, snap in sorted(run.failures(name).items()):
            total += 1
            inputs = ", ".join(f"{k}={_short(v)}" for k, v in getattr(snap, "kwargs", {}).items())
            loc = locate_element(run.folder, run.scheduler, name, _linear(run, name, index))
            print(f"{name}{list(index)}: {snap.exception_type}: {_first_line(snap.message)}")
            print(f"    inputs: {inputs or '-'}")
            print(f"    task:   {loc.label}; log: {loc.log or '-'}")
            print(f"    rerun:  hpcflow rerun {quote(run.path)} --output {name}{_index_arg(index)}")
    if not total:
        print(
            f"no failed elements in run {run.run_id}"
            + (f" for {args.output}" if args.output else "")
        )
        _print_lost(run, names)
        return ExitCode.OK
    print(f"{total} failed elements")
    return ExitCode.FAILED


def _print_lost(run: Run, names: list[str]) -> None:
    """Say where elements lost with their tasks are, which `failures` does not list.

    Without it "no failed elements" after a status of FAILED reads as "nothing wrong".
    """
    lost: Counter[str] = Counter()
    for name, out in run.status().outputs.items():
        if name in names:
            lost.update(out.lost)
    if not lost:
        return
    reasons = ", ".join(f"{reason}: {n}" for reason, n in lost.most_common())
    where = quote(run.path)
    print(f"but {lost.total()} elements were lost with their tasks ({reasons}):")
    print(f"    the tasks and their logs: hpcflow status {where} --tasks")
    print(f"    compute them again:       hpcflow resume {where}")


def logs(args: argparse.Namespace) -> int:
    from hpcflow.element.rerun import parse_index

    run = Run.open(args.run_folder)
    index = parse_index(args.index) or ()
    loc = locate_element(run.folder, run.scheduler, args.output, _linear(run, args.output, index))
    if loc.log is None:
        raise InputError(f"{args.output}{list(index)}: {loc.label} has no log")
    if args.path:
        print(loc.log)
        return ExitCode.OK
    if not loc.log.exists():
        print(f"{loc.label} has not written its log {loc.log} (not started yet?)", file=sys.stderr)
        return ExitCode.FAILED
    print(f"==> {loc.log} ({loc.label}) <==", file=sys.stderr, flush=True)
    sys.stdout.write(loc.log.read_text(errors="replace"))
    return ExitCode.OK


def queue(args: argparse.Namespace) -> int:
    from hpcflow.schedulers.local import LocalScheduler
    from hpcflow.spec.resources import format_bytes, format_seconds

    sched = LocalScheduler(state_dir=args.state_dir)
    jobs = sched.queue(include_finished=args.all)
    head = ("JOBID", "NAME", "TASKS", "STATES", "CPUS", "MEMORY", "TIME", "SUBMITTED")
    rows = [
        (
            str(j.spec.id), j.spec.name, str(j.spec.n_tasks),
            " ".join(f"{k}:{v}" for k, v in sorted(j.states.items())),
            str(j.spec.cpus),
            "-" if j.spec.memory is None else format_bytes(j.spec.memory),
            "-" if j.spec.walltime is None else format_seconds(j.spec.walltime),
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(j.spec.submit_time)),
        )
        for j in jobs
    ]  # fmt: skip
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    what = "jobs" if args.all else "unfinished jobs"
    print(f"({len(rows)} {what} in the local queue {sched.state_dir})")
    return ExitCode.OK


def rerun(args: argparse.Namespace) -> int:
    from hpcflow.element.rerun import load_failed_element, parse_index, user_traceback

    element = load_failed_element(args.run_folder, args.output, parse_index(args.index))
    print(element.describe(), flush=True)
    try:
        value = element.call(debug=args.pdb)
    except Exception as e:  # the user's function raised: its exception, not hpcflow's
        if not args.pdb:  # with --pdb the traceback came before the debugger session
            print(user_traceback(e), end="", file=sys.stderr)
        print(f"hpcflow rerun: {element.label} failed again ({type(e).__name__})", file=sys.stderr)
        return ExitCode.FAILED
    print(element.now_succeeds(value))
    return ExitCode.OK


def quote(path: Path | str) -> str:
    return shlex.quote(str(path))


def _outputs(run: Run) -> list[str]:
    names: list[str] = []
    for sub in read_submissions(run.folder):
        for stage in sub.stages:
            names += [o for o in stage.outputs if o not in names]
    return names


def _linear(run: Run, output: str, index: tuple[int, ...]) -> int:
    """The linear index of external ``index`` in ``output``'s func's elements."""
    func_key(run.folder, output)  # an output the run does not compute is named as such
    meta = run.folder.read_meta()
    info = meta.get("arrays", {}).get(output)
    if info is None:
        if index:
            raise InputError(f"{output} is a single value: omit --index")
        return 0
    from hpcflow.runfolder.results import open_storage

    store = open_storage(run.folder, output, meta)
    ext = tuple(n for n, m in zip(store.shape, store.shape_mask, strict=True) if m)
    if len(index) != len(ext) or any(not 0 <= i < n for i, n in zip(index, ext, strict=True)):
        raise InputError(f"--index {','.join(map(str, index))}: {output} has shape {ext}")
    return int(np.ravel_multi_index(index, ext)) if ext else 0


def _short(value: Any, width: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _first_line(message: str) -> str:
    lines = str(message).strip().splitlines()
    return lines[0] if lines else ""


def _index_arg(index: tuple[int, ...]) -> str:
    return f" --index {','.join(map(str, index))}" if index else ""
