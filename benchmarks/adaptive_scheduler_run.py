"""hpcflow pipelines as adaptive-scheduler learners, on a real SLURM (issue 17, item 5).

adaptive-scheduler is a peer, installed only for benchmarks (not by the test extra), so
this check lives here rather than in ``cluster_tests/``. Run it on the mini cluster,
from the benchmark environment that has ``pip install -e '.[adaptive-scheduler]'``::

    export SLURM_CONF=...   # the last line of cluster_tests/minislurm/up.sh
    python -m benchmarks.adaptive_scheduler_run /tmp/as-check

It starts adaptive-scheduler's RunManager (a process that must stay alive for the whole
campaign: that is its design), waits for the 1-D learner of ``tanh(20 x)`` to reach its
loss goal in a SLURM job, and checks every value the job computed. Prints the points,
the loss and the wall time; exits 1 if anything is wrong.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from pathlib import Path

import adaptive

import hpcflow.adaptive as ha
from hpcflow import Pipeline, func

WAIT = 600.0


@func("y")
def f(x: float, c: float) -> float:
    return math.tanh(c * x)


def main(folder: Path) -> int:
    s = ha.for_adaptive_scheduler(
        Pipeline([f]), folder, learners=[adaptive.Learner1D(None, bounds=(-1, 1))],
        learn={"x": "y"}, inputs={"c": 20.0}, loss_goal=0.05,
    )  # fmt: skip
    rm = s.run_manager(cores=1, python_executable=sys.executable)
    rm.job_manager_interval = 2
    t0 = time.monotonic()

    async def until_done() -> bool:
        rm.start()
        deadline = time.monotonic() + WAIT
        while not rm.task.done() and time.monotonic() < deadline:
            await asyncio.sleep(1)
        done = rm.task.done()
        rm.cancel()
        return bool(done)

    done = asyncio.run(until_done())
    learner = adaptive.Learner1D(None, bounds=(-1, 1))
    learner.load(str(s.fnames[0]))  # what the SLURM job computed and saved
    ok = (
        done
        and learner.npoints > 10
        and learner.loss() <= 0.05
        and all(v == math.tanh(20.0 * x) for x, v in learner.data.items())
    )
    print(
        f"adaptive-scheduler run: done={done}, {learner.npoints} points, "
        f"loss {learner.loss():.4f}, {time.monotonic() - t0:.1f} s, values correct={ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/as-check")))
