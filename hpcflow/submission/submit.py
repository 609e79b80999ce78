"""Submit a pipeline as scheduler job arrays, and plan follow-up jobs.

``submit`` validates everything, writes the run folder once (inputs, pipeline, output
storage), plans the stages whose shapes are known and submits each as job arrays
chained by scheduler dependencies, then returns. Funcs whose shapes are unknown until
an upstream func has run (``"?"`` internal shapes, per-element resources that read
upstream outputs) are *deferred*. When something is deferred, or a func has automatic
retries (`hpcflow.Retry`), a one-task follow-up job runs after every array of the
submission has ended: it plans the deferred funcs and retries failed tasks, as the next
submission, from a compute node (`follow_up`). Nothing keeps running on the login node.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hpcflow.errors import InputError, RunFolderError, SchedulerError
from hpcflow.plan.chunks import ChunkSizes
from hpcflow.plan.stages import Plan, Stage, build_plan, stage_chunksize
from hpcflow.element.engine import LocalRun
from hpcflow.element.execute import element_kwargs
from hpcflow.runfolder.layout import RunFolder
from hpcflow.submission.followup import describe, plan_retries, policy_for
from hpcflow.runfolder.lock import LOCK_NAME, run_lock
from hpcflow.runfolder.records import (
    CONTINUE_PREFIX,
    ArrayRecord,
    StageRecord,
    SubmissionRecord,
    read_settings,
    read_submissions,
    write_settings,
)
from hpcflow.submission.supersede import replace_pipeline, retire_errors
from hpcflow.schedulers.base import (
    ArrayRequest,
    JobDependency,
    Scheduler,
    get_scheduler,
    scheduler_ref,
)
from hpcflow.spec.func import Func
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources
from hpcflow.spec.retry import Retry, RetryLike
from hpcflow.storage._atomic import read_pickle
from hpcflow.storage.base import StorageBase, get_storage_class

if TYPE_CHECKING:
    from hpcflow.submission.handle import Run

__all__ = [
    "DryRun",
    "PlannedArray",
    "follow_up",
    "missing_elements",
    "reopen",
    "resume_run",
    "submit",
]

DEFAULT_STORAGE = "chunked_file_array"
# Most seconds a follow-up (or resume) waits for accounting to record the end of tasks
# that own missing elements (slurmdbd lags slurmctld by a few seconds). Resume runs on
# a run already seen finished, so it waits less.
_SETTLE = 60.0
_SETTLE_RESUME = 10.0
# A follow-up job's dependency: every other array of its submission, however it ended.
ALL_STAGES = "*"
_SETTINGS_VERSION = 1


@dataclass
class PlannedArray:
    """One array a submission makes (or would make, in a dry run)."""

    stage: str
    job_name: str
    n_tasks: int
    first_task: int
    n_elements: int
    resources: Resources
    dependencies: list[str]
    script: str
    job_id: str | None = None


@dataclass
class DryRun:
    """What ``submit(..., dry_run=True)`` would submit; nothing was written or submitted."""

    run_folder: Path
    scheduler: str
    arrays: list[PlannedArray] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"dry run: {len(self.arrays)} arrays for {self.scheduler} in {self.run_folder}"]
        lines += [f"note: {n}" for n in self.notes]
        for a in self.arrays:
            res = {k: v for k, v in a.resources.to_dict().items() if v not in (None, {}, ())}
            deps = ", ".join(a.dependencies) or "none"
            lines += [
                "",
                f"== {a.job_name}: stage {a.stage!r}, {a.n_tasks} tasks "
                f"(tasks {a.first_task}..{a.first_task + a.n_tasks - 1}), {a.n_elements} elements",
                f"   resources: {res or 'scheduler defaults'}",
                f"   waits for: {deps}",
                a.script.rstrip(),
            ]
        if self.deferred:
            lines += ["", f"deferred until their shapes are known: {self.deferred}"]
        return "\n".join(lines)


def submit(
    pipeline: Pipeline,
    inputs: Mapping[str, Any],
    run_folder: str | Path,
    *,
    scheduler: str | Scheduler = "slurm",
    chunksizes: ChunkSizes = None,
    storage: str | Mapping[Any, str] | None = None,
    internal_shapes: Mapping[str, Any] | None = None,
    output_names: Iterable[str | tuple[str, ...]] | None = None,
    max_parallel: int | None = None,
    dry_run: bool = False,
    error_handling: Literal["raise", "continue"] = "continue",
    overwrite: bool = False,
    retry: RetryLike | None = None,
    **scheduler_options: Any,
) -> Run | DryRun:
    """Submit ``pipeline`` on ``inputs`` as job arrays and return at once.

    Parameters
    ----------
    pipeline, inputs, internal_shapes, output_names
        As for `hpcflow.map.run_map`.
    run_folder
        Where everything is written; must be on a filesystem the compute nodes share.
    scheduler
        ``"slurm"``, ``"local"`` (a detached runner on this machine), or a `Scheduler`.
    chunksizes
        Elements per array task, as for ``map``; automatic means at most 1,000 tasks
        per stage (`hpcflow.plan.stages.default_chunksize`).
    storage
        Storage backend (or a dict by output); must be persistent. Default
        ``"chunked_file_array"``: one file per chunk, written once by its task.
    max_parallel
        Most tasks of each array running at once (SLURM ``--array=...%N``).
    dry_run
        Plan and render every job script, write and submit nothing; returns a `DryRun`.
    error_handling
        ``"continue"`` (default here, unlike ``map``): a failing element is recorded as an
        `hpcflow.ErrorSnapshot` and what depends on it as a propagated error, and its
        task still succeeds, so one bad element does not cancel the rest of the sweep.
        ``"raise"``: the task fails and the scheduler cancels what waits for it.
    overwrite
        Replace an earlier run in ``run_folder`` (only what hpcflow wrote there).
    retry
        `hpcflow.Retry` policy (or a number of retries) for funcs without their own
        ``retry``: failed tasks are retried automatically by a follow-up job, with more
        memory after an out-of-memory kill and more wall time after a time-limit kill.
        Default: no automatic retries.
    **scheduler_options
        Passed to the scheduler: for SLURM ``partition``, ``account``, ``qos``,
        ``setup`` (shell lines before each task), ``python``, ``extra_sbatch``; for
        ``"local"`` ``cpus``, ``memory`` and ``state_dir``.

    Returns
    -------
    Run or DryRun
        A handle to follow the run (`hpcflow.Run`), or the plan when ``dry_run``.
    """
    sched = get_scheduler(scheduler, scheduler_options)
    default_retry = Retry.from_value(retry)
    if max_parallel is not None and (isinstance(max_parallel, bool) or max_parallel < 1):
        raise InputError(f"max_parallel={max_parallel!r} must be an int >= 1 or None")
    storage = storage if storage is not None else DEFAULT_STORAGE
    names = storage.values() if isinstance(storage, Mapping) else [storage]
    for name in names:
        if not get_storage_class(name).persistent:
            raise InputError(
                f"storage={name!r} keeps values in one process's memory; a submitted run needs "
                f"a persistent backend such as {DEFAULT_STORAGE!r}, 'file_array' or "
                "'zarr_file_array'"
            )
    folder = RunFolder(run_folder)
    lock = contextlib.nullcontext() if dry_run else run_lock(folder.path, "submit")
    with lock:
        if not dry_run:
            _check_fresh(folder, overwrite)
        work = Path(tempfile.mkdtemp(prefix="hpcflow-dry-")) if dry_run else folder.path
        try:
            lrun = LocalRun(
                pipeline, inputs, work, internal_shapes, output_names=output_names,
                parallel=False, chunksizes=None, storage=storage, error_handling=error_handling,
            )  # fmt: skip
            settings = {
                "format_version": _SETTINGS_VERSION,
                "run_id": uuid.uuid4().hex[:8],
                "scheduler": scheduler_ref(sched),
                "scheduler_options": sched.options(),
                "max_parallel": max_parallel,
                "retry": None if default_retry is None else default_retry.to_dict(),
                "workdir": os.getcwd(),
                "submitted_at": time.time(),
            }
            if not dry_run:
                saved = {"pipeline": lrun.pipeline, "chunksizes": chunksizes}
                write_settings(folder, settings, saved)
            planner = _Round(lrun, folder, sched, settings, chunksizes, index=0, dry_run=dry_run)
            planner.run()
        except BaseException:
            if not dry_run:
                _remove_fresh(folder)
            raise
        finally:
            if dry_run:
                shutil.rmtree(work, ignore_errors=True)
    if dry_run:
        return DryRun(
            folder.path, sched.name, planner.arrays, planner.deferred_names, planner.notes
        )
    from hpcflow.submission.handle import Run

    return Run(folder, settings, sched)


def _check_fresh(folder: RunFolder, overwrite: bool) -> None:
    if not folder.exists() and not (folder.path / "submit.json").exists():
        if folder.path.exists() and any(p.name != LOCK_NAME for p in folder.path.iterdir()):
            raise RunFolderError(
                f"run_folder {folder.path} is not empty and holds no hpcflow run; choose a new "
                "or empty folder"
            )
        return
    if not overwrite:
        raise RunFolderError(
            f"run_folder {folder.path} already holds a run; open it with "
            f"hpcflow.Run.open({str(folder.path)!r}), choose a new folder, or pass "
            "overwrite=True to replace it (only what hpcflow wrote there is removed)"
        )


def _remove_fresh(folder: RunFolder) -> None:
    """Undo a first submission that failed before its jobs were all submitted."""
    with contextlib.suppress(RunFolderError):
        folder.prepare_fresh()


def reopen(
    folder: RunFolder, *, chunksizes: ChunkSizes = None, write_meta: bool = False
) -> tuple[LocalRun, dict[str, Any]]:
    """The run as a worker or continuation job sees it: everything stored so far, opened."""
    meta = folder.read_meta()
    saved = read_pickle(folder.path / "pipeline.cloudpickle")
    inputs = {name: folder.load_input(name) for name in meta["inputs"]}
    lrun = LocalRun(
        saved["pipeline"], inputs, folder.path, None, parallel=False, chunksizes=chunksizes,
        storage=meta["storage"], resume=True, resume_validation="skip",
        error_handling=meta["error_handling"],
    )  # fmt: skip
    lrun.write_meta = write_meta
    lrun.adopt_existing()
    return lrun, saved


def follow_up(folder: RunFolder, index: int) -> None:
    """Follow-up job ``index``: plan what was deferred, retry failed tasks (`plan_retries`).

    It runs after every array of submission ``index - 1`` has ended, and submits
    submission ``index`` (possibly empty: its record says what was not retried).
    """
    if (folder.path / "cancelled").exists():
        print(f"hpcflow: run {folder.path} was cancelled; follow-up {index} submits nothing")
        return
    if (folder.path / "stages" / f"{index}.json").exists():
        print(f"hpcflow: submission {index} exists already (a requeued follow-up); done")
        return
    settings = read_settings(folder)
    lrun, saved = reopen(folder, write_meta=True)
    sched = get_scheduler(settings["scheduler"], settings["scheduler_options"])
    subs = read_submissions(folder)
    missing = missing_elements(lrun)
    plan = plan_retries(
        lrun, folder, subs, sched=sched, settings=settings, missing=missing, count=True,
        settle=_SETTLE,
    )  # fmt: skip
    print(f"hpcflow: follow-up {index}: to submit: {describe(plan)}")
    for note in plan.notes:
        print(f"hpcflow: not retried: {note}")
    planner = _Round(
        lrun, folder, sched, settings, saved["chunksizes"], index=index,
        planned=set(missing) - plan.todo, upstream_finished=True, elements=plan.elements,
        overrides=plan.overrides, retries=plan.retries, record_notes=plan.notes,
    )  # fmt: skip
    planner.run()
    print(
        f"hpcflow: follow-up {index} submitted {len(planner.arrays)} arrays"
        + (f"; still deferred: {planner.deferred_names}" if planner.deferred_names else "")
    )


def missing_elements(lrun: LocalRun) -> dict[str, np.ndarray | None]:
    """Per func (first output name): linear indices not done, or None if never stored."""
    out: dict[str, np.ndarray | None] = {}
    for f in lrun.pipeline.sorted_funcs:
        key = f.output_names[0]
        if f.mapspec is None:
            out[key] = np.zeros(0 if key in lrun.singles else 1, dtype=np.int64)
            continue
        stores = [lrun.arrays.get(o) for o in f.output_names]
        if not all(isinstance(st, StorageBase) for st in stores):
            out[key] = None
            continue
        first = stores[0]
        assert isinstance(first, StorageBase)
        ext = [n for n, m in zip(first.shape, first.shape_mask, strict=True) if m]
        everything = np.arange(int(np.prod(ext, dtype=np.int64)), dtype=np.int64)
        done = np.ones(len(everything), dtype=bool)
        for st in stores:
            assert isinstance(st, StorageBase)
            done &= st.done_linear(everything)
        out[key] = everything[~done]
    return out


def resume_run(
    folder: RunFolder,
    sched: Scheduler | None = None,
    *,
    retry_failed: bool = False,
    pipeline: Pipeline | None = None,
) -> int:
    """Submit what a finished run is missing (and what depends on it); arrays submitted.

    Elements of tasks that ran out of memory or time get more, as their func's
    `hpcflow.Retry` policy says (retries are not counted: resuming is a request). With
    ``retry_failed``, elements holding errors are set aside and computed again
    (`hpcflow.submission.supersede`), with ``pipeline``'s fixed functions if given. The
    caller holds the run folder's lock and has checked that none of the run's jobs is
    queued or running.
    """
    settings = read_settings(folder)
    sched = sched or get_scheduler(settings["scheduler"], settings["scheduler_options"])
    subs = read_submissions(folder)
    aside = folder.path / "superseded" / str(len(subs))
    if pipeline is not None:
        replace_pipeline(folder, pipeline, aside)
    lrun, saved = reopen(folder, write_meta=True)
    if retry_failed:
        moved = retire_errors(lrun, folder, aside)
        if moved:
            lrun, saved = reopen(folder, write_meta=True)  # storage listings changed
    missing = missing_elements(lrun)
    if not any(v is None or len(v) for v in missing.values()):
        return 0
    plan = plan_retries(
        lrun, folder, subs, sched=sched, settings=settings, missing=missing, count=False,
        settle=_SETTLE_RESUME,
    )  # fmt: skip
    (folder.path / "cancelled").unlink(missing_ok=True)
    planner = _Round(
        lrun, folder, sched, settings, saved["chunksizes"], index=len(subs),
        planned=set(missing) - plan.todo, elements=plan.elements, overrides=plan.overrides,
        retries=plan.retries,
    )  # fmt: skip
    planner.run()
    return len(planner.arrays)


class _Round:
    """One submission: plan what can be planned now, submit it, defer the rest."""

    def __init__(
        self,
        lrun: LocalRun,
        folder: RunFolder,
        sched: Scheduler,
        settings: dict[str, Any],
        chunksizes: ChunkSizes,
        *,
        index: int,
        planned: set[str] | None = None,
        upstream_finished: bool = False,
        dry_run: bool = False,
        elements: dict[str, np.ndarray] | None = None,
        overrides: dict[str, Callable[[np.ndarray], list[Resources]]] | None = None,
        retries: dict[str, int] | None = None,
        record_notes: list[str] | None = None,
    ) -> None:
        self.lrun = lrun
        self.folder = folder
        self.sched = sched
        self.settings = settings
        self.chunksizes = chunksizes
        self.index = index
        self.planned = planned or set()
        self.upstream_finished = upstream_finished
        self.dry_run = dry_run
        self.elements = elements or {}
        self.overrides = overrides or {}
        self.retries = retries or {}
        self.record_notes = record_notes or []
        self.arrays: list[PlannedArray] = []
        self.deferred_names: list[str] = []
        self.notes: list[str] = []
        # storage chunks equal task chunks, so one task writes whole storage chunks
        lrun.chunksizes = {f.output_names: _sizer(chunksizes, f) for f in lrun.pipeline.funcs}

    # ---------------------------------------------------------------- planning
    def plan(self) -> tuple[Plan, list[Func]]:
        p = self.lrun.pipeline
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
            # Values of upstream outputs exist only in a continuation job, for producers
            # planned before it (it ran after them).
            can_run = self.upstream_finished and not producers & fresh_keys
            needs_values = f.resources is not None and not isinstance(f.resources, Resources)
            roots_only = all(x in self.lrun.values for x in f.parameters)
            if (
                producers & deferred_keys
                or (needs_values and not (can_run or roots_only))
                or (not self.lrun.known_shape(f) and not can_run)
            ):
                deferred.append(f)
                deferred_keys.add(key)
                continue
            if needs_values or (f.mapspec is not None and not self.lrun.known_shape(f)):
                task = self.lrun._prepare(f)  # may compute one element to learn a '?' shape
                assert task is not None or not needs_values
                tasks[key] = task
                shapes[key] = task.external_shape if task is not None else ()
            elif f.mapspec is not None:
                shapes[key] = self.lrun.allocate(f)
            else:
                shapes[key] = ()
            fresh.append(f)
            fresh_keys.add(key)

        def element_resources(f: Func, idx: np.ndarray) -> list[Resources]:
            task = tasks[f.output_names[0]]
            return [p.resources_for(f, kw) for _, kw in element_kwargs(task, idx)]

        plan = build_plan(
            p, shapes, max_array_size=self._max_array_size(), chunksizes=self.chunksizes,
            element_resources=element_resources, funcs=fresh, elements=self.elements,
            suffix=f"@{self.index}" if self.index else "", overrides=self.overrides,
        )  # fmt: skip
        self._check_storage(plan)
        return plan, deferred

    def _max_array_size(self) -> int:
        try:
            return self.sched.max_array_size()
        except SchedulerError as e:
            if not self.dry_run:
                raise
            self.notes.append(f"could not ask the scheduler for its array limit ({e}); using 1001")
            return 1001

    def _check_storage(self, plan: Plan) -> None:
        by_func: dict[str, list[Stage]] = {}
        for s in plan.stages:
            by_func.setdefault(s.func.output_names[0], []).append(s)
        for key, stages in by_func.items():
            if len(stages) < 2:
                continue
            for o in stages[0].func.output_names:
                if get_storage_class(self.lrun.storage_ids[o]).aligns_chunks:
                    raise InputError(
                        f"{key!r} has per-element resources, so its tasks hold scattered "
                        f"elements, but storage {self.lrun.storage_ids[o]!r} for {o!r} needs "
                        f"contiguous chunks; use storage {DEFAULT_STORAGE!r} for it"
                    )

    # -------------------------------------------------------------- submitting
    def run(self) -> None:
        plan, deferred = self.plan()
        self.deferred_names = [f.output_names[0] for f in deferred]
        record = SubmissionRecord(
            self.index, [], self.deferred_names, dict(self.retries), list(self.record_notes)
        )
        for s in plan.stages:
            rec = StageRecord(
                name=s.name, outputs=list(s.func.output_names),
                n_elements=_n_elements(s, self.lrun), size=len(s.elements), chunksize=s.chunksize, n_tasks=s.n_tasks,
                resources=s.resources.to_dict(),
                dependencies=[(d.upstream, d.kind) for d in s.dependencies],
                arrays=[ArrayRecord(a.index, a.first_task, a.n_tasks) for a in s.arrays],
            )  # fmt: skip
            if not np.array_equal(s.elements, np.arange(rec.n_elements)) and not self.dry_run:
                record.save_elements(self.folder, rec, s.elements)
            record.stages.append(rec)
        cont = self._follow_up(deferred) if deferred or self._may_retry(plan) else None
        if cont is not None:
            record.stages.append(cont[0])
        if not self.dry_run:
            record.write(self.folder)
        by_name = {s.name: s for s in record.stages}
        resources = {s.name: s.resources for s in plan.stages}
        if cont is not None:
            resources[cont[0].name] = cont[1]
        submitted: list[str] = []
        try:
            for rec in record.stages:
                for arr in rec.arrays:
                    deps = self._dependencies(rec, arr, by_name)
                    req = self._request(rec, arr, resources[rec.name], deps)
                    script = self.sched.render(req)
                    if not self.dry_run:
                        arr.job_id = self.sched.submit(req)
                        submitted.append(arr.job_id)
                        record.write(self.folder)  # job ids so far, for cancel and status
                    planned = PlannedArray(
                        rec.name, req.name, arr.n_tasks, arr.first_task,
                        _array_elements(rec, arr), resources[rec.name],
                        [d.job_id for d in deps], script, arr.job_id,
                    )  # fmt: skip
                    self.arrays.append(planned)
        except BaseException:
            if submitted:
                # Half a submission would run stages whose consumers never come.
                self.sched.cancel(submitted)
            raise

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
        p = self.lrun.pipeline
        first = deferred[0] if deferred else None
        # It may compute one element of a deferred func to learn a '?' shape: give it
        # that func's resources; otherwise the pipeline's defaults suffice.
        static = first.resources if first and isinstance(first.resources, Resources) else None
        res = (static or Resources()).with_defaults(p.default_resources)
        rec = StageRecord(
            name=f"{CONTINUE_PREFIX}{self.index + 1}", outputs=[], n_elements=1, size=1, chunksize=1,
            n_tasks=1, resources=res.to_dict(), dependencies=[(ALL_STAGES, "any")],
            arrays=[ArrayRecord(0, 0, 1)],
        )  # fmt: skip
        return rec, res

    def _dependencies(
        self, rec: StageRecord, arr: ArrayRecord, by_name: Mapping[str, StageRecord]
    ) -> list[JobDependency]:
        deps: list[JobDependency] = []
        per_task = self.sched.supports_per_task_dependencies
        if rec.dependencies == [(ALL_STAGES, "any")]:
            ups = [s for s in by_name.values() if s is not rec]
            return [
                JobDependency(a.job_id or f"<{s.name}[{a.index}]>", "any")
                for s in ups
                for a in s.arrays
            ]
        for upstream, kind in rec.dependencies:
            up = by_name[upstream]
            ids = [a.job_id or f"<{up.name}[{a.index}]>" for a in up.arrays]
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
        return ArrayRequest(
            name=f"hpcflow-{run_id}-{rec.name.lstrip(':')}{suffix}",
            argv=(self.sched.python, "-m", "hpcflow.worker", str(self.folder.path), rec.name),
            n_tasks=arr.n_tasks, resources=resources,
            log_dir=self.folder.path / "logs" / rec.name.lstrip(":"),
            workdir=Path(self.settings["workdir"]), task_offset=arr.first_task,
            dependencies=tuple(deps), max_parallel=self.settings["max_parallel"],
        )  # fmt: skip


def _sizer(chunksizes: ChunkSizes, f: Func) -> Callable[[int], int]:
    return lambda n: stage_chunksize(chunksizes, f, n)


def _n_elements(stage: Stage, lrun: LocalRun) -> int:
    f = stage.func
    if f.mapspec is None:
        return 1
    store = lrun.arrays[f.output_names[0]]
    return int(np.prod([n for n, m in zip(store.shape, store.shape_mask, strict=True) if m]))


def _array_elements(rec: StageRecord, arr: ArrayRecord) -> int:
    if rec.is_continuation:
        return 0
    first = arr.first_task * rec.chunksize
    return max(0, min((arr.first_task + arr.n_tasks) * rec.chunksize, rec.size) - first)
