"""``hpcflow report RUN [--json FILE] [--html FILE]``: the run's report as a rich table
(what each function asked for, used, and should ask for next time), and as files."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console
from rich.table import Table

from hpcflow.cli._exit import ExitCode
from hpcflow.report.fmt import fmt_bytes, fmt_ratio, fmt_seconds
from hpcflow.report.model import RunReport
from hpcflow.submission.handle import Run

__all__ = ["report", "report_tables"]


def report(args: argparse.Namespace) -> int:
    """Print the report; write ``--json`` / ``--html`` if asked (``-`` is stdout)."""
    rep = Run.open(args.run_folder).report()
    to_stdout = "-" in (args.json, args.html)
    if args.json is not None:
        text = rep.to_json(None if args.json == "-" else args.json)
        if args.json == "-":
            print(text)
    if args.html is not None:
        text = rep.to_html(None if args.html == "-" else args.html)
        if args.html == "-":
            sys.stdout.write(text)
    if not to_stdout:
        console = Console()
        for table in report_tables(rep):
            console.print(table)
        for path, what in ((args.json, "JSON"), (args.html, "HTML")):
            if path is not None:
                console.print(f"{what} report written to {path}")
    return ExitCode.OK


def report_tables(rep: RunReport) -> list[Table]:
    """The terminal view: a summary, one row per function, the failures."""
    s = rep.summary
    head = Table(title=f"run {rep.run_id or '-'} ({rep.scheduler}): {rep.state}", show_header=False)
    head.add_row("folder", rep.run_folder)
    el = s["elements"]
    head.add_row(
        "elements",
        f"{el['total']}: {el['done']} done, {el['failed']} failed, {el['missing']} missing",
    )
    head.add_row("wall time", fmt_seconds(s["wall_s"]))
    used, asked = s["core_hours_used"], s["core_hours_requested"]
    head.add_row(
        "core-hours used / requested", f"{used:.3g} / {'-' if asked is None else f'{asked:.3g}'}"
    )
    asked_t = _table("elements and requests (per element)", "done", "failed", "missing",
                     "cpus", "memory", "walltime", "gpus")  # fmt: skip
    used_t = _table("used (p50 / max)", "peak RSS", "element", "task", "CPU eff", "mem eff",
                    "time eff")  # fmt: skip
    next_t = _table("suggested for the next submission", "memory", "walltime", "task walltime",
                    "chunksize")  # fmt: skip
    for f in rep.funcs:
        u, r, g = f.used, f.requested, f.suggested
        asked_t.add_row(
            f.name, str(f.elements["done"]), str(f.elements["failed"]),
            str(f.elements["missing"]), str(r["cpus"]), fmt_bytes(r["memory_bytes"]),
            fmt_seconds(r["walltime_s"]), str(r["gpus"]),
        )  # fmt: skip
        used_t.add_row(
            f.name,
            f"{fmt_bytes(u['peak_rss_bytes']['p50'])} / {fmt_bytes(u['peak_rss_bytes']['max'])}",
            f"{fmt_seconds(u['element_s']['p50'])} / {fmt_seconds(u['element_s']['max'])}",
            f"{fmt_seconds(u['task_elapsed_s']['p50'])} / {fmt_seconds(u['task_elapsed_s']['max'])}",
            fmt_ratio(u["cpu_efficiency"]), fmt_ratio(u["memory_efficiency"]),
            fmt_ratio(u["time_efficiency"]),
        )  # fmt: skip
        next_t.add_row(
            f.name, fmt_bytes(g["memory_bytes"]), fmt_seconds(g["walltime_s"]),
            fmt_seconds(g["task_walltime_s"]),
            "-" if g["chunksize"] is None else str(g["chunksize"]),
        )  # fmt: skip
    tables = [head, asked_t, used_t, next_t]
    failures = [(f.name, x) for f in rep.funcs for x in f.failures]
    if failures:
        t = Table(title="failures")
        for col in ("function", "what", "reason", "count", "first error line"):
            t.add_column(col)
        for name, x in failures:
            t.add_row(name, x["kind"], x["reason"], str(x["count"]), x["first_line"])
        tables.append(t)
    return tables


def _table(title: str, *columns: str) -> Table:
    t = Table(title=title, title_justify="left")
    t.add_column("function")
    for col in columns:
        t.add_column(col, justify="right")
    return t
