"""Resume: submit what a finished run is missing, from any process."""

from __future__ import annotations

from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import read_settings, read_submissions
from hpcflow.schedulers.base import Scheduler, get_scheduler
from hpcflow.spec.pipeline import Pipeline
from hpcflow.submission.retries import plan_retries
from hpcflow.submission.rounds import Round, reopen
from hpcflow.submission.supersede import replace_pipeline, retire_errors

__all__ = ["resume_run"]

# Most seconds resume waits for accounting to record the end of tasks that own missing
# elements; it runs on a run already seen finished, so less than a follow-up job.
_SETTLE_RESUME = 10.0


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
    aside = folder.superseded_folder(len(subs))
    if pipeline is not None:
        replace_pipeline(folder, pipeline, aside)
    orun, chooser = reopen(folder, sched, settings, write_meta=True, recompute_damaged=True)
    if retry_failed:
        moved = retire_errors(orun, folder, aside)
        if moved:
            orun, chooser = reopen(
                folder, sched, settings, write_meta=True, recompute_damaged=True
            )  # storage listings changed
    orun.set_aside_damaged()  # damaged element files count as missing: computed again
    missing = orun.missing()
    if not any(v is None or len(v) for v in missing.values()):
        return 0
    plan = plan_retries(
        orun, folder, subs, sched=sched, settings=settings, missing=missing, count=False,
        settle=_SETTLE_RESUME,
    )  # fmt: skip
    folder.cancelled_path.unlink(missing_ok=True)
    planner = Round(
        orun, folder, sched, settings, chooser, index=len(subs),
        planned=set(missing) - plan.todo, elements=plan.elements, overrides=plan.overrides,
        retries=plan.retries, attempts=plan.attempts,
    )  # fmt: skip
    planner.run()
    return len(planner.arrays)
