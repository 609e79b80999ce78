"""What a run report holds: `RunReport`, a `FuncReport` per function, a `TaskRow` per
array task. Plain data; ``RunReport.to_json`` is the documented schema
(``docs/report.md``): sizes in bytes, times in seconds (epoch seconds for instants)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpcflow._atomic import atomic_write_bytes

if TYPE_CHECKING:
    from hpcflow.report.svg import SvgImage

__all__ = ["SCHEMA_VERSION", "FuncReport", "RunReport", "TaskRow"]

#: Bumped when a documented key changes meaning or goes away (adding keys does not).
SCHEMA_VERSION = 1


@dataclass
class TaskRow:
    """One array task: where it ran and what the scheduler's accounting says it used."""

    func: str
    stage: str
    task: int
    job_id: str | None
    array_index: int
    state: str
    submit: float | None = None
    start: float | None = None
    end: float | None = None
    elapsed_s: float | None = None
    max_rss_bytes: int | None = None
    total_cpu_s: float | None = None
    cpus: int | None = None

    @property
    def queue_s(self) -> float | None:
        """Seconds between submission and start (``None`` if it never started)."""
        if self.submit is None or self.start is None:
            return None
        return max(0.0, self.start - self.submit)


@dataclass
class FuncReport:
    """One function: its elements, what was asked, what was used, what to ask next."""

    name: str
    outputs: list[str]
    elements: dict[str, int]
    requested: dict[str, Any]
    used: dict[str, Any]
    suggested: dict[str, Any]
    stages: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    # per chunk (one per marker), for the report's histograms
    samples: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class RunReport:
    """The report of one run folder (``Run.report()``, ``hpcflow report``)."""

    run_folder: str
    run_id: str | None
    scheduler: str
    state: str
    summary: dict[str, Any]
    funcs: list[FuncReport]
    tasks: list[TaskRow]
    graph: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def func(self, name: str) -> FuncReport:
        """The report of the function whose first output is ``name``."""
        for f in self.funcs:
            if f.name == name or name in f.outputs:
                return f
        raise KeyError(f"no function with output {name!r} in {[f.name for f in self.funcs]}")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see ``docs/report.md``)."""
        out = asdict(self)
        out["schema_version"] = SCHEMA_VERSION
        for row, task in zip(out["tasks"], self.tasks, strict=True):
            row["queue_s"] = task.queue_s
        return out

    def to_json(self, path: str | Path | None = None, *, indent: int | None = 2) -> str:
        """The report as JSON text; also written (atomically) to ``path`` if given."""
        text = json.dumps(self.to_dict(), indent=indent, allow_nan=False)
        if path is not None:
            atomic_write_bytes(Path(path), (text + "\n").encode())
        return text

    def to_html(self, path: str | Path | None = None) -> str:
        """The self-contained HTML report; also written (atomically) to ``path`` if given."""
        from hpcflow.report.page import render_html

        text = render_html(self)
        if path is not None:
            atomic_write_bytes(Path(path), text.encode())
        return text

    def plot_timeline(self, path: str | Path | None = None) -> SvgImage:
        """The timeline of every array task as an SVG string (a picture in a notebook);
        also written (atomically) to ``path`` if given."""
        from hpcflow.report.svg import timeline_svg

        text = timeline_svg(self)
        if path is not None:
            atomic_write_bytes(Path(path), text.encode())
        return text
