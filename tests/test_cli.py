"""The ``hpcflow`` command line, run as a user runs it (a subprocess per command)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hpcflow.cli import load_inputs, load_pipeline
from hpcflow.errors import InputError

PIPELINE = textwrap.dedent("""
    import hpcflow

    @hpcflow.func("y", mapspec="x[i] -> y[i]")
    def double(x):
        return 2 * x

    @hpcflow.func("total")
    def add(y):
        return int(sum(y))

    pipeline = hpcflow.Pipeline([double, add])
""")


def _cli(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpcflow.cli", *map(str, args)],
        capture_output=True, text=True, check=check, timeout=180, env=ENV,
    )  # fmt: skip


ENV: dict[str, str] = {}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    # the local scheduler's queue for these commands: never the user's own
    ENV.clear()
    ENV.update(os.environ, HPCFLOW_LOCAL_DIR=str(tmp_path / "queue"))
    (tmp_path / "sweep.py").write_text(PIPELINE)
    (tmp_path / "inputs.json").write_text(json.dumps({"x": list(range(7))}))
    return tmp_path


def test_submit_status_wait_from_the_shell(project: Path) -> None:
    folder = project / "run 1"
    queue = project / "queue"
    out = _cli(
        "submit", project / "sweep.py:pipeline", "--inputs", project / "inputs.json",
        "--run-folder", folder, "--scheduler", "local", "--chunksize", "3",
    ).stdout  # fmt: skip
    assert "submitted run" in out and "2 jobs" in out
    waited = _cli("wait", folder)
    assert "complete" in waited.stdout
    status = _cli("status", folder).stdout
    assert "total" in status and "complete" in status
    from hpcflow import Run

    assert Run.open(folder).load_outputs("total") == 42
    assert list((queue / "jobs").iterdir())  # the queue named by HPCFLOW_LOCAL_DIR


def test_dry_run_prints_arrays_and_script_and_submits_nothing(project: Path) -> None:
    folder = project / "run"
    out = _cli(
        "submit", project / "sweep.py:pipeline", "--inputs", project / "inputs.json",
        "--run-folder", folder, "--scheduler", "local", "--dry-run", "--chunksize", "1",
    ).stdout  # fmt: skip
    assert "dry run: 2 arrays" in out
    assert "stage 'y', 7 tasks" in out and "hpcflow.worker" in out
    assert "chunks: chunksizes=1 given" in out  # why this chunk size
    assert not folder.exists()


def test_errors_are_one_line_and_exit_2(project: Path) -> None:
    bad = _cli(
        "submit", project / "sweep.py:nothing", "--inputs", project / "inputs.json",
        "--run-folder", project / "r", "--scheduler", "local", check=False,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "has no attribute 'nothing'" in bad.stderr and "Traceback" not in bad.stderr
    missing = _cli("status", project / "nowhere", check=False)
    assert missing.returncode == 2 and "no submit.json" in missing.stderr


def test_load_inputs_formats(tmp_path: Path) -> None:
    np.savez(tmp_path / "in.npz", x=np.arange(3))
    assert load_inputs(tmp_path / "in.npz")["x"].tolist() == [0, 1, 2]
    (tmp_path / "in.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="mapping"):
        load_inputs(tmp_path / "in.json")
    (tmp_path / "in.txt").write_text("x")
    with pytest.raises(InputError, match="use .json"):
        load_inputs(tmp_path / "in.txt")


def test_load_pipeline_errors(project: Path) -> None:
    with pytest.raises(InputError, match="FILE.py:NAME"):
        load_pipeline("sweep.py")
    with pytest.raises(InputError, match="does not exist"):
        load_pipeline(str(project / "missing.py") + ":p")
    from hpcflow import Pipeline

    assert isinstance(load_pipeline(f"{project / 'sweep.py'}:pipeline"), Pipeline)
