"""A run is complete only when every func it was submitted with is accounted for
(issue 13, item 5): not when the stages records are missing."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import cloudpickle

from hpcflow import Pipeline, Run, func
from hpcflow.cli import main as cli_main

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120  # seconds; generous for a loaded machine, never reached when things work


@func("y", mapspec="x[i] -> y[i]")
def double(x: int) -> int:
    return 2 * x


@func("total")
def add_all(y: object) -> int:
    return int(sum(y))  # type: ignore[call-overload]


def test_a_finished_run_whose_stages_were_deleted_is_not_complete(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    run = Pipeline([double, add_all]).submit(
        {"x": [1, 2, 3]}, folder, scheduler="local", state_dir=str(tmp_path / "queue")
    )
    assert run.wait(timeout=WAIT).complete
    shutil.rmtree(folder / "stages")
    status = Run.open(folder).status()
    assert status.finished and not status.complete
    assert status.state == "incomplete submission" and status.unplanned == ["y", "total"]
    text = str(status)
    assert f"run {folder}: incomplete submission" in text
    assert "not planned by any submission: ['y', 'total']" in text and "resume" in text
    assert cli_main(["wait", str(folder)]) == 1  # `hpcflow wait` exits non-zero


KILLED_WHILE_PLANNING = textwrap.dedent("""
    import os, signal, sys
    import hpcflow
    from hpcflow.testing import FakeScheduler

    def die(x):  # evaluated while planning: after submit.json, before stages/0.json
        os.kill(os.getpid(), signal.SIGKILL)

    @hpcflow.func("y", mapspec="x[i] -> y[i]", resources=die)
    def double(x):
        return 2 * x

    hpcflow.Pipeline([double]).submit({"x": [1, 2]}, sys.argv[1], scheduler=FakeScheduler())
""")


def test_a_run_whose_submitter_was_killed_while_planning_is_not_complete(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "run"
    script = tmp_path / "submit.py"
    script.write_text(KILLED_WHILE_PLANNING)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(
        [sys.executable, str(script), str(folder)], env=env, timeout=WAIT, check=False
    )
    assert proc.returncode == -9
    assert (folder / "submit.json").exists() and not (folder / "stages" / "0.json").exists()
    status = Run.open(folder).status()
    assert status.finished and not status.complete and status.unplanned == ["y"]
    assert "incomplete submission" in str(status)
    assert cli_main(["wait", str(folder)]) == 1


@func("y", mapspec="x[i] -> y[i]")
def fails_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_status_shows_a_failed_tasks_exit_code(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    run = Pipeline([fails_on_three]).submit(
        {"x": [1, 2, 3, 4]}, folder, scheduler="local", state_dir=str(tmp_path / "queue"),
        chunksizes=2, error_handling="raise",
    )  # fmt: skip
    status = run.wait(timeout=WAIT)
    assert status.failed_tasks == {"FAILED": 1}
    # the worker's uncaught ValueError ends the task with exit status 1
    assert "tasks that ended without success: FAILED: 1 (exit 1)" in str(status)
