"""Submitted campaigns: each round a job array, then a 1-CPU job that makes the next.

`submit` validates the campaign, writes the campaign folder (`_folder`), asks the
learner for round 0, submits it as an ordinary run in ``RUN/rounds/0/`` with
`hpcflow.Pipeline.submit`, and submits the follow-up job
``python -m hpcflow.adaptive.next RUN 0`` with an ``afterany`` dependency on every job
of the round. Then it returns: nothing stays alive. The follow-up job (`advance`)
tells the learner the round's results, stores it, checks the goals, and submits round
``k + 1`` and its own follow-up. `Campaign` follows, cancels and resumes a campaign
from any process.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcflow.adaptive._common import (
    Setup,
    fresh_folder,
    new_record,
    record_told,
    round_entry,
    setup,
)
from hpcflow.adaptive._folder import CampaignFolder
from hpcflow.adaptive._learn import (
    Goals,
    LearnSpec,
    ask_points,
    round_inputs,
    tell_round,
    values_of,
)
from hpcflow.errors import InputError, ResumeError, RunFolderError
from hpcflow.runfolder.lock import run_lock
from hpcflow.schedulers.base import (
    ArrayRequest,
    JobDependency,
    Scheduler,
    get_scheduler,
    scheduler_ref,
)
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.resources import Resources
from hpcflow.submission.handle import Run

__all__ = ["Campaign", "CampaignStatus", "advance", "resume", "submit"]

# A follow-up job finding its round still running (the round's own retries) submits
# itself again after the round's current jobs, at most this many times.
_MAX_REQUEUES = 20


def submit(
    pipeline: Pipeline,
    run_folder: str | Path,
    *,
    learner: Any,
    learn: Mapping[Any, str],
    inputs: Mapping[str, Any] | list[Mapping[str, Any]] | None = None,
    scheduler: str | Scheduler = "slurm",
    points_per_round: int = 12,
    loss_goal: float | None = None,
    max_points: int | None = None,
    max_rounds: int | None = None,
    **submit_options: Any,
) -> Campaign:
    """Submit an adaptive campaign and return at once; no process stays alive.

    Parameters
    ----------
    pipeline, learner, learn, inputs, points_per_round, loss_goal, max_points, max_rounds
        As for `hpcflow.adaptive.run`.
    run_folder
        The campaign folder (new or empty), on a filesystem the compute nodes share.
    scheduler
        As for `hpcflow.Pipeline.submit`: ``"slurm"``, ``"pbs"``, ``"local"``, ...
    **submit_options
        Passed to `hpcflow.Pipeline.submit` for every round (``chunksizes``, ``retry``,
        ``max_parallel``, ...), scheduler options included (``partition``,
        ``state_dir``, ...). Each round uses the pipeline's own resources.

    Returns
    -------
    Campaign
        ``campaign.wait()`` blocks until a goal is reached; `Campaign.open` gives the same
        handle from any process later.

    Examples
    --------
    A campaign on the local scheduler (``scheduler="slurm"`` on a cluster)::

        campaign = hpcflow.adaptive.submit(
            pipeline, "campaign", learner=adaptive.Learner1D(None, bounds=(-1, 1)),
            learn={"x": "y"}, inputs={"c": 20.0}, scheduler="local", loss_goal=0.01,
        )
        campaign.wait()
        learner = hpcflow.adaptive.load("campaign")
    """
    s = setup(
        pipeline, learner=learner, learn=learn, inputs=inputs, points_per_round=points_per_round,
        loss_goal=loss_goal, max_points=max_points, max_rounds=max_rounds,
    )  # fmt: skip
    for key in ("overwrite", "inputs", "run_folder", "output_names"):
        if key in submit_options:
            raise InputError(f"{key}= is chosen by hpcflow.adaptive.submit; remove it")
    run_opts = {k: v for k, v in submit_options.items() if k in _SUBMIT_KEYS}
    sched_opts = {k: v for k, v in submit_options.items() if k not in _SUBMIT_KEYS}
    sched = get_scheduler(scheduler, sched_opts)
    folder = fresh_folder(run_folder)
    record = new_record(
        s, "submitted", scheduler=scheduler_ref(sched), scheduler_options=sched.options(),
        workdir=os.getcwd(),
    )  # fmt: skip
    folder.write_spec({"pipeline": s.pipeline, "inputs": s.inputs, "options": run_opts})
    folder.write_learner(s.learner, [])
    folder.write(record)
    with run_lock(folder.path, "adaptive"):
        _next_round(folder, record, s, sched, 0)
    return Campaign(folder)


# Pipeline.submit's own keywords (everything else is a scheduler option)
_SUBMIT_KEYS = frozenset(
    {
        "chunksizes", "storage", "internal_shapes", "max_parallel", "error_handling", "retry",
        "fuse", "max_task_walltime", "min_task_time", "task_margin",
    }
)  # fmt: skip


def _setup_from(folder: CampaignFolder, record: dict[str, Any]) -> tuple[Setup, dict[str, Any]]:
    """The campaign as stored: its learner (last told), spec, goals, pipeline, inputs."""
    spec = folder.read_spec()
    learner, failed = folder.read_learner()
    for p in failed:  # pending points are not pickled: keep failed points from being re-asked
        learner.tell_pending(p)
    s = Setup(
        learner, LearnSpec.from_dict(record["learn"]), Goals(**record["goals"]),
        spec["pipeline"], spec["inputs"], int(record["points_per_round"]),
    )  # fmt: skip
    return s, {"options": spec["options"], "failed": failed}


def _scheduler(record: dict[str, Any]) -> Scheduler:
    return get_scheduler(record["scheduler"], record["scheduler_options"])


def _next_round(
    folder: CampaignFolder,
    record: dict[str, Any],
    s: Setup,
    sched: Scheduler,
    k: int,
    *,
    options: Mapping[str, Any] | None = None,
) -> bool:
    """Check the goals; if not reached, submit round ``k`` and its follow-up job.

    Returns whether a round was submitted (``False``: the campaign is done).
    """
    reason = s.goals.reached(s.learner, k)
    n = s.goals.points_left(s.learner, s.points_per_round)
    if reason is None and n:
        if folder.points_path(k).exists():  # a requeued follow-up: the same points again
            points = folder.read_points(k)
        else:
            points = ask_points(s.learner, n)
            folder.write_points(k, points)
    else:
        points = []
    if not points:
        record.update(state="done", reason=reason or "the learner asked for no points")
        folder.write(record)
        return False
    if len(record["rounds"]) == k:
        record["rounds"].append(round_entry(k, len(points)))
    folder.write(record)
    if options is None:
        options = folder.read_spec()["options"]
    sub = folder.round_path(k)
    if (sub / "submit.json").exists():
        run = Run.open(sub)  # submitted before a follow-up was stopped
    else:
        run = s.pipeline.submit(
            round_inputs(s.learner, points, s.spec, s.inputs), sub,
            scheduler=record["scheduler"], **record["scheduler_options"],
            output_names=[s.spec.output], **options,
        )  # fmt: skip
    record["rounds"][k]["run_id"] = run.run_id
    folder.write(record)
    _submit_follow_up(folder, record, sched, k, after=run.job_ids(), pipeline=s.pipeline)
    return True


def _submit_follow_up(
    folder: CampaignFolder,
    record: dict[str, Any],
    sched: Scheduler,
    k: int,
    *,
    after: list[str],
    pipeline: Pipeline,
) -> str:
    """Submit ``python -m hpcflow.adaptive.next RUN k`` after the jobs ``after``."""
    res = Resources(cpus=1).with_defaults(pipeline.default_resources)
    req = ArrayRequest(
        name=f"hpcflow-adaptive-next-{k}",
        argv=(sched.python, "-m", "hpcflow.adaptive.next", str(folder.path), str(k)),
        n_tasks=1, resources=res, log_dir=folder.log_folder(k),
        workdir=Path(record.get("workdir") or folder.path),
        dependencies=tuple(JobDependency(j, "any") for j in after),
    )  # fmt: skip
    job_id = sched.submit(req)
    record["rounds"][k].setdefault("follow_up_jobs", []).append(job_id)
    folder.write(record)
    return job_id


def advance(path: str | Path, k: int) -> str:
    """The follow-up job of round ``k``: tell its results, store the learner, go on.

    Safe to run twice (a requeued job): a round already told is not told again, and a
    round already submitted is not submitted again. Returns what it did, in words.
    """
    folder = CampaignFolder(path)
    if folder.cancelled_path.exists():
        return f"campaign {folder.path} was cancelled; round {k + 1} is not submitted"
    with run_lock(folder.path, "adaptive"):
        record = folder.read()
        if record["state"] != "running":
            return f"campaign {folder.path} is {record['state']}; nothing to do"
        if k >= len(record["rounds"]):
            raise RunFolderError(f"campaign {folder.path} has no round {k}")
        sched = _scheduler(record)
        s, extra = _setup_from(folder, record)
        entry = record["rounds"][k]
        if not entry["told"]:
            run = Run.open(folder.round_path(k))
            live = _live(sched, run.job_ids())
            if live:
                # the round's own retries are still running: wait for them too
                if len(entry.get("follow_up_jobs", [])) > _MAX_REQUEUES:
                    raise RunFolderError(f"round {k} of {folder.path} is still running")
                _submit_follow_up(folder, record, sched, k, after=live, pipeline=s.pipeline)
                return f"round {k} still has {len(live)} jobs running; follow-up resubmitted"
            told, failed = _tell(folder, s, k)
            extra["failed"].extend(failed)
            folder.write_learner(s.learner, extra["failed"])
            record_told(
                record, k, s.learner, n_told=told, n_failed=len(failed),
                total_failed=len(extra["failed"]),
            )  # fmt: skip
            folder.write(record)
        if k + 1 < len(record["rounds"]) and record["rounds"][k + 1].get("follow_up_jobs"):
            return f"round {k + 1} is submitted already"
        went_on = _next_round(folder, record, s, sched, k + 1, options=extra["options"])
        return f"round {k + 1} submitted" if went_on else f"done: {record['reason']}"


def _tell(folder: CampaignFolder, s: Setup, k: int) -> tuple[int, list[Any]]:
    """Tell the learner round ``k``'s stored values (missing ones are not told)."""
    points = folder.read_points(k)
    values = values_of(Run.open(folder.round_path(k)).load_outputs(s.spec.output))
    return tell_round(s.learner, points, values)


