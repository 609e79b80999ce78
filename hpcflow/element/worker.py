"""The job side: one array task of a submitted run.

``python -m hpcflow.worker [--run-id ID] RUN_FOLDER STAGE TASK`` computes task ``TASK`` of stage
``STAGE`` through the same `execute_chunk` as the local ``map``: elements already done
are skipped, so a requeued or resubmitted task only computes what is missing. Everything
it needs (pipeline, inputs, plan) was written to the run folder once, at submit time;
the task unpickles only the inputs its func reads. With ``--run-id`` (every submitted
task has it) the task first checks that the folder still holds that run, and again
before every store: a folder reused by a new run gets nothing from the old run's tasks.
Nothing here imports the submission
layer, a scheduler backend or the local engine.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from hpcflow.element.execute import execute_chunk
from hpcflow.element.openrun import OpenRun
from hpcflow.errors import RunFolderError, RunReplacedError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import StageRecord, read_saved, read_submissions

__all__ = ["WorkerInterrupted", "main", "run_task"]

# Exit code of an interrupted task: never 0, so the scheduler never records a chunk that
# did not finish as COMPLETED (a preempted task that exits 0 is not requeued).
INTERRUPTED_EXIT = 143
# Exit code of a task whose run folder now holds another run: it wrote nothing.
REPLACED_EXIT = 3


class WorkerInterrupted(BaseException):
    """The scheduler asked the task to stop (preemption, time limit, scancel).

    A BaseException, like KeyboardInterrupt, so that ``error_handling="continue"`` does
    not record it as the element's own failure: the element simply is not done.
    """


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise WorkerInterrupted(f"received {signal.Signals(signum).name}")


def run_task(
    run_folder: str,
    stage_name: str,
    task: int,
    *,
    job_id: str | None = None,
    attempt: int = 0,
    run_id: str | None = None,
) -> int:
    """Compute one task; the number of elements computed (0 if all were done).

    The task computes its stage's chunk, then the same chunk of every stage fused into
    it (`hpcflow.plan.stages.fuse_stages`), in order, each through `execute_chunk`.
    ``job_id`` and ``attempt`` (the scheduler's restart count) go into the markers.
    With ``run_id`` (the run the task was submitted for), `RunReplacedError` is raised
    before anything is written if the folder holds another run.
    """
    folder = RunFolder(run_folder)
    if run_id is not None:
        folder.check_run_id(run_id)
    stages = _find_stages(folder, stage_name)
    pipeline = read_saved(folder)["pipeline"]
    funcs = [pipeline.output_to_func[s.outputs[0]] for s in stages]
    size = stages[0].chunksize
    orun = OpenRun.reopen(folder, pipeline, only=funcs, chunk_size=lambda _f, _n: size)
    n = 0
    guard = None if run_id is None else folder.run_id_guard(run_id)
    for stage, f in zip(stages, funcs, strict=True):
        ftask = orun.prepare(f)
        if ftask is None:
            continue  # a single value computed by an earlier attempt
        ftask.job_id, ftask.attempt = job_id, attempt
        ftask.guard = guard
        n += execute_chunk(ftask, stage.task_elements(folder, task)).n_computed
    return n


def _find_stages(folder: RunFolder, name: str) -> list[StageRecord]:
    """Stage ``name`` and the stages fused into it (same submission), in plan order."""
    for sub in read_submissions(folder):
        for stage in sub.stages:
            if stage.name == name:
                return [stage, *(s for s in sub.stages if s.fused_into == name)]
    raise RunFolderError(f"{folder.path} has no stage {name!r}")


def main(argv: Sequence[str] | None = None, *, job_id: str | None = None, attempt: int = 0) -> int:
    """Entry point of ``python -m hpcflow.worker RUN_FOLDER STAGE TASK``."""
    parser = argparse.ArgumentParser(
        prog="python -m hpcflow.worker", description="Compute one array task of a run."
    )
    parser.add_argument("--run-id", default=None, help="the run this task belongs to")
    parser.add_argument("run_folder")
    parser.add_argument("stage")
    parser.add_argument("task", type=int)
    args = parser.parse_args(argv)
    t0 = time.time()
    # SIGTERM (preemption, scancel, the end of the grace time) and SIGUSR1 (a warning
    # before the time limit, if asked for) unwind execute_chunk, whose `finally` stores
    # every element already computed; the chunk marker is not written, so the chunk
    # does not count as finished and a requeued task computes only the rest.
    for sig in (signal.SIGTERM, signal.SIGUSR1):
        signal.signal(sig, _interrupt)
    print(f"hpcflow worker: {args.stage} task {args.task} in {args.run_folder}", flush=True)
    try:
        n = run_task(
            args.run_folder, args.stage, args.task, job_id=job_id, attempt=attempt,
            run_id=args.run_id,
        )  # fmt: skip
    except RunReplacedError as e:
        print(f"hpcflow worker: {e}", flush=True)
        return REPLACED_EXIT
    except WorkerInterrupted as e:
        print(f"hpcflow worker: interrupted ({e}) after {time.time() - t0:.2f} s; elements "
              "computed so far are stored", flush=True)  # fmt: skip
        return INTERRUPTED_EXIT
    print(
        f"hpcflow worker: computed {n} element{'' if n == 1 else 's'} in {time.time() - t0:.2f} s",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
