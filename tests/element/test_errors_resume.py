"""Error handling (raise/continue, snapshots) and resume (what is reused, what is checked)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import hpcflow
from hpcflow import ErrorSnapshot, Func, Pipeline, PropagatedErrorSnapshot, ResumeError


def fragile(x):  # type: ignore[no-untyped-def]
    if x == 2:
        raise ValueError(f"bad x={x}")
    return x * 10


def pipeline() -> Pipeline:
    f = Func(fragile, "y", mapspec="x[i] -> y[i]")
    g = Func(lambda y: y + 1, "z", mapspec="y[i] -> z[i]")
    s = Func(lambda z: int(np.sum(z)), "total")
    return Pipeline([f, g, s])


def test_raise_adds_output_and_element_to_the_exception() -> None:
    with pytest.raises(ValueError, match="bad x=2") as info:
        pipeline().map({"x": [0, 1, 2, 3]}, parallel=False)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "'y'" in notes and "(2,)" in notes and "fragile" in notes


def test_raise_through_a_process_pool_keeps_the_note() -> None:
    with pytest.raises(ValueError, match="bad x=2") as info:
        pipeline().map({"x": [0, 1, 2, 3]}, parallel=True, chunksizes=1)
    assert "'y'" in "\n".join(getattr(info.value, "__notes__", []))


@pytest.mark.parametrize("parallel", [False, True])
def test_continue_stores_snapshots_and_propagates(parallel: bool, tmp_path: Path) -> None:
    r = pipeline().map(
        {"x": [0, 1, 2, 3]}, tmp_path / "r", parallel=parallel, error_handling="continue"
    )
    y = r["y"].output
    assert y[0] == 0 and y[3] == 30
    snap = y[2]
    assert isinstance(snap, ErrorSnapshot)
    assert snap.exception_type == "ValueError" and snap.kwargs == {"x": 2}
    assert snap.host and snap.timestamp and "bad x=2" in snap.traceback
    with pytest.raises(ValueError, match="bad x=2"):
        snap.reproduce()
    z = r["z"].output
    assert z[1] == 11 and isinstance(z[2], PropagatedErrorSnapshot)
    assert z[2].errors == {"y": "full"}
    total = r["total"].output
    assert isinstance(total, PropagatedErrorSnapshot)
    assert "1 of 4" in total.errors["z"]


def test_snapshot_survives_the_run_folder(tmp_path: Path) -> None:
    pipeline().map({"x": [2]}, tmp_path / "r", parallel=False, error_handling="continue")
    y = hpcflow.map.load_outputs("y", run_folder=tmp_path / "r")
    assert isinstance(y[0], ErrorSnapshot)
    assert "ValueError" in str(y[0])


# ------------------------------------------------------------------------- resume
COUNTER = "HPCFLOW_TEST_COUNTER"


def counted(x):  # type: ignore[no-untyped-def]
    with open(os.environ[COUNTER], "a") as fh:
        fh.write(f"{x}\n")
    return x + 100


def counting_pipeline() -> Pipeline:
    return Pipeline([Func(counted, "y", mapspec="x[i] -> y[i]")])


def calls(path: Path) -> list[int]:
    return [int(v) for v in path.read_text().split()] if path.exists() else []


@pytest.mark.parametrize("storage", ["file_array", "dict", "chunked_file_array", "zarr_file_array"])
def test_resume_skips_done_elements(
    storage: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.txt"
    monkeypatch.setenv(COUNTER, str(log))
    folder = tmp_path / "run"
    counting_pipeline().map({"x": [1, 2, 3]}, folder, storage=storage, parallel=False)
    assert calls(log) == [1, 2, 3]
    if storage == "file_array":
        # simulate an interrupted run: element 1 was never written
        (folder / "outputs" / "y" / "__1__.pickle").unlink()
    if storage == "chunked_file_array":
        # an interrupted chunk: its file never appeared, and a later chunk is done
        (folder / "outputs" / "y" / "0-3.pickle").unlink()
        from hpcflow.storage import ChunkedFileArray

        ChunkedFileArray(folder / "outputs" / "y", (3,)).dump_chunk([2], [103])
    if storage == "zarr_file_array":
        # the values of chunk 0-3 may be on disk, but its done marker never appeared
        (folder / "outputs" / "y" / "done" / "0-3").unlink()
        from hpcflow.storage import ZarrFileArray

        ZarrFileArray(folder / "outputs" / "y", (3,)).dump_chunk([2], [103])
    r = counting_pipeline().map(
        {"x": [1, 2, 3]}, folder, storage=storage, parallel=False, resume=True
    )
    expected = {
        "file_array": [1, 2, 3, 2],
        "dict": [1, 2, 3],
        "chunked_file_array": [1, 2, 3, 1, 2],
        "zarr_file_array": [1, 2, 3, 1, 2],
    }[storage]
    assert calls(log) == expected
    assert r["y"].output.tolist() == [101, 102, 103]


def test_resume_does_not_read_done_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Done-ness comes from file existence: a done element's bytes are never unpickled."""
    monkeypatch.setenv(COUNTER, str(tmp_path / "calls.txt"))
    folder = tmp_path / "run"
    counting_pipeline().map({"x": [1, 2]}, folder, parallel=False)
    # corrupt a finished element: if resume loaded it, unpickling would fail (the bytes
    # pass resume's cheap damage check -- protocol header, STOP at the end -- which
    # would otherwise set the file aside and compute the element again)
    (folder / "outputs" / "y" / "__0__.pickle").write_bytes(b"\x80\x05not a pickle.")
    counting_pipeline().map(
        {"x": [1, 2]}, folder, parallel=False, resume=True, return_results=False
    )
    assert calls(tmp_path / "calls.txt") == [1, 2]


