"""Chunk sizes of a submitted run: the user's, or the chunk policy's.

`ChunkChooser` gathers what `hpcflow.plan.policy.choose_chunksize` reads, once per
func and element count: the slots of the func's resource shape and the longest task the
partition allows (`Scheduler.capacity`, one scheduler query per submission), the
scheduler's ``MaxArraySize``, the user's ``max_parallel``, ``max_task_walltime`` and
``min_task_time``, and the element cost: the func's ``element_time`` hint or, in later
rounds of a run (retries, follow-up jobs, resume), what its chunk markers measured.
It is the one `ChunkSizer` of a submission: storage chunks and task chunks agree.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from hpcflow.errors import InputError, SchedulerError
from hpcflow.plan.chunks import ChunkSizes, user_chunksize
from hpcflow.plan.policy import (
    DEFAULT_MIN_TASK_SECONDS,
    TASK_START_MARGIN,
    ChunkDecision,
    ChunkInputs,
    choose_chunksize,
    measured_element_seconds,
)
from hpcflow.plan.stages import default_chunksize
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.markers import read_markers
from hpcflow.schedulers.base import Capacity, Scheduler
from hpcflow.spec.func import Func
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources

__all__ = ["ChunkChooser", "task_margin", "task_resources"]


class ChunkChooser:
    """Elements per task for each func of one submission, and why.

    Parameters
    ----------
    chunksizes
        The user's ``chunksizes`` (``None``: the policy decides everything).
    scheduler
        Asked for its capacity and ``MaxArraySize`` (each once, then cached).
    settings
        The run's settings (``max_parallel``, ``max_task_walltime``, ``min_task_time``).
    folder
        A run folder whose chunk markers give measured element times (later rounds).
    notes
        Where to say what could not be asked (a dry run without a cluster).
    tolerate_errors
        A dry run: a scheduler that cannot be asked gives defaults and a note.
    """

    def __init__(
        self,
        chunksizes: ChunkSizes,
        scheduler: Scheduler,
        settings: Mapping[str, Any],
        *,
        pipeline: Pipeline,
        folder: RunFolder | None = None,
        notes: list[str] | None = None,
        tolerate_errors: bool = False,
    ) -> None:
        self.chunksizes = chunksizes
        self.scheduler = scheduler
        self.settings = settings
        self.pipeline = pipeline
        self.folder = folder
        self.notes = notes if notes is not None else []
        self._max_array_size: int | None = None
        self._tolerate = tolerate_errors
        self._capacity: dict[Resources, Capacity] = {}
        self._measured: dict[str, float | None] = {}
        self._decisions: dict[tuple[str, int], ChunkDecision] = {}

    def __call__(self, f: Func, n: int) -> int:
        return self.decide(f, n).chunksize

    def decide(self, f: Func, n: int) -> ChunkDecision:
        """The chunk size of ``f`` with ``n`` elements, with the reason a plan prints."""
        key = (f.output_names[0], n)
        if key not in self._decisions:
            self._decisions[key] = self._decide(f, n)
        return self._decisions[key]

    def _decide(self, f: Func, n: int) -> ChunkDecision:
        size = user_chunksize(self.chunksizes, f.output_names, n)
        if size is not None:
            return ChunkDecision(size, -(-n // size), f"chunksizes={size} given")
        resources = self.resources_of(f)
        cap = self.capacity(resources)
        slots = cap.slots
        max_parallel = self.settings.get("max_parallel")
        if max_parallel is not None:
            slots = max_parallel if slots is None else min(slots, max_parallel)
        if slots == 0:
            raise InputError(
                f"{f.name!r} asks for {_shape(resources)} per task, which no node can run "
                f"({cap.source}); ask for less, or choose another partition"
            )
        if slots is None:
            size = default_chunksize(n)
            return ChunkDecision(
                size, -(-n // size), f"capacity unknown ({cap.source}): at most 1,000 tasks"
            )
        limits = [x for x in (cap.max_task_seconds, self.settings.get("max_task_walltime")) if x]
        cost, known = self.element_seconds(f)
        decision = choose_chunksize(
            ChunkInputs(
                n, slots=max(1, slots), element_seconds=cost,
                max_array_size=self.max_array_size(),
                max_task_seconds=min(limits) if limits else None,
                element_walltime=resources.walltime,
                min_task_seconds=self.settings.get("min_task_time") or DEFAULT_MIN_TASK_SECONDS,
                task_margin=task_margin(self.settings),
            )
        )  # fmt: skip
        where = f"{cap.source}" + (f", {known}" if known else "")
        return ChunkDecision(decision.chunksize, decision.n_tasks, f"{where}: {decision.reason}")

    def max_array_size(self) -> int:
        """The scheduler's bound on one array (asked once)."""
        if self._max_array_size is None:
            try:
                self._max_array_size = self.scheduler.max_array_size()
            except SchedulerError as e:
                if not self._tolerate:
                    raise
                self.notes.append(
                    f"could not ask the scheduler for its array limit ({e}); using 1001"
                )
                self._max_array_size = 1001
        return self._max_array_size

    def resources_of(self, f: Func) -> Resources:
        """The resource shape the capacity is asked for (a callable's: the defaults)."""
        if f.resources is None or isinstance(f.resources, Resources):
            return self.pipeline.resources_for(f)
        return Resources().with_defaults(self.pipeline.default_resources)

    def capacity(self, resources: Resources) -> Capacity:
        if resources not in self._capacity:
            try:
                self._capacity[resources] = self.scheduler.capacity(resources)
            except SchedulerError as e:
                if not self._tolerate:
                    raise
                self.notes.append(f"could not ask the scheduler for its capacity ({e})")
                self._capacity[resources] = Capacity(None, None, "not asked")
        return self._capacity[resources]

    def element_seconds(self, f: Func) -> tuple[float | None, str]:
        """Seconds per element and where they come from: measured, hinted or unknown."""
        key = f.output_names[0]
        if key not in self._measured:
            measured = None
            if self.folder is not None:
                marker_dir = self.folder.marker_folder(f.output_names)
                measured = measured_element_seconds(read_markers(marker_dir))
            self._measured[key] = measured
        measured = self._measured[key]
        if measured is not None:
            return measured, "element time measured by this run"
        if f.element_time is not None:
            return f.element_time, "element_time given"
        return None, ""