def _live(sched: Scheduler, job_ids: list[str]) -> list[str]:
    """The jobs of ``job_ids`` the scheduler says are queued or running (one query)."""
    return [j for j, n in sched.live_tasks(job_ids).items() if n]


@dataclass
class CampaignStatus:
    """Where a campaign is: rounds, points, the loss now, its goals and state.

    ``state`` is ``"running"``, ``"done"`` (a goal reached), ``"cancelled"``, or
    ``"stalled"`` (not done, and none of its jobs queued or running: resume it).
    """

    path: Path
    state: str
    reason: str | None
    rounds: int
    npoints: int
    n_failed: int
    loss: float | None
    goals: dict[str, Any]
    learner: str
    live_jobs: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        """Nothing more will happen without a call (done, cancelled or stalled)."""
        return self.state != "running"

    def __str__(self) -> str:
        goals = ", ".join(f"{k}={v}" for k, v in self.goals.items() if v is not None) or "none"
        loss = "unknown" if self.loss is None else f"{self.loss:.4g}"
        lines = [
            f"adaptive campaign {self.path}: {self.state}"
            + (f" ({self.reason})" if self.reason else ""),
            f"  learner {self.learner}: {self.rounds} rounds, {self.npoints} points told, "
            f"{self.n_failed} failed; loss {loss}",
            f"  goals: {goals}",
        ]
        if self.live_jobs:
            lines.append(f"  jobs queued or running: {', '.join(self.live_jobs)}")
        if self.state == "stalled":
            lines.append(
                "  no job of the campaign is queued or running: continue it with "
                f"hpcflow.adaptive.resume({str(self.path)!r})"
            )
        return "\n".join(lines)


