"""The job side: one array task of a submitted run.

``python -m hpcflow.worker RUN_FOLDER STAGE TASK`` computes task ``TASK`` of stage
``STAGE`` through the same `execute_chunk` as the local ``map``: elements already done
are skipped, so a requeued or resubmitted task only computes what is missing. Everything
it needs (pipeline, inputs, plan) was written to the run folder once, at submit time.
Stage names starting with ``:continue-`` are follow-up jobs (`follow_up`).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType

from hpcflow.errors import RunFolderError
from hpcflow.run.execute import execute_chunk
from hpcflow.run.folder import RunFolder
from hpcflow.run.records import CONTINUE_PREFIX, StageRecord, read_submissions
from hpcflow.run.submit import follow_up, reopen

__all__ = ["WorkerInterrupted", "main", "run_task"]

# Exit code of an interrupted task: never 0, so the scheduler never records a chunk that
# did not finish as COMPLETED (a preempted task that exits 0 is not requeued).
INTERRUPTED_EXIT = 143


class WorkerInterrupted(BaseException):
    """The scheduler asked the task to stop (preemption, time limit, scancel).

    A BaseException, like KeyboardInterrupt, so that ``error_handling="continue"`` does
    not record it as the element's own failure: the element simply is not done.
    """


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise WorkerInterrupted(f"received {signal.Signals(signum).name}")


def run_task(run_folder: str, stage_name: str, task: int) -> int:
    """Compute one task; the number of elements computed (0 if all were done)."""
    folder = RunFolder(run_folder)
    if stage_name.startswith(CONTINUE_PREFIX):
        follow_up(folder, int(stage_name.removeprefix(CONTINUE_PREFIX)))
        return 0
    stage = _find_stage(folder, stage_name)
    elements = stage.task_elements(folder, task)
    lrun, _ = reopen(folder, chunksizes={tuple(stage.outputs): stage.chunksize})
    f = lrun.pipeline.output_to_func[stage.outputs[0]]
    if f.mapspec is None and lrun._load_single(f):
        return 0  # computed by an earlier attempt
    ftask = lrun._prepare(f)
    assert ftask is not None
    report = execute_chunk(ftask, elements)
    if f.mapspec is None:
        _, outs = report.values[0]
        for name, value in zip(f.output_names, outs, strict=True):
            folder.write_single_output(name, value)
    return report.n_computed


def _find_stage(folder: RunFolder, name: str) -> StageRecord:
    for sub in read_submissions(folder):
        for stage in sub.stages:
            if stage.name == name:
                return stage
    raise RunFolderError(f"{folder.path} has no stage {name!r}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hpcflow.worker", description="Compute one array task of a run."
    )
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
        n = run_task(args.run_folder, args.stage, args.task)
    except WorkerInterrupted as e:
        print(f"hpcflow worker: interrupted ({e}) after {time.time() - t0:.2f} s; elements "
              "computed so far are stored", flush=True)  # fmt: skip
        return INTERRUPTED_EXIT
    print(f"hpcflow worker: computed {n} elements in {time.time() - t0:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