def _shape(r: Resources) -> str:
    parts = [f"{r.cpus or 1} CPUs"]
    if r.memory is not None:
        parts.append(f"{r.memory / 2**20:.0f} MiB")
    if r.gpus:
        parts.append(f"{r.gpus} GPUs")
    if r.nodes:
        parts.append(f"{r.nodes} nodes")
    return ", ".join(parts)


def task_margin(settings: Mapping[str, Any]) -> float:
    """Seconds added to every task's time limit (``submit(task_margin=...)``)."""
    value = settings.get("task_margin")
    return TASK_START_MARGIN if value is None else float(value)


def task_resources(
    resources: Resources, elements_per_task: int, margin: float = TASK_START_MARGIN
) -> Resources:
    """What one task of ``elements_per_task`` elements asks the scheduler for.

    CPUs, memory and GPUs are per element (elements of a task run one after another);
    the time limit is the elements' walltimes plus a start margin
    (`hpcflow.plan.policy.task_walltime`).

    Examples
    --------
    >>> task_resources(Resources(walltime="0:10:00", memory="1GB"), 5).walltime
    3060
    >>> task_resources(Resources(memory="1GB"), 5).walltime is None
    True
    """
    if resources.walltime is None:
        return resources
    seconds = elements_per_task * resources.walltime + math.ceil(margin)
    return dataclasses.replace(resources, walltime=seconds)
