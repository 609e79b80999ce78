"""Submit a pipeline as scheduler job arrays, or show the plan of doing so.

``submit`` validates everything, writes the run folder once (inputs, pipeline, output
storage), plans the stages whose shapes are known and submits each as job arrays
chained by scheduler dependencies, then returns a `Run`. Funcs whose shapes are unknown
until an upstream func has run (``"?"`` internal shapes, per-element resources that
read upstream outputs) are *deferred*. When something is deferred, or a func has
automatic retries (`hpcflow.Retry`), a one-task follow-up job runs after every array of
the submission has ended (`hpcflow.submission.followup`). Nothing keeps running on the
login node. ``plan_submission`` does all of it but write and submit, and returns the
printable `SubmissionPlan`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hpcflow.element.openrun import OpenRun
from hpcflow.errors import InputError, RunFolderError, SpecError
from hpcflow.plan.chunks import ChunkSizes, check_chunksizes, check_output_keys
from hpcflow.runfolder.layout import ASIDE_PREFIX, RunFolder
from hpcflow.runfolder.lock import run_lock
from hpcflow.runfolder.records import write_settings
from hpcflow.schedulers._format import format_duration
from hpcflow.schedulers.base import Scheduler, get_scheduler, scheduler_ref
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources, format_bytes, format_seconds, parse_walltime
from hpcflow.spec.retry import Retry, RetryLike
from hpcflow.storage.base import get_storage_class
from hpcflow.submission.chunking import ChunkChooser
from hpcflow.submission.handle import Run
from hpcflow.submission.liveness import refuse_if_live
from hpcflow.submission.rounds import DEFAULT_STORAGE, PlannedArray, Round

__all__ = ["SubmissionPlan", "plan_submission", "submit"]

_SETTINGS_VERSION = 1


@dataclass
class SubmissionPlan:
    """What ``submit`` would submit (from `plan_submission`); nothing was written.

    ``str(plan)`` is what ``hpcflow submit --dry-run`` prints: every array with its
    tasks, elements, resources, dependencies and job script.
    """

    run_folder: Path
    scheduler: str
    arrays: list[PlannedArray] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        lines = [f"dry run: {len(self.arrays)} arrays for {self.scheduler} in {self.run_folder}"]
        lines += [f"note: {n}" for n in self.notes]
        for a in self.arrays:
            res = describe_resources(a.resources)
            deps = ", ".join(a.dependencies) or "none"
            lines += [
                "",
                f"== {a.job_name}: stage {a.stage!r}, {a.n_tasks} tasks "
                f"(tasks {a.first_task}..{a.first_task + a.n_tasks - 1}), {a.n_elements} elements",
            ]
            if a.fused:
                lines.append(f"   then, in the same tasks: {', '.join(a.fused)}")
            lines.append(f"   resources per element: {res or 'scheduler defaults'}")
            limit = a.task_resources.walltime if a.task_resources else None
            if limit is not None:
                lines.append(
                    f"   time limit per task: {format_duration(limit, 'clock')} "
                    "(its elements' walltimes + the task margin)"
                )
            if a.chunking:
                lines.append(f"   chunks: {a.chunking}")
            lines += [f"   waits for: {deps}", a.script.rstrip()]
        if self.deferred:
            lines += ["", f"deferred until their shapes are known: {self.deferred}"]
        return "\n".join(lines)


def describe_resources(resources: Resources) -> str:
    """The fields that are set, in the units people read (``""`` when none is).

    Examples
    --------
    >>> describe_resources(Resources(cpus=2, memory="200MB", walltime=600))
    'cpus=2, memory=200 MiB, walltime=0:10:00'
    """
    units = {"memory": format_bytes, "walltime": format_seconds}
    return ", ".join(
        f"{name}={units[name](value) if name in units else value}"
        for name, value in resources.to_dict().items()
    )


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
    error_handling: Literal["raise", "continue"] = "continue",
    overwrite: bool = False,
    retry: RetryLike | None = None,
    fuse: bool = True,
    max_task_walltime: int | float | str | None = None,
    min_task_time: int | float | str | None = None,
    task_margin: int | float | None = None,
    **scheduler_options: Any,
) -> Run:
    """Submit ``pipeline`` on ``inputs`` as job arrays and return at once.

    Parameters
    ----------
    pipeline, inputs, internal_shapes, output_names
        As for `hpcflow.map.run_map`.
    run_folder
        Where everything is written; must be on a filesystem the compute nodes share.
    scheduler
        ``"slurm"``, ``"pbs"``, ``"torque"``, ``"local"`` (a detached runner on this
        machine), a registered name, ``"package.module:Class"``, or a `Scheduler`.
    chunksizes
        Elements per array task, as for ``map``. Automatic (``None``): the chunk policy
        (`hpcflow.plan.policy`) makes a few tasks per slot the partition can run for the
        func's resources, never shorter than ``min_task_time`` when the element time is
        known (``Func(element_time=...)``, or measured in later rounds), within
        ``MaxArraySize`` and the partition's ``MaxTime``. ``hpcflow submit --dry-run``
        says why each size was chosen.
    storage
        Storage backend (or a dict by output); must be persistent. Default
        ``"chunked_file_array"``: one file per chunk, written once by its task.
    max_parallel
        Most tasks of each array running at once (SLURM ``--array=...%N``).
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
    fuse
        Run a func that reads its upstream element by element, with the same resources,
        in the upstream's array tasks, right after it (one array, no dependency wait).
        ``False`` gives every func its own arrays.
    max_task_walltime
        Longest time limit an array task may ask for (seconds or ``"D-HH:MM:SS"``), if
        shorter than the partition's ``MaxTime``. A task asks for its elements'
        walltimes plus a start margin, so this bounds the elements per task.
    min_task_time
        Tasks of known element time are at least this long (default 60 s), unless they
        all fit in one wave of the cluster.
    task_margin
        Seconds added to each task's time limit for its start-up (default 60): a task
        of ``k`` elements asks for ``k * walltime + task_margin``.
    **scheduler_options
        Passed to the scheduler: for SLURM ``partition``, ``account``, ``qos``,
        ``setup`` (shell lines before each task), ``python``, ``extra_sbatch``; for
        ``"local"`` ``cpus``, ``memory``, ``state_dir`` and ``export`` (names of
        further environment variables the tasks get).

    Returns
    -------
    Run
        A handle to follow the run; `Run.open` gives the same from any process later.
    """
    sched, settings = _settings(
        scheduler, scheduler_options, max_parallel, retry, storage, fuse=fuse,
        max_task_walltime=max_task_walltime, min_task_time=min_task_time,
        task_margin=task_margin,
    )  # fmt: skip
    folder = RunFolder(run_folder)
    _check_per_output_keys(pipeline, chunksizes, storage)
    chooser = ChunkChooser(chunksizes, sched, settings, pipeline=pipeline)
    with run_lock(folder.path, "submit"):
        replacing = _check_fresh(folder, overwrite)
        if replacing:
            refuse_if_live(folder.path)  # its tasks would go on writing into the new run
        # the old run is only deleted once its replacement is submitted
        aside = folder.set_aside() if replacing else None
        try:
            orun = _open(
                pipeline, inputs, folder.path, internal_shapes=internal_shapes,
                output_names=output_names, chooser=chooser, storage=storage,
                error_handling=error_handling,
            )  # fmt: skip
            # the run's identity, which its tasks check before writing (`check_run_id`)
            folder.update_meta(run_id=settings["run_id"])
            # what status counts as complete: every func planned, not just those recorded
            settings["planned_funcs"] = [f.output_names[0] for f in orun.pipeline.sorted_funcs]
            write_settings(folder, settings, {"pipeline": orun.pipeline, "chunksizes": chunksizes})
            Round(orun, folder, sched, settings, chooser, index=0).run()
        except BaseException:
            _remove_fresh(folder)
            if aside is not None:
                folder.restore(aside)
            raise
        if aside is not None:
            shutil.rmtree(aside, ignore_errors=True)
    return Run(folder, settings, sched)


def plan_submission(
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
    error_handling: Literal["raise", "continue"] = "continue",
    retry: RetryLike | None = None,
    fuse: bool = True,
    max_task_walltime: int | float | str | None = None,
    min_task_time: int | float | str | None = None,
    task_margin: int | float | None = None,
    **scheduler_options: Any,
) -> SubmissionPlan:
    """What `submit` with these arguments would submit; nothing is written or submitted.

    Everything is validated as by `submit`, and every job script is rendered. The
    scheduler may be asked for its limits (``scontrol show config``), never to submit.
    """
    sched, settings = _settings(
        scheduler, scheduler_options, max_parallel, retry, storage, fuse=fuse,
        max_task_walltime=max_task_walltime, min_task_time=min_task_time,
        task_margin=task_margin,
    )  # fmt: skip
    folder = RunFolder(run_folder)
    _check_per_output_keys(pipeline, chunksizes, storage)
    chooser = ChunkChooser(chunksizes, sched, settings, pipeline=pipeline, tolerate_errors=True)
    work = Path(tempfile.mkdtemp(prefix="hpcflow-plan-"))
    try:
        orun = _open(
            pipeline, inputs, work, internal_shapes=internal_shapes, output_names=output_names,
            chooser=chooser, storage=storage, error_handling=error_handling,
        )  # fmt: skip
        planner = Round(orun, folder, sched, settings, chooser, index=0, dry_run=True)
        planner.run()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return SubmissionPlan(
        folder.path, sched.name, planner.arrays, planner.deferred_names, planner.notes
    )


def _check_per_output_keys(pipeline: Pipeline, chunksizes: ChunkSizes, storage: Any) -> None:
    """``chunksizes`` and a ``storage`` dict checked against the pipeline's outputs."""
    outputs = [f.output_names for f in pipeline.funcs]
    check_chunksizes(chunksizes, outputs)
    if isinstance(storage, Mapping):
        check_output_keys("storage", storage, outputs)


