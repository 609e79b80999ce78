"""Follow-up jobs: the one-task job after each submission that makes the next one.

It runs once every array of submission ``K - 1`` has ended, however it ended
(``afterany``): it plans the funcs whose shapes were unknown before and retries the
elements of failed tasks within each func's `hpcflow.Retry` policy
(`hpcflow.submission.retries`), as submission ``K``. The job runs
``python -m hpcflow.followup RUN_FOLDER K TASK`` on a compute node.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hpcflow.errors import RunReplacedError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import read_settings, read_submissions
from hpcflow.schedulers.base import get_scheduler
from hpcflow.submission.retries import describe, plan_retries
from hpcflow.submission.rounds import Round, reopen

__all__ = ["follow_up", "main"]

# Most seconds a follow-up waits for accounting to record the end of tasks that own
# missing elements (slurmdbd lags slurmctld by a few seconds).
_SETTLE = 60.0


def follow_up(folder: RunFolder, index: int, *, run_id: str | None = None) -> None:
    """Follow-up job ``index``: plan what was deferred, retry failed tasks (`plan_retries`).

    It runs after every array of submission ``index - 1`` has ended, and submits
    submission ``index`` (possibly empty: its record says what was not retried).
    With ``run_id``, `RunReplacedError` is raised first if the folder holds another run.
    """
    if run_id is not None:
        folder.check_run_id(run_id)
    if folder.cancelled_path.exists():
        print(f"hpcflow: run {folder.path} was cancelled; follow-up {index} submits nothing")
        return
    if folder.submission_path(index).exists():
        print(f"hpcflow: submission {index} exists already (a requeued follow-up); done")
        return
    settings = read_settings(folder)
    sched = get_scheduler(settings["scheduler"], settings["scheduler_options"])
    orun, chooser = reopen(folder, sched, settings, write_meta=True)
    subs = read_submissions(folder)
    missing = orun.missing()
    plan = plan_retries(
        orun, folder, subs, sched=sched, settings=settings, missing=missing, count=True,
        settle=_SETTLE,
    )  # fmt: skip
    print(f"hpcflow: follow-up {index}: to submit: {describe(plan)}")
    for note in plan.notes:
        print(f"hpcflow: not retried: {note}")
    planner = Round(
        orun, folder, sched, settings, chooser, index=index,
        planned=set(missing) - plan.todo, upstream_finished=True, elements=plan.elements,
        overrides=plan.overrides, retries=plan.retries, record_notes=plan.notes,
        attempts=plan.attempts,
    )  # fmt: skip
    planner.run()
    print(
        f"hpcflow: follow-up {index} submitted {len(planner.arrays)} arrays"
        + (f"; still deferred: {planner.deferred_names}" if planner.deferred_names else "")
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m hpcflow.followup [--run-id ID] RUN_FOLDER K [TASK]``."""
    parser = argparse.ArgumentParser(
        prog="python -m hpcflow.followup", description="Make submission K of a run."
    )
    parser.add_argument("--run-id", default=None, help="the run this job belongs to")
    parser.add_argument("run_folder")
    parser.add_argument("index", type=int)
    parser.add_argument("task", type=int, nargs="?", default=0)
    args = parser.parse_args(argv)
    try:
        follow_up(RunFolder(args.run_folder), args.index, run_id=args.run_id)
    except RunReplacedError as e:
        print(f"hpcflow: {e}", flush=True)
        return 3
    return 0
