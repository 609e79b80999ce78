"""What local and submitted campaigns share: validating the arguments, the first record."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcflow.adaptive._folder import CAMPAIGN_VERSION, CampaignFolder
from hpcflow.adaptive._learn import (
    Goals,
    LearnSpec,
    check_learner,
    current_loss,
    prepare_pipeline,
    varying_inputs,
)
from hpcflow.errors import InputError, RunFolderError
from hpcflow.spec.pipeline import Pipeline

__all__ = ["Setup", "fresh_folder", "new_record", "record_told", "round_entry", "setup"]


@dataclass
class Setup:
    """A validated campaign: the learner (a copy), spec, goals, pipeline and inputs."""

    learner: Any
    spec: LearnSpec
    goals: Goals
    pipeline: Pipeline
    inputs: Any
    points_per_round: int


def setup(
    pipeline: Pipeline,
    *,
    learner: Any,
    learn: Any,
    inputs: Any,
    points_per_round: int,
    loss_goal: float | None,
    max_points: int | None,
    max_rounds: int | None,
) -> Setup:
    """Validate a campaign's arguments; the learner is copied, the caller's is untouched."""
    spec = LearnSpec.parse(learn)
    goals = Goals(loss_goal, max_points, max_rounds)
    if (
        isinstance(points_per_round, bool)
        or not isinstance(points_per_round, int)
        or points_per_round < 1
    ):
        raise InputError(f"points_per_round={points_per_round!r} must be an int >= 1")
    inputs = {} if inputs is None else inputs
    check_learner(learner, spec, inputs)
    goals.check_learner(learner)
    mapped = [*spec.coords, *varying_inputs(inputs)]
    prepared = prepare_pipeline(pipeline, spec, mapped)
    fixed = inputs if isinstance(inputs, Mapping) else list(inputs)
    return Setup(copy.deepcopy(learner), spec, goals, prepared, fixed, points_per_round)


def new_record(s: Setup, mode: str, **extra: Any) -> dict[str, Any]:
    """The first ``campaign.json`` of a campaign."""
    return {
        "format_version": CAMPAIGN_VERSION,
        "kind": "hpcflow-adaptive-campaign",
        "mode": mode,
        "learner": type(s.learner).__name__,
        "learn": s.spec.to_dict(),
        "goals": s.goals.to_dict(),
        "points_per_round": s.points_per_round,
        "rounds": [],
        "state": "running",
        "reason": None,
        "npoints": 0,
        "n_failed": 0,
        "loss": None,
        "created_at": time.time(),
        **extra,
    }


def round_entry(k: int, n_points: int) -> dict[str, Any]:
    """One round's entry in ``campaign.json`` before it is told."""
    return {"index": k, "n_points": n_points, "told": False, "n_told": 0, "n_failed": 0}


def record_told(
    record: dict[str, Any], k: int, learner: Any, *, n_told: int, n_failed: int, total_failed: int
) -> None:
    """Round ``k`` is told: its counts, and the campaign's points and loss now."""
    entry = record["rounds"][k]
    entry.update(told=True, n_told=n_told, n_failed=n_failed, loss=current_loss(learner))
    record.update(npoints=int(learner.npoints), n_failed=total_failed, loss=current_loss(learner))


def fresh_folder(path: str | Path) -> CampaignFolder:
    """A new campaign folder; `RunFolderError` if ``path`` holds anything already."""
    folder = CampaignFolder(path)
    if folder.path.exists() and any(folder.path.iterdir()):
        raise RunFolderError(
            f"run_folder {folder.path} is not empty; choose a new folder for the campaign, or "
            "continue the one there with hpcflow.adaptive.resume"
        )
    folder.path.mkdir(parents=True, exist_ok=True)
    return folder
