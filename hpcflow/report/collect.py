"""Build a `RunReport` from a run folder: markers and stage records first, then one
batched `Scheduler.accounting` call for every array of the run.

What comes from where:

- elements done / failed / missing: `hpcflow.submission.status.read_status` (the run
  folder only; running and pending elements count as missing);
- requested: the stage records' ``resources`` (per element; ``task_walltime_s`` is the
  limit each task asked for, ``chunksize x walltime + margin``);
- used per element: the chunk markers (``elapsed / elements`` and the task process's
  ``peak_rss`` when the chunk ended);
- used per task: the scheduler's accounting (state, times, MaxRSS, TotalCPU).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hpcflow.element.snapshots import is_error
from hpcflow.errors import HpcflowError, SchedulerError
from hpcflow.plan.policy import task_walltime
from hpcflow.report.graph import graph_of
from hpcflow.report.model import FuncReport, RunReport, TaskRow
from hpcflow.report.use import func_use
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.markers import read_marked_errors, read_markers
from hpcflow.runfolder.records import StageRecord, read_saved, read_submissions, stages_by_func
from hpcflow.runfolder.results import open_storage
from hpcflow.schedulers.base import Scheduler, TaskAccounting, TaskState, TaskStatus
from hpcflow.submission.chunking import task_margin
from hpcflow.submission.classify import reason, task_status
from hpcflow.submission.status import read_status

__all__ = ["build_report", "first_error_line"]

_ELEMENT_ERRORS_READ = 1000  # failed elements whose error is read, per func


def build_report(folder: RunFolder, scheduler: Scheduler, settings: Mapping[str, Any]) -> RunReport:
    """The report of the submitted run in ``folder`` (one scheduler call)."""
    subs = read_submissions(folder)
    status = read_status(
        folder, scheduler, ask_scheduler=False, expected=settings.get("planned_funcs")
    )
    notes: list[str] = []
    ids = list(
        dict.fromkeys(a.job_id for s in subs for st in s.stages for a in st.arrays if a.job_id)
    )
    accounting: dict[str, dict[int, TaskAccounting]] = {}
    if ids:
        try:
            accounting = scheduler.accounting(ids)
        except SchedulerError as e:
            notes.append(f"no accounting from the scheduler ({e}); task use is unknown")
    by_func = stages_by_func(subs)
    rows = _task_rows(folder, scheduler, by_func, accounting)
    margin = task_margin(settings)
    funcs = []
    for name, stages in by_func.items():
        st = status.outputs.get(name)
        done = st.done if st else 0
        failed = st.failed if st else 0
        total = st.total if st and st.total is not None else done + failed
        own = {s.job_stage for s in stages}
        funcs.append(
            _func_report(
                folder, scheduler, name=name, stages=stages,
                rows=[r for r in rows if r.stage in own],
                elements={"done": done, "failed": failed, "missing": max(0, total - done - failed)},
                margin=margin,
            )
        )  # fmt: skip
    for name in status.deferred:
        notes.append(f"{name}: not planned yet (waiting for a follow-up job)")
    graph = _graph(folder, by_func, notes)
    return RunReport(
        run_folder=str(folder.path),
        run_id=settings.get("run_id"),
        scheduler=scheduler.name,
        state=status.state,
        summary=_summary(funcs, rows),
        funcs=funcs,
        tasks=rows,
        graph=graph,
        notes=notes + [f"note: {n}" for n in status.notes],
    )


def _task_rows(
    folder: RunFolder,
    scheduler: Scheduler,
    by_func: Mapping[str, list[StageRecord]],
    accounting: Mapping[str, Mapping[int, TaskAccounting]],
) -> list[TaskRow]:
    rows = []
    for name, stages in by_func.items():
        for stage in stages:
            if stage.fused_into is not None:
                continue  # its tasks are those of the stage it is fused into
            for a in stage.arrays:
                for i in range(a.n_tasks):
                    acc = accounting.get(a.job_id or "", {}).get(i)
                    used = {} if acc is None else _usage(acc)
                    rows.append(TaskRow(
                        func=name, stage=stage.name, task=a.first_task + i, job_id=a.job_id,
                        array_index=i, state=str(acc.state if acc else TaskState.UNKNOWN),
                        **used,
                    ))  # fmt: skip
    return rows


def _usage(acc: TaskAccounting) -> dict[str, Any]:
    """The accounting's numbers, by the names `TaskRow` shares with `TaskAccounting`."""
    return {f.name: getattr(acc, f.name) for f in dataclasses.fields(acc) if f.name != "state"}


