"""The README's example runs as a user would run it, and resumes without recomputing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

import hpcflow

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_runs_and_resumes(weird_tmp_path: Path) -> None:
    folder = weird_tmp_path / "qs"
    cmd = [sys.executable, str(ROOT / "examples" / "quickstart.py"), str(folder)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120).stdout
    assert "energy: shape (6, 4)" in out
    assert "0.5: 0.1353" in out
    energy = hpcflow.map.load_outputs("energy", run_folder=folder)
    assert np.isclose(float(energy[0, 0]), np.exp(-2.0))
    before = {p: p.stat().st_mtime_ns for p in (folder / "outputs" / "energy").iterdir()}
    subprocess.run([*cmd, "--resume"], capture_output=True, text=True, check=True, timeout=120)
    after = {p: p.stat().st_mtime_ns for p in (folder / "outputs" / "energy").iterdir()}
    assert before == after  # nothing rewritten