def test_partial_file_never_counts_as_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(COUNTER, str(tmp_path / "calls.txt"))
    folder = tmp_path / "run"
    counting_pipeline().map({"x": [1, 2]}, folder, parallel=False)
    target = folder / "outputs" / "y" / "__1__.pickle"
    target.unlink()
    # what a writer killed mid-write leaves behind
    (target.parent / "__1__.pickle.deadbeef.partial").write_bytes(b"\x80\x04trunc")
    r = counting_pipeline().map({"x": [1, 2]}, folder, parallel=False, resume=True)
    assert calls(tmp_path / "calls.txt") == [1, 2, 2]
    assert r["y"].output.tolist() == [101, 102]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"inputs": {"x": [1, 2, 4]}}, "input 'x' changed"),
        ({"inputs": {"x": [1, 2]}}, "shape of 'y' was \\(3,\\)"),
        ({"mapspec": "x[j] -> y[j]"}, "mapspecs"),
        ({"storage": "dict"}, "storage"),
    ],
)
def test_resume_detects_changes_before_running(
    change: dict[str, object], fragment: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "calls.txt"
    monkeypatch.setenv(COUNTER, str(log))
    folder = tmp_path / "run"
    counting_pipeline().map({"x": [1, 2, 3]}, folder, parallel=False)
    p = Pipeline([Func(counted, "y", mapspec=str(change.get("mapspec", "x[i] -> y[i]")))])
    with pytest.raises(ResumeError, match=fragment):
        p.map(
            change.get("inputs", {"x": [1, 2, 3]}),  # type: ignore[arg-type]
            folder,
            storage=str(change.get("storage", "file_array")),
            parallel=False,
            resume=True,
        )
    assert calls(log) == [1, 2, 3]  # nothing ran


class NoEq:
    """An input whose == cannot decide (like some array wrappers)."""

    def __init__(self, v: int) -> None:
        self.v = v

    def __eq__(self, other: object) -> bool:
        return NotImplemented  # type: ignore[no-any-return]

    __hash__ = object.__hash__


def test_resume_validation_modes(tmp_path: Path) -> None:
    p = Pipeline([Func(lambda x, obj: x, "y", mapspec="x[i] -> y[i]")])
    folder = tmp_path / "run"
    p.map({"x": [1], "obj": NoEq(1)}, folder, parallel=False)
    # NotImplemented on both sides makes == fall back to identity: False, a change
    with pytest.raises(ResumeError, match="'obj' changed"):
        p.map({"x": [1], "obj": NoEq(1)}, folder, parallel=False, resume=True)
    r = p.map(
        {"x": [1], "obj": NoEq(1)}, folder, parallel=False, resume=True, resume_validation="skip"
    )
    assert r["y"].output.tolist() == [1]


class ArrayLikeEq:
    def __init__(self, v: int) -> None:
        self.v = v

    def __eq__(self, other: object) -> object:  # type: ignore[override]
        return np.array([True, False])

    __hash__ = object.__hash__


def test_resume_validation_undecidable(tmp_path: Path) -> None:
    p = Pipeline([Func(lambda x, obj: x, "y", mapspec="x[i] -> y[i]")])
    folder = tmp_path / "run"
    p.map({"x": [1], "obj": ArrayLikeEq(1)}, folder, parallel=False)
    with pytest.warns(UserWarning, match="cannot tell"):
        p.map({"x": [1], "obj": ArrayLikeEq(1)}, folder, parallel=False, resume=True)
    with pytest.raises(ResumeError, match="resume_validation='skip'"):
        p.map(
            {"x": [1], "obj": ArrayLikeEq(1)},
            folder,
            parallel=False,
            resume=True,
            resume_validation="strict",
        )


def test_an_error_snapshot_keeps_the_stack_frames_of_the_failure() -> None:
    def inner(x: int) -> int:
        raise ValueError(f"bad x={x}")

    def outer(x: int) -> int:
        return inner(x)

    p = Pipeline([Func(outer, "y", mapspec="x[i] -> y[i]")])
    snap = p.map({"x": [1]}, parallel=False, error_handling="continue")["y"].output[0]
    assert isinstance(snap, hpcflow.ErrorSnapshot)
    assert "in outer" in snap.traceback and "in inner" in snap.traceback
    assert snap.traceback.rstrip().endswith("ValueError: bad x=1")