def _requested(stages: Sequence[StageRecord], margin: float) -> dict[str, Any]:
    """The largest request of the func's stages (they differ with callable resources)."""

    def top(key: str) -> Any:
        values: list[Any] = [s.resources[key] for s in stages if s.resources.get(key) is not None]
        return max(values) if values else None

    limits = [
        task_walltime(s.chunksize, s.resources["walltime"], margin)
        for s in stages
        if s.resources.get("walltime")
    ]
    return {
        "cpus": top("cpus") or 1,
        "memory_bytes": top("memory"),
        "walltime_s": top("walltime"),
        "gpus": top("gpus") or 0,
        "task_walltime_s": max(limits) if limits else None,
    }


def _func_report(
    folder: RunFolder,
    scheduler: Scheduler,
    *,
    name: str,
    stages: list[StageRecord],
    rows: list[TaskRow],
    elements: dict[str, int],
    margin: float,
) -> FuncReport:
    markers = read_markers(folder.marker_folder(tuple(stages[0].outputs)))
    requested = _requested(stages, margin)
    n_elements = sum(s.size for s in stages if s.submission == stages[0].submission)
    used, suggested, samples = func_use(markers, rows, requested, n_elements)
    return FuncReport(
        name=name,
        outputs=list(stages[0].outputs),
        elements=elements,
        requested=requested,
        used=used,
        suggested=suggested,
        stages=[
            {
                "name": s.name,
                "submission": s.submission,
                "size": s.size,
                "n_tasks": s.n_tasks,
                "chunksize": s.chunksize,
                "fused_into": s.fused_into,
                "requested": _requested([s], margin),
            }
            for s in stages
        ],
        failures=_element_failures(folder, stages[0].outputs)
        + _task_failures(folder, scheduler, stages, rows),
        samples=samples,
    )


def _element_failures(folder: RunFolder, outputs: Sequence[str]) -> list[dict[str, Any]]:
    """Elements whose function raised, by exception type, with the first message line."""
    own = read_marked_errors(folder.marker_folder(tuple(outputs))).failed
    if not len(own):
        return []
    try:
        store = open_storage(folder, outputs[0], folder.read_meta())
    except (HpcflowError, OSError, KeyError) as e:
        return [
            {
                "kind": "element",
                "reason": "error",
                "count": len(own),
                "first_line": f"(unreadable: {e})",
            }
        ]
    found: Counter[str] = Counter()
    first: dict[str, str] = {}
    for li in own[:_ELEMENT_ERRORS_READ].tolist():
        value = store.get_linear(li)
        if not is_error(value):
            continue
        kind = str(getattr(value, "exception_type", "error"))
        found[kind] += 1
        first.setdefault(kind, first_error_line(str(getattr(value, "message", ""))))
    rest = len(own) - sum(found.values())
    out = [
        {"kind": "element", "reason": k, "count": n, "first_line": f"{k}: {first[k]}"}
        for k, n in found.most_common()
    ]
    if rest > 0:
        out.append({"kind": "element", "reason": "not read", "count": rest, "first_line": ""})
    return out


def _task_failures(
    folder: RunFolder, scheduler: Scheduler, stages: Sequence[StageRecord], rows: Sequence[TaskRow]
) -> list[dict[str, Any]]:
    """Tasks that ended without success, by reason (refined by their logs, as status
    does), with the first error line of the first such task's log."""
    by_stage = {s.name: s for s in stages}
    found: Counter[str] = Counter()
    first: dict[str, str] = {}
    for r in rows:
        state = TaskState(r.state)
        if not state.finished or state is TaskState.COMPLETED or r.job_id is None:
            continue
        stage = by_stage[r.stage]
        states = {r.job_id: {r.array_index: TaskStatus(state)}}
        ts = task_status(stage, r.task, states, folder.logs_root, scheduler=scheduler)
        why = reason(ts)
        found[why] += 1
        if why not in first:
            log = scheduler.task_log(folder.logs_root / stage.job_stage, r.job_id, r.array_index)
            first[why] = _first_log_error(log)
    return [
        {"kind": "task", "reason": k, "count": n, "first_line": first[k]}
        for k, n in found.most_common()
    ]


