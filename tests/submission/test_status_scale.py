"""Status of large submitted runs: counted without per-element temporaries."""

from __future__ import annotations

import sys
import tracemalloc
from pathlib import Path

import cloudpickle
import numpy as np

from hpcflow import Pipeline, Run, func
from hpcflow.runfolder.records import read_submissions
from hpcflow.runfolder.results import open_storage
from hpcflow.testing import FakeScheduler

cloudpickle.register_pickle_by_value(sys.modules[__name__])

N = 1_000_000
INDEX_ARRAY = N * 8  # bytes of one int64 array over every element


@func("y", mapspec="x[i] -> y[i]")
def double(x: float) -> float:
    return 2 * x


@func("z", mapspec="y[i] -> z[i]")
def add_one(y: float) -> float:
    return y + 1


def _submit(folder: Path, chunksizes: int) -> Run:
    pipeline = Pipeline([double, add_one])
    x = np.arange(N, dtype=np.float64)
    return pipeline.submit({"x": x}, folder, scheduler=FakeScheduler(), chunksizes=chunksizes)


def _peak_of_status(run: Run) -> tuple[int, object]:
    run.status()  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        status = run.status()
        return tracemalloc.get_traced_memory()[1], status
    finally:
        tracemalloc.stop()


def test_status_of_a_large_pending_run_holds_one_index_array(tmp_path: Path) -> None:
    run = _submit(tmp_path / "run", chunksizes=100_000)
    peak, status = _peak_of_status(run)
    for name in ("y", "z"):
        out = status.outputs[name]  # type: ignore[attr-defined]
        assert (out.total, out.done, out.pending) == (N, 0, N)
    # each func's pending element indices (2 funcs), plus small masks; before: 6.5x
    # one such array (copies for the sort, set membership and unique counts)
    assert peak < 2.5 * INDEX_ARRAY, peak


def test_status_of_a_nearly_done_large_run_holds_one_index_array(tmp_path: Path) -> None:
    run = _submit(tmp_path / "run", chunksizes=10_000)
    folder = run.folder
    meta = folder.read_meta()
    stage = next(s for s in read_submissions(folder)[0].stages if s.outputs == ["y"])
    stores = [open_storage(folder, name, meta) for name in ("y", "z")]
    missing_tasks = {7, 55}
    for task in range(stage.n_tasks):
        if task in missing_tasks:
            continue
        idx = stage.task_elements(folder, task)
        for store in stores:  # what the tasks' store_report writes
            store.dump_chunk(idx, idx.astype(np.float64).tolist())
    peak, status = _peak_of_status(run)
    for name in ("y", "z"):
        out = status.outputs[name]  # type: ignore[attr-defined]
        assert (out.done, out.pending) == (N - 20_000, 20_000)
    # the stage's element indices and masks; before: 4.3x one such array
    assert peak < 2 * INDEX_ARRAY, peak
