"""One real run on the local scheduler, shared by the report tests (it takes seconds).

Each element of ``y`` touches a 50 MB buffer and sleeps 1 s, so its markers' peak RSS
and times have known lower bounds; element 3 raises, so the report has a failure.
"""

from __future__ import annotations

import sys
import time

import cloudpickle
import pytest

from hpcflow import Pipeline, Run, func

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 300  # seconds; generous for a loaded machine, never reached when things work
BUFFER = 50_000_000
SLEEP = 1.0
N = 6
CHUNK = 2


# "400MB" is 400 MiB: hpcflow's memory units are binary (docs/resources.md)
@func("y", mapspec="x[i] -> y[i]", resources={"memory": "400MB", "walltime": 60})
def grow(x: int) -> int:
    buf = bytearray(BUFFER)
    for k in range(0, len(buf), 4096):  # touch every page: RSS, not just address space
        buf[k] = 1
    time.sleep(SLEEP)
    if x == 3:
        raise ValueError(f"x={x} is unlucky\nsecond line")
    return x + buf[0]


@func("total")
def count(y: object) -> int:
    return len(y)  # type: ignore[arg-type]


PIPELINE = Pipeline([grow, count])


@pytest.fixture(scope="package")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("report")
    run = PIPELINE.submit(
        {"x": list(range(N))}, root / "run", scheduler="local",
        state_dir=str(root / "queue"), chunksizes={"y": CHUNK},
    )  # fmt: skip
    status = run.wait(timeout=WAIT)
    assert status.finished
    return Run.open(run.path)
