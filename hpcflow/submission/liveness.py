"""Whether a run folder's submitted run still has jobs queued or running.

Replacing such a run (a new ``map`` into the folder, ``submit(overwrite=True)``) would
mix two runs: the old tasks would go on writing into the new one. `refuse_if_live`
asks the scheduler about the job ids the old run recorded, in one batched query, and
refuses while any task is queued or running. (The old tasks also check the folder's
run id before every store, `hpcflow.runfolder.layout.RunFolder.check_run_id`; this
check keeps their work from being thrown away unasked.)
"""

from __future__ import annotations

from pathlib import Path

from hpcflow.errors import LiveRunError, RunFolderError, SchedulerError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import read_settings, read_submissions
from hpcflow.schedulers.base import get_scheduler

__all__ = ["live_jobs", "refuse_if_live"]


def live_jobs(run_folder: str | Path) -> list[str]:
    """Job ids of the folder's submitted run with a task queued or running.

    Empty when the folder holds no submitted run (no ``submit.json``) or every job
    has ended. A scheduler that cannot be asked raises `RunFolderError`: whether the
    old run is still running is then unknown.
    """
    folder = RunFolder(run_folder)
    if not folder.settings_path.exists():
        return []
    settings = read_settings(folder)
    ids = list(
        dict.fromkeys(
            a.job_id
            for sub in read_submissions(folder)
            for s in sub.stages
            for a in s.arrays
            if a.job_id is not None
        )
    )
    if not ids:
        return []
    try:
        sched = get_scheduler(settings["scheduler"], settings["scheduler_options"])
        live = sched.live_tasks(ids)
    except (SchedulerError, KeyError, TypeError, ValueError) as e:
        raise RunFolderError(
            f"run_folder {folder.path} holds a run submitted to "
            f"{settings.get('scheduler')!r}, and that scheduler cannot be asked whether its "
            f"jobs {ids} still run ({e}); replacing the run now could mix two runs: cancel "
            "those jobs where the scheduler runs (hpcflow cancel FOLDER), or use a new folder"
        ) from e
    return [j for j in ids if live.get(j)]


def refuse_if_live(run_folder: str | Path) -> None:
    """Raise `LiveRunError`, naming the jobs and the way out, if the run submitted to
    ``run_folder`` still has a task queued or running."""
    live = live_jobs(run_folder)
    if live:
        path = RunFolder(run_folder).path
        raise LiveRunError(
            f"run_folder {path} holds a submitted run whose jobs {live} are still queued or "
            f"running; replacing it now would mix two runs. Cancel them first "
            f"(hpcflow cancel {str(path)!r}, or hpcflow.Run.open(...).cancel()) and wait "
            "until they have ended, or wait for the run to finish (run.wait()), then retry"
        )
