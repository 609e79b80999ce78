"""A report is still made when parts of what it reads are missing or broken: the
scheduler's accounting fails, the pipeline cannot be unpickled here, a marker is
corrupt. Each case names what is missing instead of failing the whole report."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from hpcflow import Run
from hpcflow.errors import RunFolderError, SchedulerError
from hpcflow.report import build_report
from hpcflow.schedulers.base import TaskAccounting
from hpcflow.schedulers.local import LocalScheduler


class NoAccounting(LocalScheduler):
    """The run's own scheduler, whose accounting command fails (say sacct is down)."""

    def accounting(self, job_ids: Sequence[str]) -> dict[str, dict[int, TaskAccounting]]:
        raise SchedulerError("sacct --jobs=1 exited 1:\n  sacct: error: slurmdbd unreachable")


def _copy(local_run: Run, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(local_run.path, copy)
    return copy


def test_report_without_accounting_says_so(local_run: Run) -> None:
    scheduler = NoAccounting(**local_run.scheduler.options())
    rep = build_report(local_run.folder, scheduler, local_run.settings)
    assert any("no accounting from the scheduler" in n and "slurmdbd" in n for n in rep.notes)
    y = rep.func("y")
    assert y.elements["done"] == 5 and y.used["peak_rss_bytes"]["max"] is not None
    assert all(t.state == "UNKNOWN" and t.elapsed_s is None for t in rep.tasks)


def test_report_when_the_pipeline_cannot_be_unpickled(local_run: Run, tmp_path: Path) -> None:
    copy = _copy(local_run, tmp_path)
    (copy / "pipeline.cloudpickle").write_bytes(b"not a pickle")
    rep = Run.open(copy).report()
    # the graph comes from the stage records instead
    assert [n["name"] for n in rep.graph["nodes"]] == ["y", "total"]
    assert rep.graph["edges"] == [["y", "total"]]
    assert "pipeline.cloudpickle" in " ".join(rep.notes)
    assert 'class="func"' in rep.to_html()


def test_report_skips_a_corrupt_marker(local_run: Run, tmp_path: Path) -> None:
    copy = _copy(local_run, tmp_path)
    marker = sorted((copy / "markers" / "y").glob("*.json"))[0]
    marker.write_text("{half a marker")
    rep = Run.open(copy).report()
    assert len(rep.func("y").samples["element_s"]) == 2  # three chunks, one unreadable


def test_report_of_a_folder_that_holds_no_run(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="does not exist"):
        Run.open(tmp_path / "nothing").report()
