"""The ``hpcflow`` command line, run as a user runs it (a subprocess per command)."""

from __future__ import annotations

import json
import os
import re
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
    (project / "mapped").mkdir()
    (project / "mapped" / "run.json").write_text("{}")
    missing = _cli("status", project / "mapped", check=False)
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


# ------------------------------------------------------------ exit codes and views
FRAGILE = textwrap.dedent("""
    import time
    import hpcflow

    @hpcflow.func("y", mapspec="x[i] -> y[i]")
    def fragile(x):
        if x == 3:
            raise ValueError(f"bad x={x}")
        return 2 * x

    @hpcflow.func("y", mapspec="x[i] -> y[i]")
    def slow(x):
        time.sleep(60)
        return x

    pipeline = hpcflow.Pipeline([fragile])
    slow_pipeline = hpcflow.Pipeline([slow])
""")


def _submit_file(project: Path, name: str, folder: Path, *extra: str) -> None:
    (project / "fragile.py").write_text(FRAGILE)
    _cli(
        "submit", f"{project / 'fragile.py'}:{name}", "--inputs", project / "inputs.json",
        "--run-folder", folder, "--scheduler", "local", "--chunksize", "2", *extra,
    )  # fmt: skip


def test_wait_and_status_exit_1_when_elements_failed(project: Path) -> None:
    folder = project / "run"
    _submit_file(project, "pipeline", folder)
    waited = _cli("wait", folder, check=False)
    assert waited.returncode == 1, waited.stdout + waited.stderr
    assert _cli("status", folder, check=False).returncode == 1
    data = json.loads(_cli("status", folder, "--json", check=False).stdout)
    assert data["state"] == "failed" and data["exit_code"] == 1
    (y,) = data["outputs"]
    assert (y["name"], y["total"], y["done"], y["failed"]) == ("y", 7, 6, 1)
    assert y["examples"] == [{"index": [3], "error": "ValueError: bad x=3"}]
    assert data["job_ids"] and data["scheduler"] == "local"
    # the --tasks view: submitted, first start and last end of each finished array
    tasks = _cli("status", folder, "--tasks", check=False).stdout
    (row,) = [line for line in tasks.splitlines() if line.startswith(data["job_ids"][0] + " ")]
    assert len(re.findall(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", row)) == 3, tasks


def test_failures_lists_the_element_its_inputs_error_and_log(project: Path) -> None:
    folder = project / "run"
    _submit_file(project, "pipeline", folder)
    _cli("wait", folder, check=False)
    out = _cli("failures", folder, check=False)
    assert out.returncode == 1
    assert "y[3]: ValueError: bad x=3" in out.stdout and "inputs: x=3" in out.stdout
    log = next(line for line in out.stdout.splitlines() if "log:" in line).split("log: ")[1]
    assert Path(log).is_file() and "hpcflow worker" in Path(log).read_text()
    assert "--output y --index 3" in out.stdout
    # the log of the task that computed element 3 (task 1: elements 2 and 3)
    printed = _cli("logs", folder, "--output", "y", "--index", "3")
    assert printed.stdout == Path(log).read_text()
    assert _cli("logs", folder, "--output", "y", "--index", "3", "--path").stdout.strip() == log
    bad = _cli("logs", folder, "--output", "nope", "--index", "3", check=False)
    assert bad.returncode == 2 and "its outputs are ['y']" in bad.stderr
    out_of_range = _cli("logs", folder, "--output", "y", "--index", "70", check=False)
    assert out_of_range.returncode == 2 and "has shape (7,)" in out_of_range.stderr


KILLED = textwrap.dedent("""
    import os, signal
    import hpcflow

    @hpcflow.func("y", mapspec="x[i] -> y[i]")
    def dies(x):
        if x == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # the task dies: no function raised
        return x

    pipeline = hpcflow.Pipeline([dies])
""")


def test_failures_of_a_run_whose_task_died_points_at_the_lost_elements(project: Path) -> None:
    # "no failed elements" alone, after status said FAILED, sent a newcomer nowhere: the
    # elements were lost with their task, which failures does not list.
    (project / "killed.py").write_text(KILLED)
    folder = project / "run"
    _cli(
        "submit", f"{project / 'killed.py'}:pipeline", "--inputs", project / "inputs.json",
        "--run-folder", folder, "--scheduler", "local", "--chunksize", "2",
    )  # fmt: skip
    assert _cli("wait", folder, check=False).returncode == 1
    out = _cli("failures", folder, check=False)
    assert out.returncode == 0  # no function raised (the documented exit code)
    assert "no failed elements" in out.stdout
    assert "2 elements were lost with their tasks (FAILED: 2)" in out.stdout, out.stdout
    assert f"hpcflow status {folder} --tasks" in out.stdout.replace("'", "")
    assert f"hpcflow resume {folder}" in out.stdout.replace("'", "")


def test_a_traceback_names_the_users_file_and_line(project: Path) -> None:
    folder = project / "run"
    _submit_file(project, "pipeline", folder)
    _cli("wait", folder, check=False)
    from hpcflow import Run

    (snap,) = Run.open(folder).failures("y").values()
    assert f'File "{project / "fragile.py"}", line 8, in fragile' in snap.traceback


def test_resume_with_only_failed_elements_says_how_to_retry(project: Path) -> None:
    folder = project / "run"
    _submit_file(project, "pipeline", folder)
    _cli("wait", folder, check=False)
    out = _cli("resume", folder, check=False)
    assert out.returncode == 1
    assert "1 elements failed" in out.stdout and "--retry-failed" in out.stdout


def test_running_exits_3_cancelled_exits_4_and_a_second_cancel_says_so(project: Path) -> None:
    folder = project / "run"
    _submit_file(project, "slow_pipeline", folder)
    running = _cli("status", folder, check=False)
    assert running.returncode == 3, running.stdout
    timed_out = _cli("wait", folder, "--timeout", "1", check=False)
    assert timed_out.returncode == 3 and "still active" in timed_out.stderr
    tasks = _cli("status", folder, "--tasks", check=False).stdout
    from hpcflow import Run

    (job,) = Run.open(folder).job_ids()
    assert "JOBID" in tasks and job in tasks and "TASKS" in tasks and "FIRST START" in tasks
    queued = _cli("queue", "--state-dir", project / "queue").stdout
    assert "JOBID" in queued and f"\n{job} " in queued and "(1 unfinished jobs" in queued
    first = _cli("cancel", folder).stdout
    assert "queued or running tasks" in first
    waited = _cli("wait", folder, check=False)
    assert waited.returncode == 4, waited.stdout
    assert "already cancelled" in _cli("cancel", folder).stdout
    assert "(0 unfinished jobs" in _cli("queue", "--state-dir", project / "queue").stdout
    every = _cli("queue", "--state-dir", project / "queue", "--all").stdout
    assert f"\n{job} " in every and "CANCELLED:" in every


def test_version_and_exit_code_epilog() -> None:
    import hpcflow

    out = _cli("--version")
    assert out.returncode == 0 and out.stdout.startswith(f"hpcflow {hpcflow.__version__} ")
    helped = _cli("--help")
    assert "3 still queued or running" in helped.stdout


def test_misleading_messages_are_gone(project: Path) -> None:
    nowhere = _cli("status", project / "nowhere", check=False)
    assert nowhere.returncode == 2 and "does not exist" in nowhere.stderr
    (project / "empty").mkdir()
    empty = _cli("status", project / "empty", check=False)
    assert empty.returncode == 2 and "holds no hpcflow run" in empty.stderr
    no_lock = _cli("unlock", project / "empty")
    assert "has no lock; nothing to do" in no_lock.stdout
    from hpcflow.runfolder.lock import run_lock

    with run_lock(project / "empty", "submit"):  # held by this live process
        refused = _cli("unlock", project / "empty", check=False)
        assert refused.returncode == 2 and "held by a live submit" in refused.stderr
        assert (project / "empty" / "lock").exists()
        forced = _cli("unlock", project / "empty", "--force")
        assert "removed the lock" in forced.stdout
    assert not list((project / "empty").iterdir())
    (project / "bad.json").write_text('{"x": [1, 2,')
    bad = _cli(
        "submit", project / "sweep.py:pipeline", "--inputs", project / "bad.json",
        "--run-folder", project / "r", "--scheduler", "local", check=False,
    )  # fmt: skip
    assert bad.returncode == 2 and "is not valid JSON" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_errors_speak_cli(project: Path) -> None:
    folder = project / "run 1"
    args = (
        "submit", project / "sweep.py:pipeline", "--inputs", project / "inputs.json",
        "--run-folder", folder, "--scheduler", "local",
    )  # fmt: skip
    _cli(*args)
    again = _cli(*args, check=False)
    assert again.returncode == 2 and "--overwrite" in again.stderr
    assert "overwrite=True" not in again.stderr and "hpcflow status" in again.stderr


def test_cli_words_cover_phrases_the_library_really_uses() -> None:
    # every phrase rewritten for the shell still occurs in the library's messages, and a
    # message with it reads as CLI advice
    from hpcflow.cli._main import _CLI_WORDS, cli_words

    source = "\n".join(
        p.read_text() for p in Path(__file__).parents[1].joinpath("hpcflow").rglob("*.py")
        if "cli" not in p.parts
    )  # fmt: skip
    phrases = {
        "overwrite=True": "pass --overwrite",
        "resume(retry_failed=True)": "hpcflow resume 'a b' --retry-failed",
        "retry_failed=True": "--retry-failed",
        "run.wait()": "hpcflow wait 'a b'",
        "run.cancel()": "hpcflow cancel 'a b'",
        "run.failures(name)": "hpcflow failures 'a b'",
        "hpcflow.Run.open('x')": "hpcflow status 'x'",
    }
    for phrase, expected in phrases.items():
        assert phrase.split("(")[0].split("=")[0] in source, phrase
        assert expected in cli_words(f"pass {phrase}", "a b"), phrase
    assert len(phrases) == len(_CLI_WORDS)


def test_a_cluster_option_with_the_local_scheduler_is_ignored_with_a_warning(
    tmp_path: Path,
) -> None:
    from hpcflow.schedulers.base import get_scheduler

    with pytest.warns(UserWarning, match="ignores partition='compute'"):
        sched = get_scheduler("local", {"partition": "compute", "state_dir": str(tmp_path)})
    assert "partition" not in sched.options()
    with pytest.raises(InputError, match="bad option for scheduler 'slurm'"):
        get_scheduler("slurm", {"queue": "q"})


@pytest.mark.parametrize("command", ["status", "report", "resume", "cancel", "unlock", "rerun"])
def test_a_run_folder_that_is_a_file_is_one_line_and_exit_2(project: Path, command: str) -> None:
    (project / "notes.txt").write_text("mine")
    extra = ["--output", "y", "--index", "0"] if command == "rerun" else []
    bad = _cli(command, project / "notes.txt", *extra, check=False)
    assert bad.returncode == 2, bad.stderr
    assert "is a file, not a folder" in bad.stderr and "Traceback" not in bad.stderr
    assert (project / "notes.txt").read_text() == "mine"