def _settings(
    scheduler: str | Scheduler,
    scheduler_options: Mapping[str, Any],
    max_parallel: int | None,
    retry: RetryLike | None,
    storage: str | Mapping[Any, str] | None,
    *,
    fuse: bool,
    max_task_walltime: int | float | str | None,
    min_task_time: int | float | str | None,
    task_margin: int | float | None,
) -> tuple[Scheduler, dict[str, Any]]:
    """Validate the submit options; the scheduler and the settings ``submit.json`` holds."""
    sched = get_scheduler(scheduler, scheduler_options)
    if not isinstance(fuse, bool):
        raise InputError(f"fuse={fuse!r} must be True or False")
    durations = {}
    for name, value in (("max_task_walltime", max_task_walltime), ("min_task_time", min_task_time)):
        try:
            durations[name] = None if value is None else parse_walltime(value)
        except SpecError as e:
            raise InputError(f"{name}={value!r}: {e}") from None
    if task_margin is not None and (
        isinstance(task_margin, bool)
        or not isinstance(task_margin, int | float)
        or not 0 <= task_margin < float("inf")
    ):
        raise InputError(f"task_margin={task_margin!r} must be a number of seconds >= 0")
    default_retry = Retry.from_value(retry)
    if max_parallel is not None and (isinstance(max_parallel, bool) or max_parallel < 1):
        raise InputError(f"max_parallel={max_parallel!r} must be an int >= 1 or None")
    names = storage.values() if isinstance(storage, Mapping) else [storage or DEFAULT_STORAGE]
    for name in names:
        if not get_storage_class(name).persistent:
            raise InputError(
                f"storage={name!r} keeps values in one process's memory; a submitted run needs "
                f"a persistent backend such as {DEFAULT_STORAGE!r}, 'file_array' or "
                "'zarr_file_array'"
            )
    settings = {
        "format_version": _SETTINGS_VERSION,
        "run_id": uuid.uuid4().hex[:8],
        "scheduler": scheduler_ref(sched),
        "scheduler_options": sched.options(),
        "max_parallel": max_parallel,
        "retry": None if default_retry is None else default_retry.to_dict(),
        "workdir": os.getcwd(),
        "submitted_at": time.time(),
        "fuse": fuse,
        "task_margin": task_margin,
        **durations,
    }
    return sched, settings


