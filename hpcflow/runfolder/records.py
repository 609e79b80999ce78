"""What a submitted run records in its folder, next to ``run.json``.

``pipeline.cloudpickle`` and ``submit.json`` (the settings) are written once by
``submit``; ``stages/<k>.json`` is `SubmissionRecord` ``k``: the stages it planned,
their arrays and job ids. Submission 0 is ``submit`` itself; later ones are made by
follow-up jobs (deferred shapes, retries) or by ``resume``. Each record is written by
one process at a time (submit, then each follow-up in turn), atomically.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from hpcflow._atomic import (
    atomic_write_json,
    atomic_write_npy,
    atomic_write_pickle,
    read_pickle,
)
from hpcflow.errors import RunFolderError
from hpcflow.runfolder.layout import RunFolder

__all__ = [
    "ArrayRecord",
    "StageRecord",
    "SubmissionRecord",
    "latest_owners",
    "read_saved",
    "read_settings",
    "read_submissions",
    "stages_by_func",
    "write_settings",
]


@dataclass
class ArrayRecord:
    """One submitted job array: tasks ``first_task .. first_task + n_tasks - 1`` of a stage."""

    index: int
    first_task: int
    n_tasks: int
    job_id: str | None = None


@dataclass
class StageRecord:
    """A planned stage as the worker and `Run.status` read it back.

    ``name`` is a label (job names, log folders); what a stage is lives in the other
    fields: ``kind`` ``"func"`` computes elements of the func whose first output is
    ``outputs[0]``; ``"follow-up"`` is the one-task job that makes the next submission.
    ``submission`` is the index of the submission that planned it. A stage with
    ``fused_into`` has no array of its own: the tasks of that stage compute it right
    after their own chunk (`hpcflow.plan.stages.fuse_stages`); its ``arrays`` hold the
    same job ids.
    """

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
    kind: Literal["func", "follow-up"] = "func"
    submission: int = 0
    fused_into: str | None = None  # the stage whose array tasks compute this one too

    @property
    def job_stage(self) -> str:
        """The stage whose job array runs this one (its logs are that stage's)."""
        return self.fused_into or self.name

    def elements(self, folder: RunFolder) -> np.ndarray:
        if self.elements_file is None:
            return np.arange(self.n_elements, dtype=np.int64)
        elements: np.ndarray = np.load(folder.path / self.elements_file)
        return elements

    def elements_at(self, folder: RunFolder, positions: np.ndarray) -> np.ndarray:
        """The stage's elements at ``positions`` (without making all 0..n-1 first)."""
        positions = np.asarray(positions, dtype=np.int64)
        if self.elements_file is None:
            return positions
        elements: np.ndarray = self.elements(folder)[positions]
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
    def is_follow_up(self) -> bool:
        return self.kind == "follow-up"


@dataclass
class SubmissionRecord:
    """Stages one submission planned, and the outputs it left for a follow-up job.

    ``retries`` counts, per func (first output name), the automatic retries made so far,
    this submission included; ``notes`` say what a follow-up job decided not to do
    (retries used up, a resource at its cap), for `hpcflow.Run.status`; ``attempts``
    say what this submission retried, why, and with which resources (the history a
    status shows).
    """

    index: int
    stages: list[StageRecord]
    deferred: list[str] = field(default_factory=list)
    retries: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    attempts: list[str] = field(default_factory=list)  # what this one retried, and why

    def write(self, folder: RunFolder) -> None:
        folder.stages_folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder.submission_path(self.index), asdict(self))

    def save_elements(self, folder: RunFolder, stage: StageRecord, elements: np.ndarray) -> None:
        rel = folder.stage_elements_path(self.index, stage.name)
        (folder.path / rel).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_npy(folder.path / rel, elements)
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
            list(data.get("attempts", [])),
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
        hit, positions = _positions(folder, stage, remaining)
        if len(positions):
            out.append((stage, positions))
            remaining = remaining[~hit]
    return out


def _positions(
    folder: RunFolder, stage: StageRecord, indices: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Which ``indices`` the stage holds (a mask), and their positions in its elements.

    One pass over ``indices`` (no set operation, no copy of the stage's elements when
    they are ``0..n-1``): at 10^7 elements ``np.isin`` alone took a second.
    """
    if stage.elements_file is None:  # elements 0..n_elements-1: the index is the position
        if not len(indices) or (indices.min() >= 0 and indices.max() < stage.n_elements):
            return np.ones(len(indices), dtype=bool), indices
        hit = (indices >= 0) & (indices < stage.n_elements)
        return hit, indices[hit]
    elements = stage.elements(folder)  # sorted (plan/stages.py keeps them so)
    if not len(elements):
        return np.zeros(len(indices), dtype=bool), np.zeros(0, dtype=np.int64)
    pos = np.searchsorted(elements, indices)
    hit = elements[np.minimum(pos, len(elements) - 1)] == indices
    return hit, pos[hit]


def stages_by_func(subs: list[SubmissionRecord]) -> dict[str, list[StageRecord]]:
    """Every func's stages (by first output name), in submission order."""
    out: dict[str, list[StageRecord]] = {}
    for sub in subs:
        for stage in sub.stages:
            if not stage.is_follow_up:
                out.setdefault(stage.outputs[0], []).append(stage)
    return out


def read_submissions(folder: RunFolder) -> list[SubmissionRecord]:
    """Every submission of the run, in order (empty for a run made by ``map``)."""
    out = []
    for path in sorted(
        folder.stages_folder.glob("*.json"),
        key=lambda p: int(p.stem) if p.stem.isdigit() else -1,
    ):
        try:
            out.append(SubmissionRecord.from_dict(json.loads(path.read_text())))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise RunFolderError(f"{path} is corrupt: {e!r}") from None
    return out


def write_settings(folder: RunFolder, settings: dict[str, Any], pipeline: Any) -> None:
    atomic_write_pickle(folder.pipeline_path, pipeline)
    atomic_write_json(folder.settings_path, settings)


def read_saved(folder: RunFolder) -> dict[str, Any]:
    """What ``submit`` pickled once: ``{"pipeline": ..., "chunksizes": ...}``."""
    saved: dict[str, Any] = read_pickle(folder.pipeline_path)
    return saved


def read_settings(folder: RunFolder) -> dict[str, Any]:
    path = folder.settings_path
    try:
        settings: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RunFolderError(
            f"{path} is corrupt ({e}): the run's scheduler and settings cannot be read; "
            "its results can still be loaded with hpcflow.map.load_outputs"
        ) from None
    except FileNotFoundError:
        if not folder.path.is_dir():
            raise RunFolderError(
                f"{folder.path} does not exist: no run was submitted there (check the path)"
            ) from None
        if not folder.exists():
            raise RunFolderError(
                f"{folder.path} holds no hpcflow run (no run.json or submit.json)"
            ) from None
        raise RunFolderError(
            f"{folder.path} was not submitted to a scheduler (no submit.json); "
            "runs made by map() are loaded with load_outputs()"
        ) from None
    return settings
