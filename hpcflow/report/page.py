"""The HTML report: one self-contained file (inline CSS and SVG, no script, nothing
loaded from the network), readable from a shared filesystem in any browser."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from hpcflow.report.fmt import fmt_bytes, fmt_ratio, fmt_seconds
from hpcflow.report.graph import pipeline_svg
from hpcflow.report.svg import histogram_svg, timeline_svg

if TYPE_CHECKING:
    from hpcflow.report.model import FuncReport, RunReport

__all__ = ["render_html"]

_CSS = """
body { font-family: sans-serif; margin: 1.5em; color: #212121; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f5f5f5; } td.name, th.name { text-align: left; }
.summary td { text-align: left; }
.func-plots { display: flex; gap: 1em; flex-wrap: wrap; align-items: flex-start; }
.warn { color: #c62828; }
code { background: #f5f5f5; padding: 0 3px; }
"""


def render_html(report: RunReport) -> str:
    """The report as one HTML document (a string)."""
    s = report.summary
    el = s["elements"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>hpcflow report: {escape(report.run_id or report.run_folder)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>hpcflow run report: {escape(report.run_folder)}</h1>",
        '<table class="summary" id="summary">',
        _kv("run id", report.run_id or "-"),
        _kv("scheduler", report.scheduler),
        _kv("state", report.state),
        _kv(
            "elements",
            f"{el['total']} ({el['done']} done, {el['failed']} failed, {el['missing']} missing)",
        ),
        _kv("array tasks", str(s["tasks"])),
        _kv("wall time (first submission to last end)", fmt_seconds(s["wall_s"])),
        _kv(
            "core-hours used / requested",
            f"{_num(s['core_hours_used'])} / {_num(s['core_hours_requested'])}"
            + ("" if s["core_hours_requested"] is not None else " (a function set no walltime)"),
        ),
        "</table>",
        "<h2>Functions</h2>",
        f'<div style="overflow-x: auto">{_funcs_table(report.funcs)}</div>',
        "<h2>Timeline</h2><p>Each row is an array task: queue wait (pale), then its run, "
        "coloured by how it ended.</p>",
        f'<div id="timeline">{timeline_svg(report)}</div>',
        "<h2>Use per function</h2>",
    ]
    for f in report.funcs:
        parts.append(_func_plots(f))
    parts += [
        "<h2>Pipeline</h2>",
        f'<div id="pipeline">{pipeline_svg(report.graph)}</div>',
        "<h2>Failures</h2>",
        _failures(report.funcs),
    ]
    if report.notes:
        parts.append("<h2>Notes</h2><ul>")
        parts += [f"<li>{escape(n)}</li>" for n in report.notes]
        parts.append("</ul>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _kv(key: str, value: str) -> str:
    return f"<tr><th class='name'>{escape(key)}</th><td>{escape(value)}</td></tr>"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _funcs_table(funcs: list[FuncReport]) -> str:
    head = [
        "function", "done", "failed", "missing", "cpus", "memory asked", "peak RSS p50",
        "peak RSS max", "element p50", "element p95", "element max", "task max",
        "CPU eff.", "mem. eff.", "time eff.", "suggest memory", "suggest walltime",
        "suggest chunksize",
    ]  # fmt: skip
    rows = ['<table id="funcs"><tr>' + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for f in funcs:
        u, r, g = f.used, f.requested, f.suggested
        cells = [
            f.elements["done"], f.elements["failed"], f.elements["missing"], r["cpus"],
            fmt_bytes(r["memory_bytes"]), fmt_bytes(u["peak_rss_bytes"]["p50"]),
            fmt_bytes(u["peak_rss_bytes"]["max"]), fmt_seconds(u["element_s"]["p50"]),
            fmt_seconds(u["element_s"]["p95"]), fmt_seconds(u["element_s"]["max"]),
            fmt_seconds(u["task_elapsed_s"]["max"]), fmt_ratio(u["cpu_efficiency"]),
            fmt_ratio(u["memory_efficiency"]), fmt_ratio(u["time_efficiency"]),
            fmt_bytes(g["memory_bytes"]), fmt_seconds(g["walltime_s"]),
            "-" if g["chunksize"] is None else str(g["chunksize"]),
        ]  # fmt: skip
        warn = " class='warn'" if f.elements["failed"] or f.elements["missing"] else ""
        rows.append(
            f'<tr class="func-row" data-func="{escape(f.name)}"><td class="name"{warn}>'
            f"{escape(f.name)}</td>"
            + "".join(f"<td>{escape(str(c))}</td>" for c in cells)
            + "</tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _func_plots(f: FuncReport) -> str:
    if not f.samples.get("element_s"):
        return (
            f'<p class="func-plots" data-func="{escape(f.name)}">{escape(f.name)}: no chunk '
            "marker measured an element (a single value, or nothing ran yet).</p>"
        )
    times = histogram_svg(
        f.samples.get("element_s", []), title=f"{f.name}: seconds per element (per chunk)",
        unit="s", request=f.requested.get("walltime_s"),
    )  # fmt: skip
    memory = histogram_svg(
        f.samples.get("peak_rss_bytes", []), title=f"{f.name}: peak RSS (per chunk)",
        unit="MiB", scale=2**20, request=f.requested.get("memory_bytes"),
    )  # fmt: skip
    return f'<div class="func-plots" data-func="{escape(f.name)}">{times}{memory}</div>'


def _failures(funcs: list[FuncReport]) -> str:
    rows: list[tuple[str, dict[str, Any]]] = [(f.name, x) for f in funcs for x in f.failures]
    if not rows:
        return '<p id="failures">No element or task failed.</p>'
    out = [
        '<table id="failures"><tr><th class="name">function</th><th class="name">what</th>'
        '<th class="name">reason</th><th>count</th><th class="name">first error line</th></tr>'
    ]
    for name, x in rows:
        out.append(
            f"<tr><td class='name'>{escape(name)}</td><td class='name'>{escape(x['kind'])}</td>"
            f"<td class='name'>{escape(x['reason'])}</td><td>{x['count']}</td>"
            f"<td class='name'><code>{escape(x['first_line'])}</code></td></tr>"
        )
    out.append("</table>")
    return "\n".join(out)
