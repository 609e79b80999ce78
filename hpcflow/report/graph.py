"""The pipeline as a picture: its funcs, outputs, mapspec axes and resources, drawn as
an SVG by a layered layout of its own (no graphviz, no extra dependency).

`graph_of` turns a pipeline into plain data (what the report's JSON keeps);
`pipeline_svg` draws that data: inputs in the first column, then one column per
topological generation of funcs, edges from each input or output to the funcs reading it.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from hpcflow._atomic import atomic_write_bytes
from hpcflow.report.fmt import fmt_bytes, fmt_seconds
from hpcflow.report.svg import SvgImage
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources

__all__ = ["graph_of", "pipeline_svg", "visualize"]

_BOX_W, _BOX_H, _GAP_X, _GAP_Y = 210.0, 58.0, 70.0, 22.0


def graph_of(pipeline: Pipeline) -> dict[str, Any]:
    """Nodes (funcs: name, outputs, inputs, mapspec, resources, generation) and edges
    (``[source, func]``; a source is a root input or a func's first output).

    Examples
    --------
    >>> from hpcflow import Pipeline, func
    >>> @func("y", mapspec="x[i] -> y[i]")
    ... def double(x): return 2 * x
    >>> @func("s")
    ... def total(y): return sum(y)
    >>> g = graph_of(Pipeline([double, total]))
    >>> g["inputs"], g["edges"], g["nodes"][0]["mapspec"]
    (['x'], [['x', 'y'], ['y', 's']], 'x[i] -> y[i]')
    """
    nodes = []
    edges: list[list[str]] = []
    for level, gen in enumerate(pipeline.topological_generations()):
        for f in gen:
            res = f.resources
            shown = res.to_dict() if isinstance(res, Resources) else ("callable" if res else {})
            nodes.append({
                "name": f.output_names[0], "func": f.name, "outputs": list(f.output_names),
                "inputs": list(f.parameters),
                "mapspec": None if f.mapspec is None else str(f.mapspec),
                "resources": shown, "generation": level,
            })  # fmt: skip
            for p in f.parameters:
                source = pipeline.output_to_func.get(p)
                edges.append([p if source is None else source.output_names[0], f.output_names[0]])
    return {"nodes": nodes, "edges": edges, "inputs": list(pipeline.root_args())}


def pipeline_svg(graph: Mapping[str, Any] | Pipeline) -> SvgImage:
    """The graph (from `graph_of`, or a pipeline) as an SVG document."""
    if isinstance(graph, Pipeline):
        graph = graph_of(graph)
    nodes = list(graph["nodes"])
    inputs = list(graph.get("inputs", []))
    columns: dict[int, list[str]] = {}
    if inputs:
        columns[0] = inputs
    shift = 1 if inputs else 0
    for n in nodes:
        columns.setdefault(int(n.get("generation", 0)) + shift, []).append(n["name"])
    pos: dict[str, tuple[float, float]] = {}
    for col, names in columns.items():
        for row, name in enumerate(names):
            pos[name] = (20 + col * (_BOX_W + _GAP_X), 20 + row * (_BOX_H + _GAP_Y))
    width = 40 + max(columns, default=0) * (_BOX_W + _GAP_X) + _BOX_W
    height = 40 + max((len(v) for v in columns.values()), default=1) * (_BOX_H + _GAP_Y)
    body = [
        f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for source, target in graph["edges"]:
        if source not in pos or target not in pos:
            continue
        (x1, y1), (x2, y2) = pos[source], pos[target]
        sy = y1 + (_BOX_H / 2 if source not in inputs else 14)
        body.append(
            f'<path class="edge" d="M{x1 + _BOX_W:.0f},{sy:.0f} C{x1 + _BOX_W + _GAP_X / 2:.0f},'
            f'{sy:.0f} {x2 - _GAP_X / 2:.0f},{y2 + _BOX_H / 2:.0f} {x2:.0f},{y2 + _BOX_H / 2:.0f}" '
            'fill="none" stroke="#555" marker-end="url(#arrow)"/>'
        )
    for name in inputs:
        x, y = pos[name]
        body.append(
            f'<g class="input"><rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W:.0f}" height="28" '
            f'rx="14" fill="#fff8e1" stroke="#f9a825"/>{_t(x + _BOX_W / 2, y + 18, name, "middle")}</g>'
        )
    for n in nodes:
        x, y = pos[n["name"]]
        res = n["resources"]
        res_text = (
            res if isinstance(res, str) else ", ".join(_resource(k, v) for k, v in res.items())
        )
        lines = [
            _t(x + 8, y + 16, f"{n['func']} -> {', '.join(n['outputs'])}", "start", bold=True),
            _t(x + 8, y + 32, n["mapspec"] or "(no mapspec: one element)", "start"),
            _t(x + 8, y + 48, res_text or "default resources", "start", small=True),
        ]
        body.append(
            f'<g class="func" data-name="{escape(n["name"])}"><rect x="{x:.0f}" y="{y:.0f}" '
            f'width="{_BOX_W:.0f}" height="{_BOX_H:.0f}" rx="4" fill="#e3f2fd" stroke="#1565c0"/>'
            + "".join(lines)
            + "</g>"
        )
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="pipeline" role="img" '
        f'aria-label="pipeline graph" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}"><title>pipeline graph</title>'
    )
    return SvgImage("\n".join([head, *body, "</svg>"]))


def _t(
    x: float, y: float, text: str, anchor: str, *, bold: bool = False, small: bool = False
) -> str:
    size = 10 if small else 12
    weight = ' font-weight="bold"' if bold else ""
    shown = text if len(text) <= 34 else text[:33] + "\u2026"
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-family="sans-serif" '
        f'font-size="{size}"{weight}><title>{escape(text)}</title>{escape(shown)}</text>'
    )


def visualize(pipeline: Pipeline, path: str | Path | None = None) -> SvgImage:
    """`Pipeline.visualize`: the pipeline's SVG, also written (atomically) to ``path``."""
    svg = pipeline_svg(pipeline)
    if path is not None:
        atomic_write_bytes(Path(path), svg.encode())
    return svg


def _resource(key: str, value: Any) -> str:
    if key == "memory" and isinstance(value, int | float):
        return f"memory {fmt_bytes(value)}"
    if key == "walltime" and isinstance(value, int | float):
        return f"walltime {fmt_seconds(value)}"
    return f"{key} {value}"
