"""The report's numbers from pure functions, on sacct output recorded on the mini
cluster (``tests/data/slurm/sacct_accounting.txt``, job 4: three tasks touching 50, 100
and 150 MB, one CPU, ``--mem=400M``) and on hand-written markers."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.report import stats
from hpcflow.report.model import TaskRow
from hpcflow.report.use import concurrency, element_samples, func_use
from hpcflow.schedulers._slurm_parse import parse_sacct_accounting

SACCT = (Path(__file__).parents[1] / "data" / "slurm" / "sacct_accounting.txt").read_text()
MIB = 2**20


def _rows(job: str) -> list[TaskRow]:
    rows = []
    for i, a in sorted(parse_sacct_accounting(SACCT)[job].items()):
        rows.append(TaskRow(
            func="y", stage="y", task=i, job_id=job, array_index=i, state=str(a.state),
            submit=a.submit, start=a.start, end=a.end, elapsed_s=a.elapsed_s,
            max_rss_bytes=a.max_rss_bytes, total_cpu_s=a.total_cpu_s, cpus=a.cpus,
        ))  # fmt: skip
    return rows


def test_task_figures_from_recorded_sacct() -> None:
    rows = _rows("4")
    requested = {"memory_bytes": 400 * MIB, "task_walltime_s": 120.0}
    used, suggested, _ = func_use([], rows, requested, n_elements=3)
    assert used["task_elapsed_s"] == {"p50": 6.0, "max": 6.0}
    assert used["task_max_rss_bytes"] == {"p50": 112800 * 1024, "max": 161472 * 1024}
    # CPU = TotalCPU / (Elapsed x cpus), over the tasks
    assert used["cpu_efficiency"] == pytest.approx((0.780 + 0.804 + 0.878) / (5 + 6 + 6), abs=1e-4)
    # memory = peak / requested; time = elapsed / limit
    assert used["memory_efficiency"] == pytest.approx(161472 * 1024 / (400 * MIB), abs=1e-4)
    assert used["time_efficiency"] == 0.05
    # 157.7 MiB x 1.2 = 189 MiB -> 200 MiB; 6 s x 1.5 -> one minute
    assert suggested["memory_bytes"] == 200 * MIB
    assert suggested["task_walltime_s"] == 60
    assert suggested["chunksize"] is None  # no marker: nothing measured per element


def test_queue_wait_and_concurrency_from_recorded_sacct() -> None:
    rows = _rows("4")
    assert [r.queue_s for r in rows] == [1.0, 1.0, 1.0]  # submitted 11:56:28, started :29
    assert concurrency(rows) == 3  # all three ran at once
    (held0, held1) = _rows("6")
    assert held0.queue_s is None and held0.state == "CANCELLED"
    assert concurrency([held0, held1]) == 0


def test_element_figures_from_markers() -> None:
    markers = [
        {"ok": 4, "failed": [], "elapsed": 8.0, "peak_rss": 100 * MIB},
        {"ok": 1, "failed": [7], "elapsed": 10.0, "peak_rss": 300 * MIB},
        {"ok": 0, "failed": [], "skipped": 5, "elapsed": 0.01, "peak_rss": 50 * MIB},  # nothing ran
        {"ok": 2, "failed": [], "elapsed": float("nan")},  # unusable
    ]
    times, peaks, counts = element_samples(markers)
    assert times == [2.0, 5.0] and counts == [4, 2] and peaks == [100 * MIB, 300 * MIB]
    used, suggested, samples = func_use(markers, [], {"memory_bytes": 1024 * MIB}, n_elements=6)
    # per element: 2 s four times, 5 s twice
    assert used["element_s"] == {"p50": 2.0, "p95": 5.0, "max": 5.0}
    assert used["peak_rss_bytes"] == {"p50": 200 * MIB, "max": 300 * MIB}
    assert used["memory_efficiency"] == pytest.approx(300 / 1024, abs=1e-4)
    assert used["cpu_efficiency"] is None and used["task_elapsed_s"]["max"] is None
    assert suggested["memory_bytes"] == 400 * MIB  # 300 x 1.2 = 360 -> 400 MiB
    assert suggested["walltime_s"] == 60
    assert suggested["chunksize"] == 6 and "18 s of work" in suggested["chunksize_reason"]
    assert samples == {"element_s": [2.0, 5.0], "peak_rss_bytes": [100 * MIB, 300 * MIB]}


def test_suggestions_round_to_units_a_site_accepts() -> None:
    assert stats.round_memory(4 * 2**30) == 4 * 2**30
    assert stats.round_memory(4 * 2**30 + 1) == 4 * 2**30 + 256 * MIB
    assert stats.round_memory(8 * 2**30 + 1) == 9 * 2**30
    assert stats.round_memory(1) == 100 * MIB
    assert stats.round_memory(1000 * MIB) == 1000 * MIB
    # p95 once there are enough samples, not the single outlier
    many = [1.0] * 99 + [1000.0]
    assert stats.suggest_walltime(many) == 60
    assert stats.suggest_walltime([1.0] * 5 + [1000.0]) == 1500  # few: the maximum


def test_a_task_row_carries_every_number_the_accounting_has() -> None:
    # the report copies accounting by field name: a new accounting field must reach it
    import dataclasses

    from hpcflow.schedulers.base import TaskAccounting

    row = {f.name for f in dataclasses.fields(TaskRow)}
    assert {f.name for f in dataclasses.fields(TaskAccounting)} <= row
