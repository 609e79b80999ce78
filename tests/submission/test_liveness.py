"""A folder whose submitted run still has live jobs is not replaced (issue 13, item 2)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import cloudpickle
import pytest

import hpcflow
import hpcflow.map
from hpcflow import Pipeline, Run, func
from hpcflow.errors import LiveRunError, RunFolderError
from hpcflow.submission.liveness import live_jobs

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120  # seconds; generous for a loaded machine, never reached when things work


@func("y", mapspec="x[i] -> y[i]")
def held(x: int, gate: str) -> int:
    """Waits (bounded) until the file ``gate`` exists, so the run stays live meanwhile."""
    deadline = time.monotonic() + WAIT
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return 2 * x


def test_a_live_submitted_run_is_not_replaced_by_submit_or_map(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    gate = tmp_path / "gate"
    options = {"scheduler": "local", "state_dir": str(tmp_path / "queue")}
    old = Pipeline([held]).submit({"x": [1, 2], "gate": str(gate)}, folder, **options)
    assert isinstance(old, Run)
    try:
        ids = old.job_ids()
        assert live_jobs(folder) == ids
        new = Pipeline([held])
        with pytest.raises(LiveRunError) as info:
            new.submit({"x": [7], "gate": str(gate)}, folder, overwrite=True, **options)
        message = str(info.value)
        assert str(ids) in message and "hpcflow cancel" in message and ".cancel()" in message
        with pytest.raises(LiveRunError, match="hpcflow cancel"):
            new.map({"x": [7], "gate": str(gate)}, folder, parallel=False)
        # the engine's own entry points too, called directly
        with pytest.raises(LiveRunError, match="hpcflow cancel"):
            hpcflow.map.run_map(new, {"x": [7], "gate": str(gate)}, folder, parallel=False)
        with pytest.raises(LiveRunError, match="hpcflow cancel"):
            hpcflow.map.run_map_async(new, {"x": [7], "gate": str(gate)}, folder)
        # the old run is untouched: same id, its tasks still write into it
        assert json.loads((folder / "submit.json").read_text())["run_id"] == old.run_id
        assert json.loads((folder / "run.json").read_text())["run_id"] == old.run_id
    finally:
        gate.touch()
    status = old.wait(timeout=WAIT)
    assert status.complete, status
    assert old.load_outputs("y").tolist() == [2, 4]
    # once its jobs have ended, the folder may be replaced on purpose (a map never
    # clears a submitted run: issue 13, item 7)
    assert live_jobs(folder) == []
    with pytest.raises(RunFolderError, match="holds a submitted run"):
        Pipeline([held]).map({"x": [7], "gate": str(gate)}, folder, parallel=False)
    new_run = Pipeline([held]).submit(
        {"x": [7], "gate": str(gate)}, folder, overwrite=True, **options
    )
    assert new_run.wait(timeout=WAIT).complete
    assert new_run.load_outputs("y").tolist() == [14]


def test_a_folder_made_by_map_has_no_live_jobs(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    Pipeline([held]).map({"x": [1], "gate": str(tmp_path)}, folder, parallel=False)
    assert live_jobs(folder) == [] and live_jobs(tmp_path / "nothing") == []
    hpcflow.map.load_outputs("y", run_folder=folder)
