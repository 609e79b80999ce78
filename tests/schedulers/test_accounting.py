"""`Scheduler.accounting`: what each array task used, for ``hpcflow report``.

SLURM and PBS are read from output recorded on real clusters (``tests/data/slurm``,
``tests/data/pbs``); the client commands are fakes that print it. The local scheduler
is tested for real in ``tests/report``.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from hpcflow.errors import SchedulerError
from hpcflow.schedulers._pbs_parse import accounting_by_job, parse_qstat_json
from hpcflow.schedulers._slurm_parse import (
    parse_sacct_accounting,
    parse_slurm_cpu_time,
    parse_slurm_size,
)
from hpcflow.schedulers.base import Scheduler, TaskState
from hpcflow.schedulers.pbs import PbsScheduler
from hpcflow.schedulers.slurm import SlurmScheduler
from hpcflow.testing import FakeScheduler
from tests.schedulers.fakes import FakeCommands

DATA = Path(__file__).parents[1] / "data"
SACCT = (DATA / "slurm" / "sacct_accounting.txt").read_text()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
    return FakeCommands(tmp_path, monkeypatch)


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_sacct_accounting_reads_rss_from_the_batch_step() -> None:
    # job 4 (record_accounting.sh): tasks touch 50, 100, 150 MB; task 2 exits 1
    out = parse_sacct_accounting(SACCT)
    mem = out["4"]
    assert sorted(mem) == [0, 1, 2]
    assert [mem[i].max_rss_bytes for i in range(3)] == [
        63836 * 1024, 112800 * 1024, 161472 * 1024,
    ]  # fmt: skip
    # each RSS exceeds what the task touched, by less than the interpreter's own size
    for i in range(3):
        rss = mem[i].max_rss_bytes
        assert rss is not None
        assert (i + 1) * 50_000_000 < rss < (i + 1) * 50_000_000 + 20 * 2**20
    assert [mem[i].state for i in range(3)] == [
        TaskState.COMPLETED, TaskState.COMPLETED, TaskState.FAILED,
    ]  # fmt: skip
    assert mem[0].elapsed_s == 5.0 and mem[1].elapsed_s == 6.0
    assert mem[0].total_cpu_s == pytest.approx(0.780)
    assert mem[0].cpus == 1
    assert mem[0].submit == _epoch("2026-12-01T11:56:28")
    assert mem[0].start == _epoch("2026-12-01T11:56:29")
    assert mem[0].end == _epoch("2026-12-01T11:56:34")


def test_sacct_accounting_timeout_and_never_started() -> None:
    out = parse_sacct_accounting(SACCT)
    timeout = out["5"][0]
    # the allocation line's state wins over the .batch step's CANCELLED
    assert timeout.state is TaskState.TIMEOUT
    assert timeout.elapsed_s == 89.0 and timeout.cpus == 2
    assert timeout.max_rss_bytes == 3 * 2**20
    held = out["6"]
    assert sorted(held) == [0, 1]
    assert held[0].state is TaskState.CANCELLED
    assert held[0].start is None and held[0].elapsed_s is None and held[0].max_rss_bytes is None


def test_sacct_accounting_refuses_other_columns() -> None:
    with pytest.raises(SchedulerError, match="no header with JobID"):
        parse_sacct_accounting("JobID|State\n1_0|COMPLETED\n")
    assert parse_sacct_accounting("") == {}


@pytest.mark.parametrize("text", ["12Q", "lots"])
def test_slurm_size_unreadable(text: str) -> None:
    with pytest.raises(SchedulerError, match=repr(text)):
        parse_slurm_size(text)


def test_slurm_cpu_time_unreadable() -> None:
    with pytest.raises(SchedulerError, match="'soon'"):
        parse_slurm_cpu_time("soon")


def test_slurm_accounting_is_one_sacct_call(fake: FakeCommands) -> None:
    fake.set("sacct", stdout=SACCT)
    scheduler = SlurmScheduler()
    out = scheduler.accounting(["4", "5", "6", "4"])
    assert sorted(out) == ["4", "5", "6"]
    assert scheduler.calls == {"sacct": 1}
    (argv,) = fake.argvs()
    assert argv[0] == "sacct" and "--jobs=4,5,6" in argv
    assert any(a.startswith("--format=") and "MaxRSS" in a for a in argv)
    assert "--allocations" not in argv  # MaxRSS is on the step lines


def test_slurm_accounting_disabled_gives_nothing(fake: FakeCommands) -> None:
    text = (DATA / "slurm" / "sacct_disabled.stderr.txt").read_text()
    fake.set("sacct", stderr=text, rc=1)
    assert SlurmScheduler().accounting(["4"]) == {}


def test_pbs_accounting_from_recorded_qstat(fake: FakeCommands) -> None:
    text = (DATA / "pbs" / "qstat_pbs_finished.json").read_text()
    found = accounting_by_job(parse_qstat_json(text), "pbs")["4720"]
    assert found[0].state is TaskState.COMPLETED
    assert found[0].elapsed_s == 3.0 and found[0].total_cpu_s == 2.0
    assert found[0].max_rss_bytes == 41224 * 1024 and found[0].cpus == 1
    assert found[3].max_rss_bytes == 209920 * 1024
    fake.set("qstat", stdout=text)
    scheduler = PbsScheduler()
    out = scheduler.accounting(["4720[].pbs01"])
    assert out["4720[].pbs01"] == found
    assert scheduler.calls == {"qstat": 1}


def test_default_accounting_knows_nothing() -> None:
    assert Scheduler.accounting(FakeScheduler(), ["1"]) == {}