class Campaign:
    """A submitted campaign. Get one from `submit` or with `Campaign.open`."""

    def __init__(self, folder: CampaignFolder) -> None:
        self.folder = folder

    @classmethod
    def open(cls, run_folder: str | Path) -> Campaign:
        """The campaign in ``run_folder`` (from any process, any time later)."""
        folder = CampaignFolder(run_folder)
        folder.read()  # refuses a folder without a campaign
        return cls(folder)

    @property
    def path(self) -> Path:
        return self.folder.path

    def __repr__(self) -> str:
        return f"Campaign({str(self.path)!r})"

    def job_ids(self) -> list[str]:
        """Every job of the campaign so far: the rounds' and the follow-ups'."""
        record = self.folder.read()
        ids: list[str] = []
        for entry in record["rounds"]:
            sub = self.folder.round_path(entry["index"])
            if (sub / "submit.json").exists():
                ids.extend(Run.open(sub).job_ids())
            ids.extend(entry.get("follow_up_jobs", []))
        return ids

    def status(self) -> CampaignStatus:
        """Rounds, points, loss and goals; the scheduler is asked once (while running)."""
        record = self.folder.read()
        state = record["state"]
        live: list[str] = []
        if self.folder.cancelled_path.exists() and state == "running":
            state = "cancelled"
        if state == "running" and record.get("mode") == "submitted":
            live = _live(_scheduler(record), self._current_jobs(record))
            if not live and self.folder.read()["updated_at"] == record["updated_at"]:
                state = "stalled"  # (re-read: a follow-up may have just moved on)
        return CampaignStatus(
            self.path, state, record.get("reason"), len(record["rounds"]),
            int(record["npoints"]), int(record["n_failed"]), record["loss"],
            dict(record["goals"]), record["learner"], live,
        )  # fmt: skip

    def _current_jobs(self, record: dict[str, Any]) -> list[str]:
        """The jobs of the last round, and the follow-ups of the last two rounds (the one
        before may be submitting the last round right now)."""
        ids: list[str] = []
        for entry in record["rounds"][-2:]:
            ids += entry.get("follow_up_jobs", [])
        if record["rounds"]:
            sub = self.folder.round_path(record["rounds"][-1]["index"])
            if (sub / "submit.json").exists():
                ids += Run.open(sub).job_ids()
        return ids

    def wait(self, timeout: float | None = None, *, poll_interval: float = 2.0) -> CampaignStatus:
        """Block until the campaign is done, cancelled or stalled; its final status.

        Raises
        ------
        TimeoutError
            If it is still running after ``timeout`` seconds.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        stalled = 0
        while True:
            st = self.status()
            # stalled twice in a row: a follow-up job that just ended has had its say
            stalled = stalled + 1 if st.state == "stalled" else 0
            if st.state in ("done", "cancelled") or stalled >= 2:
                return st
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"campaign {self.path} still running after {timeout} s:\n{st}")
            time.sleep(max(0.5, poll_interval))

    def cancel(self) -> None:
        """Stop the campaign: no round is submitted any more; the current jobs are cancelled."""
        self.folder.mark_cancelled()
        record = self.folder.read()
        if record.get("mode") != "submitted":
            return
        ids = self._current_jobs(record)
        if ids:
            _scheduler(record).cancel(ids)

    def resume(self) -> str:
        """Continue a stalled or cancelled campaign from its last stored learner.

        Round results not yet told are told (elements never computed are asked again),
        then the next round and its follow-up job are submitted. `ResumeError` if a job
        of the campaign is still queued or running.
        """
        record = self.folder.read()
        if record.get("mode") != "submitted":
            raise ResumeError(
                f"{self.path} is a local campaign (hpcflow.adaptive.run); run a new one"
            )
        if record["state"] == "done":
            return f"campaign {self.path} is done ({record['reason']}); nothing to resume"
        live = _live(_scheduler(record), self._current_jobs(record))
        if live:
            raise ResumeError(
                f"campaign {self.path} still has jobs queued or running ({', '.join(live)}); "
                "wait for them or cancel the campaign before resuming"
            )
        self.folder.cancelled_path.unlink(missing_ok=True)
        if not record["rounds"]:
            with run_lock(self.path, "adaptive"):
                s, _ = _setup_from(self.folder, record)
                went_on = _next_round(self.folder, record, s, _scheduler(record), 0)
            return "round 0 submitted" if went_on else "done"
        k = len(record["rounds"]) - 1
        if not (self.folder.round_path(k) / "submit.json").exists():
            # stopped between asking round k and submitting it: submit it now
            with run_lock(self.path, "adaptive"):
                s, _ = _setup_from(self.folder, record)
                _next_round(self.folder, record, s, _scheduler(record), k)
            return f"round {k} submitted"
        return advance(self.path, k)


def resume(run_folder: str | Path) -> str:
    """Continue the campaign in ``run_folder`` (`Campaign.resume`); what it did, in words."""
    return Campaign.open(run_folder).resume()
