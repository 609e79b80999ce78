"""The run folder's format: one owner of every path, a format version, documented."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hpcflow import Pipeline, RunFolderError, func
from hpcflow.runfolder.layout import FORMAT_VERSION, LOCK, OWNED, RunFolder

ROOT = Path(__file__).resolve().parents[2]


@func("y", mapspec="x[i] -> y[i]")
def double(x: int) -> int:
    return 2 * x


def test_run_json_records_the_format_version(tmp_path: Path) -> None:
    Pipeline([double]).map({"x": [1, 2]}, tmp_path / "run", parallel=False)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["format_version"] == FORMAT_VERSION


@pytest.mark.parametrize("version", [None, 1, FORMAT_VERSION + 1])
def test_a_folder_of_another_format_version_is_refused(tmp_path: Path, version: object) -> None:
    Pipeline([double]).map({"x": [1, 2]}, tmp_path / "run", parallel=False)
    path = tmp_path / "run" / "run.json"
    meta = json.loads(path.read_text())
    meta["format_version"] = version
    path.write_text(json.dumps(meta))
    with pytest.raises(RunFolderError, match=f"format version {version!r}.*reads version"):
        RunFolder(tmp_path / "run").read_meta()


def test_a_corrupt_run_json_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "run.json").write_text("{")
    with pytest.raises(RunFolderError, match="run.json is corrupt"):
        RunFolder(tmp_path).read_meta()


def test_every_path_lies_under_an_entry_the_folder_owns(tmp_path: Path) -> None:
    f = RunFolder(tmp_path)
    paths = [
        f.run_json, f.output_folder("y"), f.single_output_path("s"), f.markers_root,
        f.marker_folder(("a", "b")), f.input_path("x"), f.pipeline_path, f.settings_path,
        f.stages_folder, f.submission_path(3), tmp_path / f.stage_elements_path(2, "y"),
        f.log_folder("y"), f.logs_root, f.superseded_folder(1), f.cancelled_path,
    ]  # fmt: skip
    for p in paths:
        assert p.relative_to(tmp_path).parts[0] in OWNED, p
    assert f.lock_path.name == LOCK


def test_the_architecture_page_lists_every_entry() -> None:
    page = (ROOT / "docs" / "architecture.md").read_text()
    for entry in (*OWNED, LOCK):
        assert f"`{entry}" in page, f"docs/architecture.md does not list {entry}"


def test_names_from_a_tampered_run_json_never_leave_the_folder(tmp_path: Path) -> None:
    from hpcflow.map import load_outputs

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.cloudpickle").write_bytes(b"not to be read")
    folder = tmp_path / "run"
    Pipeline([double]).map({"x": [1, 2]}, folder, parallel=False)
    meta = json.loads((folder / "run.json").read_text())
    meta["outputs"].append("../../outside/evil")
    (folder / "run.json").write_text(json.dumps(meta))
    with pytest.raises(RunFolderError, match="is not a Python identifier"):
        load_outputs("../../outside/evil", run_folder=folder)
    for bad in ("../x", "a/b", "", "y z"):
        with pytest.raises(RunFolderError, match="not a Python identifier"):
            RunFolder(folder).single_output_path(bad)
        with pytest.raises(RunFolderError, match="not a Python identifier"):
            RunFolder(folder).input_path(bad)


def test_a_corrupt_submit_json_names_the_file(tmp_path: Path) -> None:
    from hpcflow.runfolder.records import read_settings

    (tmp_path / "submit.json").write_text('{"run_id": ')
    with pytest.raises(RunFolderError, match=r"submit.json is corrupt .*load_outputs"):
        read_settings(RunFolder(tmp_path))


def test_clearing_removes_only_what_hpcflow_names_and_the_folders_left_empty(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "run"
    Pipeline([double]).map({"x": [1, 2]}, folder, parallel=False)
    hpcflow_files = [
        "pipeline.cloudpickle", "submit.json", "cancelled", f"run.json.{'a' * 32}.partial",
        "inputs/x.cloudpickle", "outputs/total.cloudpickle", "markers/y/0-2.json",
        f"markers/y-z/2-4.json.{'b' * 32}.partial", "stages/0.json", "stages/1/y.1@1.npy",
        "logs/y/17_0.log", "logs/follow-up-1/18_0.log", "superseded/1/outputs/y/0-1.pickle",
    ]  # fmt: skip
    users = [
        "notes.txt", "logs/mylog.txt", "stages/plan.md", "inputs/README", "outputs/plots/a.png",
        "markers/y/mine.txt", "logs/y/analysis.py", "stages/2/keep.txt", "superseded/x/k.txt",
    ]  # fmt: skip
    for rel in hpcflow_files + users:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(rel)
    outside = tmp_path / "elsewhere"
    (outside / "y").mkdir(parents=True)
    (outside / "y" / "3_0.log").write_text("not in the run folder")
    (folder / "logs" / "linked").symlink_to(outside)

    RunFolder(folder).prepare_fresh()

    left = sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() or p.is_symlink()
    )
    assert left == sorted([*users, "logs/linked"])
    assert (outside / "y" / "3_0.log").exists()  # a link is never followed
    for emptied in ("markers/y-z", "stages/1", "logs/follow-up-1", "superseded/1"):
        assert not (folder / emptied).exists()
    assert not (folder / "outputs" / "y").exists()  # the storage's folder is its own


def test_the_run_id_guard_notices_a_replaced_run_json(tmp_path: Path) -> None:
    from hpcflow._atomic import atomic_write_json
    from hpcflow.errors import RunReplacedError

    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    atomic_write_json(folder.run_json, {"run_id": "aaaa"})
    guard = folder.run_id_guard("aaaa")
    guard()
    guard()  # unchanged: still this run's
    atomic_write_json(folder.run_json, {"run_id": "bbbb"})  # a new run took the folder
    with pytest.raises(RunReplacedError, match="now holds run bbbb"):
        guard()
    folder.run_json.unlink()
    with pytest.raises(RunReplacedError, match="run.json is gone"):
        guard()


@pytest.mark.parametrize("inside", [False, True])
@pytest.mark.parametrize("call", ["map", "submit", "plan", "load_outputs", "Run.open"])
def test_a_run_folder_that_is_a_file_or_inside_one_is_refused_naming_it(
    tmp_path: Path, call: str, inside: bool
) -> None:
    from hpcflow.map import load_outputs
    from hpcflow.submission.handle import Run
    from hpcflow.testing import FakeScheduler

    note = tmp_path / "notes.txt"
    note.write_text("mine")
    folder = note / "run" if inside else note
    p = Pipeline([double])
    calls = {
        "map": lambda: p.map({"x": [1]}, folder, parallel=False),
        "submit": lambda: p.submit({"x": [1]}, folder, scheduler=FakeScheduler()),
        "plan": lambda: p.plan({"x": [1]}, folder, scheduler=FakeScheduler()),
        "load_outputs": lambda: load_outputs("y", run_folder=folder),
        "Run.open": lambda: Run.open(folder),
    }
    with pytest.raises(RunFolderError, match=f"{note}.* is a file, not a folder"):
        calls[call]()
    assert note.read_text() == "mine"
