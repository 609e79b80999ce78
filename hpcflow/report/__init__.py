"""Reports of a run: what each function asked for, used, and should ask for next time.

`build_report` reads a run folder (stage records, chunk markers) and makes one batched
`hpcflow.schedulers.base.Scheduler.accounting` call; `hpcflow.Run.report` and
``hpcflow report RUN`` are the usual ways in. The report renders as JSON
(`RunReport.to_json`, schema in ``docs/report.md``), a self-contained HTML page
(`RunReport.to_html`) and SVG pictures (`timeline_svg`, `pipeline_svg`).

Layout: ``stats`` (percentiles, efficiencies, suggestions; pure), ``model`` (the data),
``collect`` (run folder + accounting -> model), ``svg`` and ``graph`` (pictures),
``page`` (HTML), ``fmt`` (numbers for people).
"""

from hpcflow.report.collect import build_report
from hpcflow.report.graph import graph_of, pipeline_svg
from hpcflow.report.model import SCHEMA_VERSION, FuncReport, RunReport, TaskRow
from hpcflow.report.page import render_html
from hpcflow.report.svg import SvgImage, histogram_svg, timeline_svg

__all__ = [
    "SCHEMA_VERSION",
    "FuncReport",
    "RunReport",
    "SvgImage",
    "TaskRow",
    "build_report",
    "graph_of",
    "histogram_svg",
    "pipeline_svg",
    "render_html",
    "timeline_svg",
]
