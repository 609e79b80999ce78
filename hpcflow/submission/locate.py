"""Which array task computed an element, and where its log is.

The shell's ``hpcflow logs`` and ``hpcflow failures`` point at one task's log; this
module finds it from the submission records alone (no scheduler query): the latest
stage that held the element owns it (a resume or a retry owns what it resubmitted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcflow.errors import InputError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import StageRecord, latest_owners, read_submissions, stages_by_func
from hpcflow.schedulers.base import Scheduler

__all__ = ["TaskLocation", "func_key", "locate_element"]


@dataclass(frozen=True)
class TaskLocation:
    """The array task that computed (or was to compute) one element."""

    stage: StageRecord
    task: int  # the task within the stage
    job_id: str | None  # None if the array was never submitted
    array_index: int  # the task's index within its job array
    log: Path | None  # the task's log file (it may not exist yet)

    @property
    def label(self) -> str:
        if self.job_id is None:
            return f"stage {self.stage.job_stage!r} task {self.task} (never submitted)"
        return f"job {self.job_id}_{self.array_index} (stage {self.stage.job_stage!r})"


def func_key(folder: RunFolder, output: str) -> str:
    """The key of ``output``'s func in `stages_by_func`: the func's first output.

    Raises
    ------
    InputError
        If no stage of the run computes ``output``; the message lists the outputs.
    """
    names: list[str] = []
    for sub in read_submissions(folder):
        for stage in sub.stages:
            if stage.is_follow_up:
                continue
            if output in stage.outputs:
                return stage.outputs[0]
            names += [o for o in stage.outputs if o not in names]
    raise InputError(
        f"--output {output!r}: the run computes no such output; its outputs are {names}"
    )


def locate_element(
    folder: RunFolder, scheduler: Scheduler, output: str, linear_index: int
) -> TaskLocation:
    """The task of the latest submission that held element ``linear_index`` of ``output``.

    Raises
    ------
    InputError
        If ``output`` is not an output of the run, or no stage held that element.
    """
    stages = stages_by_func(read_submissions(folder))[func_key(folder, output)]
    owners = latest_owners(folder, stages, np.asarray([linear_index], dtype=np.int64))
    if not owners:
        raise InputError(f"no stage of the run computes element {linear_index} of {output!r}")
    stage, positions = owners[0]
    task = int(positions[0]) // stage.chunksize
    for a in stage.arrays:
        if a.first_task <= task < a.first_task + a.n_tasks:
            index = task - a.first_task
            if a.job_id is None:
                return TaskLocation(stage, task, None, index, None)
            log = scheduler.task_log(folder.logs_root / stage.job_stage, a.job_id, index)
            return TaskLocation(stage, task, a.job_id, index, log)
    return TaskLocation(stage, task, None, task, None)
