"""``hpcflow``'s argument parser and entry point."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence

from hpcflow.cli import _commands as cmd
from hpcflow.cli import _report
from hpcflow.cli._adaptive import handler_for as campaign_handler
from hpcflow.cli._exit import ExitCode
from hpcflow.errors import HpcflowError

__all__ = ["main"]

# The library's errors name its Python API; at the shell, the same advice in CLI words.
_CLI_WORDS = [
    (re.compile(r"\boverwrite=True\b"), "--overwrite"),
    (re.compile(r"\bresume\(retry_failed=True\)"), "hpcflow resume RUN --retry-failed"),
    (re.compile(r"\bretry_failed=True\b"), "--retry-failed"),
    (re.compile(r"\brun\.wait\(\)"), "hpcflow wait RUN"),
    (re.compile(r"\brun\.cancel\(\)"), "hpcflow cancel RUN"),
    (re.compile(r"\brun\.failures\((\w*)\)"), "hpcflow failures RUN"),
    (re.compile(r"hpcflow\.Run\.open\(('[^']*'|\"[^\"]*\")\)"), r"hpcflow status \1"),
]


def cli_words(message: str, run_folder: str | None = None) -> str:
    """``message`` with the Python API's advice put as ``hpcflow`` commands."""
    for pattern, words in _CLI_WORDS:
        message = pattern.sub(words, message)
    if run_folder is not None:
        message = message.replace(" RUN", " " + cmd.quote(run_folder))
    return message


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        mine = version("hpcflow")
    except PackageNotFoundError:  # run from a source tree that was never installed
        mine = "(not installed)"
    return f"hpcflow {mine} (Python {sys.version.split()[0]})"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpcflow",
        description="Submit a pipeline as job arrays and follow it from the shell.",
        epilog="exit codes of status and wait: 0 every element done, 1 elements failed or "
        "lost, 2 bad usage or input, 3 still queued or running, 4 cancelled",
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("submit", help="submit a pipeline as job arrays and return")
    s.add_argument("target", help="FILE.py:NAME or module:NAME of a Pipeline")
    s.add_argument("--inputs", required=True, help="inputs file: .json, .yaml, .npz or .pkl")
    s.add_argument("--run-folder", required=True)
    s.add_argument("--scheduler", default="slurm", help="slurm (default), pbs or local")
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
    s.set_defaults(handler=cmd.submit)

    st = sub.add_parser("status", help="elements done/failed/running/pending per output")
    st.add_argument("run_folder")
    view = st.add_mutually_exclusive_group()
    view.add_argument("--json", action="store_true", help="print the status as JSON")
    view.add_argument("--tasks", action="store_true", help="also a row per job array (job ids)")
    st.add_argument("--watch", action="store_true", help="a live view until the run is over")
    st.add_argument(
        "--interval", type=float, default=10.0,
        help="seconds between updates (--watch: between scheduler queries, at least 30)",
    )  # fmt: skip
    st.set_defaults(handler=cmd.status)

    rp = sub.add_parser("report", help="requested vs used resources per function, suggestions")
    rp.add_argument("run_folder")
    rp.add_argument("--json", metavar="FILE", help="write the report as JSON ('-': stdout)")
    rp.add_argument("--html", metavar="FILE", help="write the HTML report ('-': stdout)")
    rp.set_defaults(handler=_report.report)

    w = sub.add_parser("wait", help="block until no task of the run is queued or running")
    w.add_argument("run_folder")
    w.add_argument("--timeout", type=float, default=None, help="seconds; then exit 3")
    w.set_defaults(handler=cmd.wait)

    c = sub.add_parser("cancel", help="cancel every job of the run")
    c.add_argument("run_folder")
    c.set_defaults(handler=cmd.cancel)

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
    r.set_defaults(handler=cmd.resume)

    f = sub.add_parser("failures", help="each failed element: index, inputs, error, log")
    f.add_argument("run_folder")
    f.add_argument("--output", help="only this output's elements")
    f.set_defaults(handler=cmd.failures)

    lg = sub.add_parser("logs", help="print the log of the task that computed an element")
    lg.add_argument("run_folder")
    lg.add_argument("--output", required=True, help="the output of the element")
    lg.add_argument("--index", help="the element, e.g. 3 or 2,5; omit for a single value")
    lg.add_argument("--path", action="store_true", help="print only the log file's path")
    lg.set_defaults(handler=cmd.logs)

    q = sub.add_parser("queue", help="the local scheduler's queue, like squeue")
    q.add_argument(
        "--state-dir", default=None,
        help="the queue's folder (default: $HPCFLOW_LOCAL_DIR, else ~/.cache/hpcflow/local-scheduler)",
    )  # fmt: skip
    q.add_argument("--all", action="store_true", help="finished jobs too")
    q.set_defaults(handler=cmd.queue)

    u = sub.add_parser("unlock", help="remove a run folder's lock left by a dead process")
    u.add_argument("run_folder")
    u.add_argument("--force", action="store_true", help="even if its holder seems alive")
    u.set_defaults(handler=cmd.unlock)

    rr = sub.add_parser("rerun", help="call a failed element's function again, here")
    rr.add_argument("run_folder")
    rr.add_argument("--output", required=True, help="the output whose element failed")
    rr.add_argument("--index", help="the element, e.g. 3 or 2,5; omit for a single value")
    rr.add_argument("--pdb", action="store_true", help="post-mortem debugger on an exception")
    rr.set_defaults(handler=cmd.rerun)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hpcflow`` with ``argv`` (default: ``sys.argv[1:]``); its exit code."""
    args = _parser().parse_args(argv)
    try:
        # an adaptive campaign folder: its own status, wait, cancel and resume
        handler = campaign_handler(args) or args.handler
        code: int = handler(args)
    except HpcflowError as e:
        folder = getattr(args, "run_folder", None)
        print(f"hpcflow {args.command}: error: {cli_words(str(e), folder)}", file=sys.stderr)
        return ExitCode.ERROR
    except KeyboardInterrupt:
        print(f"hpcflow {args.command}: interrupted", file=sys.stderr)
        return 130
    return int(code)
