"""The README's example runs as a user would run it, and resumes without recomputing."""

from __future__ import annotations

import os
import re
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


def test_main_module_lambdas_with_a_spawning_pool(tmp_path: Path) -> None:
    """Functions defined in ``__main__`` cross a *spawn* pool (plain pickle cannot)."""
    script = tmp_path / "script.py"
    script.write_text(
        "import multiprocessing as mp\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "import hpcflow\n"
        "offset = 5\n"
        "def shifted(x):\n"
        "    return x + offset\n"
        "if __name__ == '__main__':\n"
        "    p = hpcflow.Pipeline([\n"
        "        hpcflow.Func(shifted, 'y', mapspec='x[i] -> y[i]'),\n"
        "        hpcflow.Func(lambda y: y * 2, 'z', mapspec='y[i] -> z[i]'),\n"
        "    ])\n"
        "    with ProcessPoolExecutor(2, mp_context=mp.get_context('spawn')) as ex:\n"
        "        r = p.map({'x': [1, 2, 3]}, executor=ex, chunksizes=1)\n"
        "    print(r['z'].output.tolist())\n"
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    assert out.strip() == "[12, 14, 16]"


def test_sweep_example_submits_to_the_local_scheduler(tmp_path: Path) -> None:
    """The README's main command: submit to the local scheduler, wait, print results."""
    folder = tmp_path / "sweep"
    env = {**os.environ, "HPCFLOW_LOCAL_DIR": str(tmp_path / "queue")}
    cmd = [sys.executable, str(ROOT / "examples" / "sweep.py"), str(folder)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=300, env=env)
    assert "submitted run" in out.stdout and "3 job arrays" in out.stdout
    assert ": complete" in out.stdout
    # it shows progress while it waits, and says where results and logs are
    assert re.search(r"sweep: (\d+)/\1 elements done", out.stderr), out.stderr
    assert f"results: {folder}" in out.stdout and f"logs:    {folder}" in out.stdout
    best = hpcflow.Run.open(folder).load_outputs("best")
    assert len(best) == 12 and np.isclose(float(best[0]), np.exp(-2.0))
    assert list((tmp_path / "queue" / "jobs").iterdir())  # it really went through the queue
