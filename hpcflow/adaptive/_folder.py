"""The campaign folder: every path of an adaptive campaign, and its records.

::

    RUN/campaign.json           settings, goals, one entry per round, state (JSON)
    RUN/campaign.cloudpickle    the (prepared) pipeline, fixed inputs, submit options
    RUN/learner.cloudpickle     the learner after the last round told, + failed points
    RUN/points/<k>.cloudpickle  the learner points of round k, as asked
    RUN/rounds/<k>/             round k: an ordinary hpcflow run folder
    RUN/logs/next-<k>/          the logs of the follow-up job after round k
    RUN/cancelled               written by cancel; follow-up jobs then submit nothing

Every file is written atomically (`hpcflow._atomic`), so a killed follow-up job leaves
the last complete learner and record.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from hpcflow._atomic import atomic_write_json, atomic_write_pickle, read_pickle
from hpcflow.errors import RunFolderError

__all__ = ["CAMPAIGN_VERSION", "CampaignFolder", "is_campaign"]

CAMPAIGN_VERSION = 1


def is_campaign(path: str | Path) -> bool:
    """Whether ``path`` is an adaptive campaign folder (it holds ``campaign.json``)."""
    return (Path(path) / "campaign.json").is_file()


class CampaignFolder:
    """The paths and records of one campaign folder."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).absolute()

    # ----------------------------------------------------------------- paths
    @property
    def record_path(self) -> Path:
        return self.path / "campaign.json"

    @property
    def spec_path(self) -> Path:
        return self.path / "campaign.cloudpickle"

    @property
    def learner_path(self) -> Path:
        return self.path / "learner.cloudpickle"

    @property
    def cancelled_path(self) -> Path:
        return self.path / "cancelled"

    def points_path(self, k: int) -> Path:
        return self.path / "points" / f"{k}.cloudpickle"

    def round_path(self, k: int) -> Path:
        return self.path / "rounds" / str(k)

    def log_folder(self, k: int) -> Path:
        return self.path / "logs" / f"next-{k}"

    # --------------------------------------------------------------- records
    def read(self) -> dict[str, Any]:
        """``campaign.json``; `RunFolderError` naming the folder if it holds no campaign."""
        try:
            record: dict[str, Any] = json.loads(self.record_path.read_text())
        except FileNotFoundError:
            raise RunFolderError(
                f"{self.path} holds no adaptive campaign (no campaign.json); pass the folder "
                "given to hpcflow.adaptive.submit or run"
            ) from None
        if record.get("format_version") != CAMPAIGN_VERSION:
            raise RunFolderError(
                f"{self.record_path} has format_version {record.get('format_version')!r}; "
                f"this hpcflow reads {CAMPAIGN_VERSION}: use the hpcflow that wrote it"
            )
        return record

    def write(self, record: dict[str, Any]) -> None:
        record["updated_at"] = time.time()
        atomic_write_json(self.record_path, record)

    def read_spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = read_pickle(self.spec_path)
        return spec

    def write_spec(self, spec: dict[str, Any]) -> None:
        atomic_write_pickle(self.spec_path, spec)

    def read_learner(self) -> tuple[Any, list[Any]]:
        """The stored learner and the points whose elements failed (kept pending)."""
        state = read_pickle(self.learner_path)
        return state["learner"], list(state["failed"])

    def write_learner(self, learner: Any, failed: list[Any]) -> None:
        atomic_write_pickle(self.learner_path, {"learner": learner, "failed": failed})

    def read_points(self, k: int) -> list[Any]:
        points: list[Any] = read_pickle(self.points_path(k))
        return points

    def write_points(self, k: int, points: list[Any]) -> None:
        self.points_path(k).parent.mkdir(parents=True, exist_ok=True)
        atomic_write_pickle(self.points_path(k), points)

    def mark_cancelled(self) -> None:
        atomic_write_json(self.cancelled_path, {"time": time.time()})