_SIGNS = ("error", "exceeded", "killed", "cancelled", "oom", "traceback", "exception")


def first_error_line(text: str) -> str:
    """The first line of ``text`` that looks like an error (else its first line), at
    most 200 characters.

    Examples
    --------
    >>> first_error_line("starting\\nValueError: bad x\\nmore")
    'ValueError: bad x'
    >>> first_error_line("x must be positive")
    'x must be positive'
    """
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    hit = next((line for line in lines if any(s in line.lower() for s in _SIGNS)), None)
    return (hit or (lines[0] if lines else ""))[:200]


def _first_log_error(log: Path) -> str:
    try:
        with open(log, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - 65536))
            tail = fh.read().decode(errors="replace")
    except OSError:
        return f"(no log at {log})"
    # the last error of the log is how the task ended; tracebacks end with it
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    for line in reversed(lines):
        if any(s in line.lower() for s in _SIGNS) and not line.lower().startswith("traceback"):
            return line[:200]
    return lines[-1][:200] if lines else "(empty log)"


def _summary(funcs: Sequence[FuncReport], rows: Sequence[TaskRow]) -> dict[str, Any]:
    elements = {k: sum(f.elements[k] for f in funcs) for k in ("done", "failed", "missing")}
    starts = [r.submit if r.submit is not None else r.start for r in rows]
    first = min((t for t in starts if t is not None), default=None)
    last = max((r.end for r in rows if r.end is not None), default=None)
    limits = {f.name: f.requested.get("task_walltime_s") for f in funcs}
    cpus = {f.name: f.requested.get("cpus") or 1 for f in funcs}
    used = requested = 0.0
    known = True
    for r in rows:
        if r.elapsed_s is None or r.start is None:
            continue
        n = r.cpus or cpus.get(r.func, 1)
        used += r.elapsed_s * n
        limit = limits.get(r.func)
        if limit is None:
            known = False
        else:
            requested += limit * n
    return {
        "elements": {"total": sum(elements.values()), **elements},
        "tasks": len(rows),
        "first_submit": first,
        "last_end": last,
        "wall_s": None if first is None or last is None else round(last - first, 3),
        "core_hours_used": round(used / 3600, 6),
        "core_hours_requested": round(requested / 3600, 6) if known else None,
    }


def _graph(
    folder: RunFolder, by_func: Mapping[str, list[StageRecord]], notes: list[str]
) -> dict[str, Any]:
    """Nodes (funcs, with mapspec and resources) and edges (output -> func), from the
    saved pipeline; from the stage records' dependencies (no mapspecs, no root inputs)
    if it cannot be loaded here, with a note saying why."""
    try:
        pipeline = read_saved(folder)["pipeline"]
    except Exception as e:  # unpicklable here (say a module missing): the records still tell
        notes.append(
            f"the pipeline graph is drawn from the stage records: {folder.pipeline_path} "
            f"cannot be loaded here ({type(e).__name__}: {e})"
        )
    else:
        return graph_of(pipeline)
    owner = {s.name: name for name, stages in by_func.items() for s in stages}
    upstream = {
        name: sorted({owner[u] for s in stages for u, _ in s.dependencies if u in owner} - {name})
        for name, stages in by_func.items()
    }
    level: dict[str, int] = {}

    def generation(name: str, seen: frozenset[str] = frozenset()) -> int:
        if name not in level:
            ups = [u for u in upstream[name] if u not in seen]
            level[name] = 1 + max((generation(u, seen | {name}) for u in ups), default=-1)
        return level[name]

    nodes = [
        {"name": name, "func": name, "outputs": list(stages[0].outputs), "inputs": upstream[name],
         "mapspec": None, "resources": stages[0].resources, "generation": generation(name)}
        for name, stages in by_func.items()
    ]  # fmt: skip
    edges = [[u, name] for name in by_func for u in upstream[name]]
    return {"nodes": nodes, "edges": edges, "inputs": []}
