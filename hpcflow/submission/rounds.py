"""One submission: plan what can be planned now, submit it as arrays, defer the rest.

A `Round` is made by ``submit`` (submission 0), by each follow-up job and by
``resume``. It plans the stages whose shapes are known (`hpcflow.plan.stages`),
writes their `SubmissionRecord`, and submits one job array per stage and split,
chained by dependencies; a one-task follow-up job comes last when something is
deferred or may be retried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hpcflow.element.execute import element_kwargs
from hpcflow.element.openrun import OpenRun
from hpcflow.errors import HpcflowError, InputError
from hpcflow.plan.stages import Plan, Stage, build_plan, fuse_stages
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import ArrayRecord, StageRecord, SubmissionRecord, read_saved
from hpcflow.schedulers.base import ArrayRequest, JobDependency, Scheduler
from hpcflow.spec.func import Func
from hpcflow.spec.resources import Resources
from hpcflow.storage.base import StorageBase, get_storage_class
from hpcflow.submission.chunking import ChunkChooser, task_margin, task_resources
from hpcflow.submission.retries import policy_for

__all__ = ["DEFAULT_STORAGE", "PlannedArray", "Round", "reopen"]

DEFAULT_STORAGE = "chunked_file_array"
# A follow-up job's dependency: every other array of its submission, however it ended.
ALL_STAGES = "*"


@dataclass
class PlannedArray:
    """One array a submission makes (or would make, in a plan)."""

    stage: str
    job_name: str
    n_tasks: int
    first_task: int
    n_elements: int
    resources: Resources
    dependencies: list[str]
    script: str
    job_id: str | None = None
    task_resources: Resources | None = None  # what one task asks for (time for its elements)
    fused: list[str] = field(default_factory=list)  # stages computed in the same tasks
    chunking: str = ""  # why this chunk size


def reopen(
    folder: RunFolder,
    sched: Scheduler,
    settings: dict[str, Any],
    *,
    write_meta: bool = False,
    recompute_damaged: bool = False,
) -> tuple[OpenRun, ChunkChooser]:
    """The run as a follow-up job or resume sees it: everything stored so far, opened;
    and the chunk sizes of its next round (the user's, or measured element times).

    ``recompute_damaged`` (a resume): see `OpenRun.reopen`."""
    saved = read_saved(folder)
    chooser = ChunkChooser(
        saved["chunksizes"], sched, settings, pipeline=saved["pipeline"], folder=folder
    )
    orun = OpenRun.reopen(
        folder, saved["pipeline"], write_meta=write_meta, chunk_size=chooser,
        recompute_damaged=recompute_damaged,
    )  # fmt: skip
    return orun, chooser


class Round:
    """One submission: plan what can be planned now, submit it, defer the rest."""

    def __init__(
        self,
        orun: OpenRun,
        folder: RunFolder,
        sched: Scheduler,
        settings: dict[str, Any],
        chooser: ChunkChooser,
        *,
        index: int,
        planned: set[str] | None = None,
        upstream_finished: bool = False,
        dry_run: bool = False,
        elements: dict[str, np.ndarray] | None = None,
        overrides: dict[str, Callable[[np.ndarray], list[Resources]]] | None = None,
        retries: dict[str, int] | None = None,
        record_notes: list[str] | None = None,
        attempts: list[str] | None = None,
    ) -> None:
        self.orun = orun
        self.folder = folder
        self.sched = sched
        self.settings = settings
        self.chooser = chooser
        self.index = index
        self.planned = planned or set()
        self.upstream_finished = upstream_finished
        self.dry_run = dry_run
        self.elements = elements or {}
        self.overrides = overrides or {}
        self.retries = retries or {}
        self.record_notes = record_notes or []
        self.attempts = attempts or []
        self.arrays: list[PlannedArray] = []
        self.deferred_names: list[str] = []
        self.notes = chooser.notes  # what could not be asked, for a plan
        self._chunking: dict[str, str] = {}  # why each stage has its chunk size

    # ---------------------------------------------------------------- planning
    def plan(self) -> tuple[Plan, list[Func]]:
        p = self.orun.pipeline
        fresh: list[Func] = []
        fresh_keys: set[str] = set()
        deferred: list[Func] = []
        deferred_keys: set[str] = set()
        shapes: dict[str, tuple[int, ...]] = {}
        tasks: dict[str, Any] = {}
        for f in p.sorted_funcs:
            key = f.output_names[0]
            if key in self.planned:
                continue
            producers = {
                p.output_to_func[x].output_names[0] for x in f.parameters if x in p.output_to_func
            }
            # Values of upstream outputs exist only in a follow-up job, for producers
            # planned before it (it ran after them).
            can_run = self.upstream_finished and not producers & fresh_keys
            needs_values = f.resources is not None and not isinstance(f.resources, Resources)
            roots_only = all(x in self.orun.values for x in f.parameters)
            if (
                producers & deferred_keys
                or (needs_values and not (can_run or roots_only))
                or (not self.orun.known_shape(f) and not can_run)
            ):
                deferred.append(f)
                deferred_keys.add(key)
                continue
            if needs_values or (f.mapspec is not None and not self.orun.known_shape(f)):
                task = self.orun.prepare(f)  # may compute one element to learn a '?' shape
                assert task is not None or not needs_values
                tasks[key] = task
                shapes[key] = task.external_shape if task is not None else ()
            elif f.mapspec is not None:
                shapes[key] = self.orun.allocate(f)
            else:
                shapes[key] = ()
            fresh.append(f)
            fresh_keys.add(key)

        def element_resources(f: Func, idx: np.ndarray) -> list[Resources]:
            task = tasks[f.output_names[0]]
            out = []
            for li, kw in element_kwargs(task, idx):
                try:
                    out.append(p.resources_for(f, kw))
                except Exception as exc:
                    raise _resources_error(f, task.external_shape, li, kw, exc) from exc
            return out

        plan = build_plan(
            p, shapes, max_array_size=self.chooser.max_array_size(), sizer=self._chunk_size,
            element_resources=element_resources, funcs=fresh, elements=self.elements,
            suffix=f"@{self.index}" if self.index else "", overrides=self.overrides,
        )  # fmt: skip
        self._check_storage(plan)
        for s in plan.stages:
            n = int(np.prod(shapes[s.func.output_names[0]], dtype=np.int64))
            decided = self.chooser.decide(s.func, n)
            self._chunking[s.name] = (
                decided.reason
                if decided.chunksize == s.chunksize
                else f"{s.chunksize} elements: the block size its storage was made with"
            )
        if self.settings.get("fuse", True):
            fuse_stages(plan)
        return plan, deferred

    def _check_storage(self, plan: Plan) -> None:
        by_func: dict[str, list[Stage]] = {}
        for s in plan.stages:
            by_func.setdefault(s.func.output_names[0], []).append(s)
        for key, stages in by_func.items():
            if len(stages) < 2:
                continue
            for o in stages[0].func.output_names:
                if get_storage_class(self.orun.storage_ids[o]).aligns_chunks:
                    raise InputError(
                        f"{key!r} has per-element resources, so its tasks hold scattered "
                        f"elements, but storage {self.orun.storage_ids[o]!r} for {o!r} needs "
                        f"contiguous chunks; use storage {DEFAULT_STORAGE!r} for it"
                    )

    # -------------------------------------------------------------- submitting
    def run(self) -> None:
        plan, deferred = self.plan()
        self.deferred_names = [f.output_names[0] for f in deferred]
        record = SubmissionRecord(
            self.index, [], self.deferred_names, dict(self.retries), list(self.record_notes),
            list(self.attempts),
        )  # fmt: skip
        for s in plan.stages:
            rec = StageRecord(
                name=s.name, outputs=list(s.func.output_names),
                n_elements=_n_elements(s, self.orun), size=len(s.elements), chunksize=s.chunksize, n_tasks=s.n_tasks,
                resources=s.resources.to_dict(),
                dependencies=[(d.upstream, d.kind) for d in s.dependencies],
                arrays=[ArrayRecord(a.index, a.first_task, a.n_tasks) for a in s.arrays],
                submission=self.index, fused_into=s.fused_into,
            )  # fmt: skip
            if not _all_elements(s.elements, rec.n_elements) and not self.dry_run:
                record.save_elements(self.folder, rec, s.elements)
            record.stages.append(rec)
        cont = self._follow_up(deferred) if deferred or self._may_retry(plan) else None
        if cont is not None:
            record.stages.append(cont[0])
        if not self.dry_run:
            record.write(self.folder)
        by_name = {s.name: s for s in record.stages}
        fused = {
            rec.name: [s for s in record.stages if s.fused_into == rec.name]
            for rec in record.stages
        }
        resources = {s.name: s.resources for s in plan.stages}
        if cont is not None:
            resources[cont[0].name] = cont[1]
        submitted: list[str] = []
        try:
            for rec in record.stages:
                if rec.fused_into is not None:
                    continue  # runs in the tasks of the stage it is fused into
                group = [rec, *fused[rec.name]]
                for arr in rec.arrays:
                    deps = self._dependencies(rec, arr, by_name)
                    per_task = self._task_resources(rec, resources[rec.name], len(group))
                    req = self._request(rec, arr, per_task, deps)
                    script = self.sched.render(req)
                    if not self.dry_run:
                        arr.job_id = self.sched.submit(req)
                        submitted.append(arr.job_id)
                        for other in group[1:]:
                            other.arrays[arr.index].job_id = arr.job_id
                        record.write(self.folder)  # job ids so far, for cancel and status
                    planned = PlannedArray(
                        rec.name, req.name, arr.n_tasks, arr.first_task,
                        _array_elements(rec, arr), resources[rec.name],
                        [d.job_id for d in deps], script, arr.job_id,
                        task_resources=per_task, fused=[s.name for s in group[1:]],
                        chunking=self._chunking.get(rec.name, ""),
                    )  # fmt: skip
                    self.arrays.append(planned)
        except BaseException:
            if submitted:
                # Half a submission would run stages whose consumers never come.
                self.sched.cancel(submitted)
            raise

    def _chunk_size(self, f: Func, n: int) -> int:
        """The chooser's size, except for storage stored in fixed blocks (zarr): a task
        must write whole blocks, so it takes the block size the storage was made with."""
        store = self.orun.arrays.get(f.output_names[0])
        if isinstance(store, StorageBase) and store.aligns_chunks:
            return int(store.chunk_size)  # type: ignore[attr-defined]
        return self.chooser(f, n)

    def _task_resources(self, rec: StageRecord, resources: Resources, n_funcs: int) -> Resources:
        """One task's request: per-element resources, a time limit for its elements."""
        if rec.is_follow_up:
            return resources
        return task_resources(resources, rec.chunksize * n_funcs, task_margin(self.settings))

    def _may_retry(self, plan: Plan) -> bool:
        """Whether a func planned now has automatic retries (used up or not: the last
        follow-up records that they are used up, for `hpcflow.Run.status`)."""
        for stage in plan.stages:
            policy = policy_for(stage.func, self.settings)
            if policy is not None and policy.retries > 0:
                return True
        return False

    def _follow_up(self, deferred: list[Func]) -> tuple[StageRecord, Resources]:
        """The one-task job that runs once every array of this submission has ended."""
        p = self.orun.pipeline
        first = deferred[0] if deferred else None
        # It may compute one element of a deferred func to learn a '?' shape: give it
        # that func's resources; otherwise the pipeline's defaults suffice.
        static = first.resources if first and isinstance(first.resources, Resources) else None
        res = (static or Resources()).with_defaults(p.default_resources)
        rec = StageRecord(
            name=f"follow-up-{self.index + 1}", outputs=[], n_elements=1, size=1, chunksize=1,
            n_tasks=1, resources=res.to_dict(), dependencies=[(ALL_STAGES, "any")],
            arrays=[ArrayRecord(0, 0, 1)], kind="follow-up", submission=self.index,
        )  # fmt: skip
        return rec, res

    def _dependencies(
        self, rec: StageRecord, arr: ArrayRecord, by_name: Mapping[str, StageRecord]
    ) -> list[JobDependency]:
        deps: list[JobDependency] = []
        per_task = self.sched.supports_per_task_dependencies
        if rec.dependencies == [(ALL_STAGES, "any")]:
            ups = [s for s in by_name.values() if s is not rec and s.fused_into is None]
            return [
                JobDependency(a.job_id or f"<{s.name}[{a.index}]>", "any")
                for s in ups
                for a in s.arrays
            ]
        for upstream, kind in rec.dependencies:
            up = by_name[upstream]
            runs_in = up.fused_into or up.name  # a fused stage's tasks are its head's
            ids = [a.job_id or f"<{runs_in}[{a.index}]>" for a in up.arrays]
            if kind == "aligned":
                # aligned stages have the same tasks, hence the same split into arrays
                deps.append(JobDependency(ids[arr.index], "aligned" if per_task else "whole"))
            else:
                deps.extend(JobDependency(i, "whole") for i in ids)
        return deps

    def _request(
        self, rec: StageRecord, arr: ArrayRecord, resources: Resources, deps: list[JobDependency]
    ) -> ArrayRequest:
        run_id = self.settings["run_id"]
        suffix = f"-{arr.index}" if len(rec.arrays) > 1 else ""
        if rec.is_follow_up:  # it submits the next submission: not the array-task worker
            module, args = "hpcflow.followup", (str(self.folder.path), str(self.index + 1))
        else:
            module, args = "hpcflow.worker", (str(self.folder.path), rec.name)
        # the task checks that the folder still holds this run before it writes
        argv = (self.sched.python, "-m", module, "--run-id", str(run_id), *args)
        return ArrayRequest(
            name=f"hpcflow-{run_id}-{rec.name}{suffix}",
            argv=argv,
            n_tasks=arr.n_tasks, resources=resources,
            log_dir=self.folder.log_folder(rec.name),
            workdir=Path(self.settings["workdir"]), task_offset=arr.first_task,
            dependencies=tuple(deps), max_parallel=self.settings["max_parallel"],
        )  # fmt: skip


def _resources_error(
    f: Func, shape: tuple[int, ...], li: int, kwargs: Mapping[str, Any], exc: Exception
) -> HpcflowError:
    """``exc``, raised by ``f``'s resources callable for element ``li``, as an hpcflow
    error naming the func, the callable and the element (index and inputs).

    An hpcflow error (a bad field in what the callable returned) keeps its type, so
    ``except SpecError`` still catches it; anything else from the user's code becomes
    an `InputError`.
    """
    fn = f.resources
    name = getattr(fn, "__qualname__", None) or repr(fn)
    index = tuple(int(i) for i in np.unravel_index(li, shape)) if shape else ()
    inputs = ", ".join(f"{k}={v!r}"[:80] for k, v in sorted(kwargs.items()))
    message = (
        f"resources callable {name!r} of func {f.name!r} (output {f.output_names[0]!r}) "
        f"failed for element {list(index)} with inputs ({inputs}): "
        f"{type(exc).__name__}: {exc}; fix the callable so that it returns resources "
        "(a Resources or a dict of its fields) for every element"
    )
    cls = type(exc) if isinstance(exc, HpcflowError) else InputError
    try:
        return cls(message)
    except TypeError:  # an error class of unusual signature
        return InputError(message)


def _n_elements(stage: Stage, orun: OpenRun) -> int:
    f = stage.func
    if f.mapspec is None:
        return 1
    store = orun.arrays[f.output_names[0]]
    return int(np.prod([n for n, m in zip(store.shape, store.shape_mask, strict=True) if m]))


def _array_elements(rec: StageRecord, arr: ArrayRecord) -> int:
    if rec.is_follow_up:
        return 0
    first = arr.first_task * rec.chunksize
    return max(0, min((arr.first_task + arr.n_tasks) * rec.chunksize, rec.size) - first)


def _all_elements(elements: np.ndarray, n: int) -> bool:
    """Whether a stage's ``elements`` (sorted, unique: `hpcflow.plan.stages.Stage`) are
    exactly ``0..n-1``: then their ends say it, with no 0..n-1 made to compare."""
    return len(elements) == n and (n == 0 or (int(elements[0]) == 0 and int(elements[-1]) == n - 1))
