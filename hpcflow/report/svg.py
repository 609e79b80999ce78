"""Hand-written SVG for the report: a task timeline and histograms (no JS, no library).

Every picture is a string of one ``<svg>`` element with its own ``viewBox``, so it can be
inlined in the HTML report, shown in a notebook (`SvgImage`) or written to a file.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hpcflow.report.model import RunReport, TaskRow

__all__ = ["STATE_COLOURS", "SvgImage", "histogram_svg", "timeline_svg"]

#: Fill of a task bar by its final state; queue wait is drawn pale grey.
STATE_COLOURS = {
    "COMPLETED": "#2e7d32",
    "RUNNING": "#1565c0",
    "PENDING": "#9e9e9e",
    "FAILED": "#c62828",
    "OUT_OF_MEMORY": "#6a1b9a",
    "TIMEOUT": "#ef6c00",
    "CANCELLED": "#5d4037",
    "PREEMPTED": "#00838f",
    "NODE_FAIL": "#ad1457",
    "UNKNOWN": "#616161",
}
QUEUE_COLOUR = "#d7dde3"
_FONT = 'font-family="sans-serif" font-size="11"'


class SvgImage(str):
    """An SVG document as a string that notebooks display as a picture."""

    __slots__ = ()

    def _repr_svg_(self) -> str:
        return str(self)


def _text(x: float, y: float, text: str, *, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {_FONT} {extra}>{escape(text)}</text>'


def _svg(width: float, height: float, body: Sequence[str], *, klass: str, label: str) -> SvgImage:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{klass}" role="img" '
        f'aria-label="{escape(label)}" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}">'
    )
    return SvgImage("\n".join([head, f"<title>{escape(label)}</title>", *body, "</svg>"]))


def nice_step(span: float, ticks: int = 6) -> float:
    """A round tick step (1, 2 or 5 x 10^k) giving about ``ticks`` ticks over ``span``.

    Examples
    --------
    >>> nice_step(100), nice_step(7), nice_step(0)
    (20.0, 2.0, 1.0)
    """
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return float(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


def timeline_svg(report: RunReport, *, width: int = 1100) -> SvgImage:
    """Every array task as a row: queue wait (pale) then run, coloured by final state;
    grouped by stage, time from the first submission. Tasks without times are listed
    as empty rows (the scheduler did not report them)."""
    order = {f.name: i for i, f in enumerate(report.funcs)}  # pipeline order, not names
    rows = sorted(report.tasks, key=lambda r: (order.get(r.func, len(order)), r.stage, r.task))
    label_w, top, row_h, right = 150.0, 30.0, 14.0, 20.0
    times = [t for r in rows for t in (r.submit, r.start, r.end) if t is not None]
    t0 = min(times, default=0.0)
    t1 = max(times, default=t0 + 1.0)
    span = max(t1 - t0, 1.0)
    plot_w = width - label_w - right
    height = top + row_h * max(1, len(rows)) + 50

    def x(t: float) -> float:
        return label_w + (t - t0) / span * plot_w

    body = [f'<rect x="0" y="0" width="{width}" height="{height:.0f}" fill="#ffffff"/>']
    step = nice_step(span)
    tick = 0.0
    while tick <= span + 1e-9:
        xx = x(t0 + tick)
        body.append(
            f'<line x1="{xx:.1f}" y1="{top - 4}" x2="{xx:.1f}" y2="{height - 40:.0f}" stroke="#eeeeee"/>'
        )
        body.append(_text(xx, top - 8, f"{tick:g} s", anchor="middle"))
        tick += step
    previous = None
    for i, r in enumerate(rows):
        y = top + i * row_h
        if r.stage != previous:
            body.append(_text(4, y + row_h - 3, r.stage, extra='font-weight="bold"'))
            previous = r.stage
        body.append(_text(label_w - 6, y + row_h - 3, f"task {r.task}", anchor="end"))
        body.append(_bar(r, y, row_h, x))
    legend_y = height - 22
    lx = label_w
    for name, colour in [("queued", QUEUE_COLOUR), *sorted(STATE_COLOURS.items())]:
        if name != "queued" and all(r.state != name for r in rows):
            continue
        body.append(
            f'<rect x="{lx:.0f}" y="{legend_y - 9:.0f}" width="10" height="10" fill="{colour}"/>'
        )
        body.append(_text(lx + 14, legend_y, name.lower()))
        lx += 24 + 7 * len(name)
    label = f"timeline of {len(rows)} array tasks of run {report.run_id or report.run_folder}"
    return _svg(width, height, body, klass="timeline", label=label)


def _bar(r: TaskRow, y: float, h: float, x: Callable[[float], float]) -> str:
    colour = STATE_COLOURS.get(r.state, STATE_COLOURS["UNKNOWN"])
    tip = f"{r.stage} task {r.task} (job {r.job_id}_{r.array_index}): {r.state}"
    if r.queue_s is not None:
        tip += f", queued {r.queue_s:.0f} s"
    if r.elapsed_s is not None:
        tip += f", ran {r.elapsed_s:.0f} s"
    parts = [f'<g class="task" data-state="{escape(r.state)}"><title>{escape(tip)}</title>']
    if r.submit is not None and r.start is not None:
        parts.append(_rect(x(r.submit), y + 2, x(r.start) - x(r.submit), h - 4, QUEUE_COLOUR))
    if r.start is not None:
        end = r.end if r.end is not None else r.start + (r.elapsed_s or 0.0)
        parts.append(_rect(x(r.start), y + 2, max(x(end) - x(r.start), 1.5), h - 4, colour))
    elif r.submit is not None and r.end is not None:  # never started: queued until it ended
        parts.append(_rect(x(r.submit), y + 2, x(r.end) - x(r.submit), h - 4, QUEUE_COLOUR))
    parts.append("</g>")
    return "".join(parts)


def _rect(x: float, y: float, w: float, h: float, fill: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{h:.1f}" fill="{fill}"/>'
    )


def histogram_svg(
    values: Sequence[float],
    *,
    title: str,
    unit: str,
    scale: float = 1.0,
    request: float | None = None,
    width: int = 360,
    height: int = 150,
    bins: int = 20,
) -> SvgImage:
    """A histogram of ``values`` (divided by ``scale`` for display in ``unit``), with
    the ``request`` drawn as a red line where one was made."""
    left, bottom, top = 36.0, 28.0, 20.0
    plot_w, plot_h = width - left - 10, height - top - bottom
    shown = [v / scale for v in values]
    req = None if request is None else request / scale
    body = [
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        _text(left, 13, title),
    ]
    if not shown:
        body.append(_text(width / 2, height / 2, "nothing measured", anchor="middle"))
        return _svg(width, height, body, klass="histogram", label=title)
    lo = 0.0
    hi = max([*shown, req or 0.0]) * 1.05 or 1.0
    counts = [0] * bins
    for v in shown:
        counts[min(bins - 1, int((v - lo) / (hi - lo) * bins))] += 1
    peak = max(counts)
    bw = plot_w / bins
    for i, c in enumerate(counts):
        if c:
            h = c / peak * plot_h
            body.append(_rect(left + i * bw + 0.5, top + plot_h - h, bw - 1, h, "#1565c0"))
    body.append(
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#444"/>'
    )
    step = nice_step(hi - lo, 4)
    tick = 0.0
    while tick <= hi:
        xx = left + (tick - lo) / (hi - lo) * plot_w
        body.append(_text(xx, top + plot_h + 14, f"{tick:g}", anchor="middle"))
        tick += step
    body.append(_text(left + plot_w, height - 2, unit, anchor="end"))
    body.append(_text(left - 4, top + 8, str(peak), anchor="end"))
    if req is not None:
        xx = left + (req - lo) / (hi - lo) * plot_w
        body.append(
            f'<line class="request" x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{top + plot_h}" '
            'stroke="#c62828" stroke-width="2" stroke-dasharray="4 2"/>'
        )
        body.append(_text(xx - 3, top + 10, "requested", anchor="end", extra='fill="#c62828"'))
    return _svg(width, height, body, klass="histogram", label=title)
