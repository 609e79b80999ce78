"""Automatic retries of failed tasks (local scheduler, which enforces memory and time).

Every run here really fails: the local scheduler kills a task over its memory
(``OUT_OF_MEMORY``) or its wall time (``TIMEOUT``), and a follow-up job resubmits it.
Each computation leaves one file in ``trace``, so the tests count what ran twice.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from hpcflow import Pipeline, Retry, Run, func
from hpcflow.errors import SpecError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import read_submissions

cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 180
MB = 2**20


def _trace(trace: str, x: int) -> None:
    Path(trace, f"{x}-{time.monotonic_ns()}").touch()  # one file per computation


def _computed(trace: Path) -> list[int]:
    return sorted(int(p.name.split("-")[0]) for p in trace.iterdir())


@func("z", mapspec="y[i] -> z[i]")
def twice(y: int) -> int:
    return 2 * y


def _submit(tmp_path: Path, funcs: list[Any], x: list[int], **kw: Any) -> tuple[Run, Path]:
    trace = tmp_path / "trace"
    trace.mkdir()
    run = Pipeline(funcs).submit(
        {"x": x, "trace": str(trace)}, tmp_path / "run", scheduler="local",
        state_dir=str(tmp_path / "queue"), chunksizes=1, **kw,
    )  # fmt: skip
    assert isinstance(run, Run)
    return run, trace


@func(
    "y", mapspec="x[i] -> y[i]", resources={"memory": "150MB"},
    retry=Retry(2, memory_factor=4),
)  # fmt: skip
def hungry(x: int, trace: str) -> int:
    _trace(trace, x)
    if x == 1:
        block = bytearray(300 * MB)  # over 150 MB, under the 600 MB of the retry
        block[::4096] = b"x" * len(block[::4096])  # touch every page: really resident
        time.sleep(4)  # long enough for the memory sampler
    return x + 100


def test_out_of_memory_is_retried_with_more_memory(tmp_path: Path) -> None:
    run, trace = _submit(tmp_path, [hungry, twice], [0, 1, 2])
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    assert run.load_outputs("z").tolist() == [200, 202, 204]
    subs = read_submissions(RunFolder(run.path))
    # submission 0 and its follow-up's retry; the retry's own follow-up found nothing
    retry = subs[1]
    assert [s.name for s in retry.stages if not s.is_follow_up] == ["y@1", "z@1"]
    y1 = next(s for s in retry.stages if s.name == "y@1")
    assert y1.resources["memory"] == 600 * MB and y1.size == 1
    assert retry.retries == {"y": 1}
    assert subs[-1].stages == [] and subs[-1].notes == []
    # only the killed element ran twice
    assert _computed(trace) == [0, 1, 1, 2]
    # after the retry, the status still says what happened
    history = (
        "submission 1: y: 1 elements in tasks that ended OUT_OF_MEMORY: retry 1 with memory 600 MiB"
    )
    assert status.history == [history]
    assert f"attempt history: {history}" in str(run.status())


@func(
    "y", mapspec="x[i] -> y[i]", resources={"walltime": 3},
    retry=Retry(1, walltime_factor=4),
)  # fmt: skip
def slow(x: int, trace: str) -> int:
    _trace(trace, x)
    if x == 0:
        # over the task's 3 s + 3 s (z is fused into its task) + 1 s margin, under the
        # retry's 12 s + 12 s + 1 s
        time.sleep(9)
    return x + 100


def test_timeout_is_retried_with_more_walltime(tmp_path: Path) -> None:
    run, trace = _submit(tmp_path, [slow, twice], [0, 1], task_margin=1)
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    assert run.load_outputs("z").tolist() == [200, 202]
    y1 = read_submissions(RunFolder(run.path))[1].stages[0]
    assert (y1.name, y1.resources["walltime"]) == ("y@1", 12)
    assert _computed(trace) == [0, 0, 1]


@func("y", mapspec="x[i] -> y[i]", retry=2)
def crashes(x: int, trace: str) -> int:
    _trace(trace, x)
    if x == 1:
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies, every time
    return x + 100


def test_retries_stop_at_the_policy_and_status_says_so(tmp_path: Path) -> None:
    run, trace = _submit(tmp_path, [crashes, twice], [0, 1, 2])
    status = run.wait(timeout=WAIT)
    assert status.finished and not status.complete
    # the first attempt and two retries, then nothing more
    assert _computed(trace) == [0, 1, 1, 1, 2]
    subs = read_submissions(RunFolder(run.path))
    assert [s.retries for s in subs] == [{}, {"y": 1}, {"y": 2}, {"y": 2}]
    assert subs[-1].stages == []
    assert status.outputs["y"].done == 2 and status.outputs["z"].done == 2
    assert any("all 2 retries used" in n for n in status.notes), status.notes
    assert "all 2 retries used; run resume" in str(status)
    assert run.load_outputs("z").mask.tolist() == [False, True, False]


@func(
    "y", mapspec="x[i] -> y[i]", resources={"memory": "100MB"},
    retry=Retry(5, max_memory="200MB"),
)  # fmt: skip
def greedy(x: int, trace: str) -> int:
    _trace(trace, x)
    if x == 0:
        block = bytearray(400 * MB)  # always over any memory the policy allows
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(4)
    return x


def test_no_retry_once_memory_is_at_its_cap(tmp_path: Path) -> None:
    run, trace = _submit(tmp_path, [greedy], [0, 1])
    status = run.wait(timeout=WAIT)
    assert not status.complete
    subs = read_submissions(RunFolder(run.path))
    # 100 MB, then 200 MB (the cap); a third try could only fail the same way
    assert [s.stages[0].resources["memory"] for s in subs if s.stages[:1] and
            not s.stages[0].is_follow_up] == [100 * MB, 200 * MB]  # fmt: skip
    assert _computed(trace) == [0, 0, 1]
    assert any("memory cannot grow" in n for n in status.notes), status.notes


def test_without_retry_no_follow_up_job_is_submitted(tmp_path: Path) -> None:
    @func("y", mapspec="x[i] -> y[i]")
    def plain(x: int, trace: str) -> int:
        return x

    run, _ = _submit(tmp_path, [plain, twice], [0, 1])
    (sub,) = read_submissions(RunFolder(run.path))
    assert not any(s.is_follow_up for s in sub.stages)
    assert run.wait(timeout=WAIT).complete


def test_a_follow_up_waits_for_every_array_of_its_submission(tmp_path: Path) -> None:
    run, _ = _submit(tmp_path, [crashes, twice], [0], retry=1)
    sub = read_submissions(RunFolder(run.path))[0]
    (follow,) = [s for s in sub.stages if s.is_follow_up]
    arrays = {a.job_id for s in sub.stages if not s.is_follow_up for a in s.arrays}
    job = json.loads((tmp_path / "queue" / "jobs" / f"{follow.arrays[0].job_id}.json").read_text())
    assert sorted((d["job_id"], d["kind"]) for d in job["dependencies"]) == sorted(
        (a, "any") for a in arrays
    )
    assert run.wait(timeout=WAIT).complete


def test_wait_returns_only_after_the_follow_up_job(tmp_path: Path) -> None:
    """Every element is stored before the follow-up job even starts; wait() must still
    wait for it, so that nothing of the run is queued once it returns."""
    run, _ = _submit(tmp_path, [crashes, twice], [0, 2], retry=1)
    status = run.wait(timeout=WAIT)
    assert status.complete and status.active_jobs == 0
    # the follow-up ran: it wrote the (empty) submission 1
    subs = read_submissions(RunFolder(run.path))
    assert len(subs) == 2 and subs[1].stages == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "retries must be an int >= 0"),
        ("twice", "must be hpcflow.Retry, an int"),
        ({"retries": 1, "memory_factr": 2}, "unexpected keyword argument 'memory_factr'"),
        ({"memory_factor": 0.5}, "a growth factor must be a number >= 1"),
        ({"max_memory": "lots"}, "memory='lots' is not a size"),
    ],
)
def test_bad_retry_policies_are_refused_when_the_func_is_made(value: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        func("y", mapspec="x[i] -> y[i]", retry=value)(lambda x: x)


def test_submit_refuses_a_bad_default_policy_before_writing(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="retries must be an int >= 0"):
        _submit(tmp_path, [crashes], [0], retry=-2)
    assert not (tmp_path / "run").exists()


@func("y", mapspec="x[i] -> y[i]")
def flaky(x: int, trace: str) -> int:
    _trace(trace, x)
    if x % 10 == 3 and not Path(trace, "..", "fixed").exists():
        raise ValueError(f"bad element {x}")
    return x + 100


@func("total")
def add_all(z: Any) -> int:
    return int(sum(z))


def test_resume_retry_failed_recomputes_only_the_failed_elements(tmp_path: Path) -> None:
    run, trace = _submit(tmp_path, [flaky, twice, add_all], list(range(30)))
    status = run.wait(timeout=WAIT)
    assert status.outputs["y"].failed == 3 and status.outputs["z"].failed == 3
    assert sorted(run.failures("y")) == [(3,), (13,), (23,)]
    assert run.resume() == 0  # errors count as done: a plain resume has nothing to do
    (tmp_path / "fixed").touch()  # "fix the function"
    assert run.resume(retry_failed=True) > 0
    status = run.wait(timeout=WAIT)
    assert status.complete and status.outputs["y"].failed == 0, status
    assert run.failures("y") == {}
    assert run.load_outputs("z").tolist() == [2 * (x + 100) for x in range(30)]
    assert run.load_outputs("total") == sum(2 * (x + 100) for x in range(30))
    computed = _computed(trace)
    assert computed == sorted([*range(30), 3, 13, 23])  # only the failed ones twice
    aside = list((run.path / "superseded").rglob("*.pickle"))
    assert aside, "the error snapshots are kept aside, not deleted"


def test_resume_with_a_fixed_pipeline_and_a_mismatched_one(tmp_path: Path) -> None:
    from hpcflow.errors import InputError

    @func("y", mapspec="x[i] -> y[i]")
    def broken(x: int, trace: str) -> int:
        raise ValueError("always")

    run, _ = _submit(tmp_path, [broken, twice], [0, 1])
    run.wait(timeout=WAIT)

    @func("y", mapspec="x[i] -> y[i]")
    def mended(x: int, trace: str) -> int:
        return x + 7

    @func("w", mapspec="x[i] -> w[i]")
    def other(x: int, trace: str) -> int:
        return x

    with pytest.raises(InputError, match="must have the run's funcs, outputs and mapspecs"):
        run.resume(retry_failed=True, pipeline=Pipeline([other, twice]))
    assert run.resume(retry_failed=True, pipeline=Pipeline([mended, twice])) > 0
    assert run.wait(timeout=WAIT).complete
    assert run.load_outputs("z").tolist() == [14, 16]


@func("y", mapspec="x[i] -> y[i]", retry=1)
def dies_once(x: int, trace: str) -> int:
    _trace(trace, x)
    flag = Path(trace, "..", f"died-{x}")
    if x == 1 and not flag.exists():
        flag.touch()
        os.kill(os.getpid(), signal.SIGKILL)  # the worker dies in y's part of the task
    return x + 100


def test_a_fused_func_without_retries_comes_along_with_its_upstreams_retry(
    tmp_path: Path,
) -> None:
    # z (no retry policy) runs in y's tasks; the task died in y's part, so z's element
    # is missing because of y, not because of z: it is resubmitted with y's retry
    run, trace = _submit(tmp_path, [dies_once, twice], [0, 1, 2])
    sub = read_submissions(RunFolder(run.path))[0]
    assert [s.fused_into for s in sub.stages if not s.is_follow_up] == [None, "y"]
    status = run.wait(timeout=WAIT)
    assert status.complete, status
    assert run.load_outputs("z").tolist() == [200, 202, 204]
    assert _computed(trace) == [0, 1, 1, 2]
