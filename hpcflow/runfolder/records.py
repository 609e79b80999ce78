"""What a submitted run records in its folder, next to ``run.json``.

Layout (added by `hpcflow.submission.submit`)::

    RUN_FOLDER/
      pipeline.cloudpickle        the pipeline, pickled once per run
      submit.json                 run id, scheduler and its options, submit settings
      stages/<k>.json             the stages submission k planned, with their job ids
      stages/<k>/<stage>.npy      a stage's elements, when they are not simply 0..n-1
      logs/<stage>/<job>_<i>.log  one log per array task (append mode: requeues keep output)
      cancelled                   present once `Run.cancel` ran: continuations stop

Submission 0 is ``submit`` itself; later ones are continuation jobs that planned
stages whose shapes were unknown at submit time. Each record is written by one process
at a time (submit, then each continuation in turn), atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from hpcflow.errors import RunFolderError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.storage._atomic import atomic_write_json, atomic_write_pickle

__all__ = [
    "CONTINUE_PREFIX",
    "ArrayRecord",
    "StageRecord",
    "SubmissionRecord",
    "latest_owners",
    "read_settings",
    "read_submissions",
    "stages_by_func",
    "write_settings",
]

# Stage names of continuation jobs start with this; no output name can (it is not an
# identifier character), so they never collide with a func's stage.
CONTINUE_PREFIX = ":continue-"


@dataclass
class ArrayRecord:
    """One submitted job array: tasks ``first_task .. first_task + n_tasks - 1`` of a stage."""

    index: int
    first_task: int
    n_tasks: int
    job_id: str | None = None


@dataclass
class StageRecord:
    """A planned stage as the worker and `Run.status` read it back."""

    name: str
    outputs: list[str]
    n_elements: int  # elements of the func's whole external shape (1 without a mapspec)
    size: int  # elements this stage computes (fewer than n_elements with resource groups)
    chunksize: int
    n_tasks: int
    resources: dict[str, Any]
    dependencies: list[tuple[str, Literal["aligned", "whole", "any"]]] = field(default_factory=list)
    arrays: list[ArrayRecord] = field(default_factory=list)
    elements_file: str | None = None  # relative to the run folder; None means 0..n-1

    def elements(self, folder: RunFolder) -> np.ndarray:
        if self.elements_file is None:
            return np.arange(self.n_elements, dtype=np.int64)
        elements: np.ndarray = np.load(folder.path / self.elements_file)
        return elements

    def task_elements(self, folder: RunFolder, task: int) -> np.ndarray:
        if not 0 <= task < self.n_tasks:
            raise RunFolderError(
                f"stage {self.name!r} has tasks 0..{self.n_tasks - 1}, not task {task}"
            )
        if self.elements_file is None:
            start = task * self.chunksize
            return np.arange(start, min(start + self.chunksize, self.n_elements), dtype=np.int64)
        return self.elements(folder)[task * self.chunksize : (task + 1) * self.chunksize]

    @property
    def is_continuation(self) -> bool:
        return self.name.startswith(CONTINUE_PREFIX)


@dataclass
class SubmissionRecord:
    """Stages one submission planned, and the outputs it left for a continuation.

    ``retries`` counts, per func (first output name), the automatic retries made so far,
    this submission included; ``notes`` say what a follow-up job decided not to do
    (retries used up, a resource at its cap), for `hpcflow.Run.status`.
    """

    index: int
    stages: list[StageRecord]
    deferred: list[str] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def write(self, folder: RunFolder) -> None:
        (folder.path / "stages").mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder.path / "stages" / f"{self.index}.json", asdict(self))

    def save_elements(self, folder: RunFolder, stage: StageRecord, elements: np.ndarray) -> None:
        rel = f"stages/{self.index}/{stage.name}.npy"
        (folder.path / "stages" / str(self.index)).mkdir(parents=True, exist_ok=True)
        with open(folder.path / f"{rel}.partial", "wb") as fh:
            np.save(fh, elements)
        (folder.path / f"{rel}.partial").replace(folder.path / rel)
        stage.elements_file = rel

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SubmissionRecord:
        stages = []
        for s in data["stages"]:
            arrays = [ArrayRecord(**a) for a in s.pop("arrays")]
            deps = [(u, k) for u, k in s.pop("dependencies")]
            stages.append(StageRecord(**s, arrays=arrays, dependencies=deps))
        return cls(
            data["index"],
            stages,
            list(data.get("deferred", [])),
            dict(data.get("retries", {})),
            list(data.get("notes", [])),
        )


def latest_owners(
    folder: RunFolder, stages: list[StageRecord], missing: np.ndarray
) -> list[tuple[StageRecord, np.ndarray]]:
    """For elements of one func, the latest of its ``stages`` holding each (a retry or a
    resume owns what it resubmitted); per owning stage, the elements' positions in it.

    ``stages`` are the func's stages in submission order; elements no stage holds are
    left out.
    """
    out = []
    remaining = np.asarray(missing, dtype=np.int64)
    for stage in reversed(stages):
        if not len(remaining):
            break
        elements = stage.elements(folder)
        hit = np.isin(remaining, elements)
        if hit.any():
            out.append((stage, np.searchsorted(elements, remaining[hit])))
            remaining = remaining[~hit]
    return out


def stages_by_func(subs: list[SubmissionRecord]) -> dict[str, list[StageRecord]]:
    """Every func's stages (by first output name), in submission order."""
    out: dict[str, list[StageRecord]] = {}
    for sub in subs:
        for stage in sub.stages:
            if not stage.is_continuation:
                out.setdefault(stage.outputs[0], []).append(stage)
    return out


def read_submissions(folder: RunFolder) -> list[SubmissionRecord]:
    """Every submission of the run, in order (empty for a run made by ``map``)."""
    out = []
    for path in sorted(
        (folder.path / "stages").glob("*.json"),
        key=lambda p: int(p.stem) if p.stem.isdigit() else -1,
    ):
        try:
            out.append(SubmissionRecord.from_dict(json.loads(path.read_text())))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise RunFolderError(f"{path} is corrupt: {e!r}") from None
    return out


def write_settings(folder: RunFolder, settings: dict[str, Any], pipeline: Any) -> None:
    atomic_write_pickle(folder.path / "pipeline.cloudpickle", pipeline)
    atomic_write_json(folder.path / "submit.json", settings)


def read_settings(folder: RunFolder) -> dict[str, Any]:
    path = folder.path / "submit.json"
    try:
        settings: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise RunFolderError(
            f"{folder.path} was not submitted to a scheduler (no submit.json); "
            "runs made by map() are loaded with load_outputs()"
        ) from None
    return settings
