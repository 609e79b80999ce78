"""The report of a real local-scheduler run: the markers' figures and the scheduler's
task records agree with what the elements did (bounds, no tight timing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcflow import Run
from hpcflow.cli import main as cli_main
from tests.report.conftest import BUFFER, CHUNK, PIPELINE, SLEEP, N

FUNC_KEYS = {"name", "elements", "requested", "used", "suggested"}
TASK_KEYS = {"func", "task", "state", "submit", "start", "end", "max_rss_bytes", "elapsed_s"}


def test_report_json_has_the_documented_keys(local_run: Run) -> None:
    data = json.loads(local_run.report().to_json())
    assert {"funcs", "tasks"} <= set(data)
    assert [f["name"] for f in data["funcs"]] == ["y", "total"]
    for f in data["funcs"]:
        assert set(f) >= FUNC_KEYS
        assert set(f["elements"]) >= {"done", "failed", "missing"}
        assert set(f["requested"]) >= {"cpus", "memory_bytes", "walltime_s", "gpus"}
        used = f["used"]
        assert {"peak_rss_bytes", "element_s", "task_elapsed_s", "cpu_efficiency",
                "memory_efficiency"} <= set(used)  # fmt: skip
        assert set(used["peak_rss_bytes"]) >= {"p50", "max"}
        assert set(used["element_s"]) >= {"p50", "p95", "max"}
        assert set(used["task_elapsed_s"]) >= {"p50", "max"}
        assert set(f["suggested"]) >= {"memory_bytes", "walltime_s", "chunksize"}
    assert len(data["tasks"]) == N // CHUNK + 1  # y's tasks, and total's one
    for t in data["tasks"]:
        assert set(t) >= TASK_KEYS


def test_report_figures_agree_with_what_the_elements_did(local_run: Run) -> None:
    rep = local_run.report()
    y = rep.func("y")
    assert y.elements == {"done": N - 1, "failed": 1, "missing": 0}
    assert y.requested["memory_bytes"] == 400 * 2**20 and y.requested["walltime_s"] == 60
    assert y.requested["cpus"] == 1 and y.requested["gpus"] == 0
    peak = y.used["peak_rss_bytes"]
    # the buffer, plus an interpreter with numpy: well under a few hundred MB more
    assert BUFFER < peak["p50"] <= peak["max"] < BUFFER + 300 * 2**20
    el = y.used["element_s"]
    assert SLEEP <= el["p50"] <= el["p95"] <= el["max"] < 30 * SLEEP
    assert y.used["memory_efficiency"] == pytest.approx(peak["max"] / (400 * 2**20), rel=1e-3)
    # suggested: the largest peak x 1.2, up to whole 100 MiB
    assert y.suggested["memory_bytes"] % (100 * 2**20) == 0
    assert peak["max"] * 1.2 <= y.suggested["memory_bytes"] < peak["max"] * 1.2 + 100 * 2**20
    assert y.suggested["walltime_s"] == 60  # 1.5 x ~1 s, up to a whole minute
    assert y.suggested["chunksize"] >= 1
    (failure,) = y.failures
    assert failure["kind"] == "element" and failure["count"] == 1
    assert failure["first_line"] == "ValueError: x=3 is unlucky"


def test_report_tasks_come_from_the_local_schedulers_records(local_run: Run) -> None:
    rep = local_run.report()
    tasks = [t for t in rep.tasks if t.func == "y"]
    assert sorted(t.task for t in tasks) == list(range(N // CHUNK))
    for t in tasks:
        assert t.state == "COMPLETED" and t.job_id is not None
        assert t.submit is not None and t.start is not None and t.end is not None
        assert t.submit <= t.start <= t.end
        assert t.elapsed_s is not None and t.elapsed_s >= CHUNK * SLEEP  # each ran 2 elements
        assert t.queue_s is not None and t.queue_s >= 0
    task_elapsed = rep.func("y").used["task_elapsed_s"]
    assert task_elapsed["max"] == pytest.approx(max(t.elapsed_s or 0 for t in tasks))
    s = rep.summary
    assert s["elements"] == {"total": N + 1, "done": N - 1, "failed": 2, "missing": 0}
    assert s["wall_s"] >= CHUNK * SLEEP and s["core_hours_used"] > 0


def test_report_cli_writes_json_and_html(
    local_run: Run, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_json, out_html = tmp_path / "r.json", tmp_path / "r.html"
    code = cli_main(
        ["report", str(local_run.path), "--json", str(out_json), "--html", str(out_html)]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "suggested for the next submission" in text and "ValueError: x=3 is unlucky" in text
    assert json.loads(out_json.read_text())["run_id"] == local_run.run_id
    html = out_html.read_text()
    assert 'id="timeline"' in html and html.count('class="func-row"') == 2
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_plot_timeline_and_visualize(local_run: Run, tmp_path: Path) -> None:
    svg = local_run.plot_timeline(tmp_path / "t.svg")
    assert svg.startswith("<svg") and svg.count('class="task"') == N // CHUNK + 1
    assert (tmp_path / "t.svg").read_text() == svg
    assert svg._repr_svg_() == svg  # type: ignore[attr-defined]
    picture = PIPELINE.visualize(tmp_path / "p.svg")
    assert picture.count('class="func"') == 2 and "x[i] -&gt; y[i]" in picture
    assert (tmp_path / "p.svg").read_text() == picture