def _open(
    pipeline: Pipeline,
    inputs: Mapping[str, Any],
    path: Path,
    *,
    internal_shapes: Mapping[str, Any] | None,
    output_names: Iterable[str | tuple[str, ...]] | None,
    chooser: ChunkChooser,
    storage: str | Mapping[Any, str] | None,
    error_handling: Literal["raise", "continue"],
) -> OpenRun:
    """Open a fresh run in ``path``: validate inputs, write them, allocate what is known."""
    if output_names is not None:
        names = [output_names] if isinstance(output_names, str) else list(output_names)
        flat = [n for x in names for n in (x if isinstance(x, tuple) else (x,))]
        pipeline = Pipeline(
            pipeline.ancestors(flat),
            default_resources=pipeline.default_resources,
            validate_type_annotations=pipeline.validate_type_annotations,
        )
    return OpenRun(
        pipeline, inputs, path, internal_shapes, storage=storage or DEFAULT_STORAGE,
        error_handling=error_handling, chunk_size=chooser,
    )  # fmt: skip


def _check_fresh(folder: RunFolder, overwrite: bool) -> bool:
    """Whether ``folder`` holds a run that ``overwrite`` replaces (False: it is new)."""
    if not folder.exists() and not folder.settings_path.exists():
        if folder.path.exists() and any(p != folder.lock_path for p in folder.path.iterdir()):
            asides = sorted(folder.path.glob(f"{ASIDE_PREFIX}*"))
            if asides:
                raise RunFolderError(
                    f"run_folder {folder.path} holds a run that a replacing submit set aside "
                    f"in {asides[0]} and was stopped before it finished; move that folder's "
                    "entries back into the run folder to keep the old run, or delete it"
                )
            raise RunFolderError(
                f"run_folder {folder.path} is not empty and holds no hpcflow run; choose a new "
                "or empty folder"
            )
        return False
    if not overwrite:
        raise RunFolderError(
            f"run_folder {folder.path} already holds a run; open it with "
            f"hpcflow.Run.open({str(folder.path)!r}), choose a new folder, or pass "
            "overwrite=True to replace it (only what hpcflow wrote there is removed)"
        )
    return True


def _remove_fresh(folder: RunFolder) -> None:
    """Undo a first submission that failed before its jobs were all submitted."""
    with contextlib.suppress(RunFolderError):
        folder.prepare_fresh()
