"""The local map engine: mapspec semantics, executors, storage, shapes."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import shutil
import threading
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import hpcflow
from hpcflow import Func, InputError, Pipeline, func
from hpcflow.element.local import LocalMap
from hpcflow.errors import RunFolderError, RunLockedError, UnknownStorageError
from hpcflow.map import load_all_outputs, load_outputs, run_map, run_map_async
from hpcflow.runfolder.layout import RunFolder
from hpcflow.storage import get_storage_class


def three_stage() -> Pipeline:
    @func("c", mapspec="a[k], b[k] -> c[k]")
    def add(a, b):  # type: ignore[no-untyped-def]
        return a + b

    @func("d", mapspec="c[k], x[i], y[j] -> d[i, j, k]")
    def combine(c, x, y):  # type: ignore[no-untyped-def]
        return c * x + y

    @func("e", mapspec="d[i, j, :] -> e[i, j]")
    def total(d):  # type: ignore[no-untyped-def]
        return sum(d)

    return Pipeline([add, combine, total])


def expected_three_stage(n: int) -> np.ndarray:
    r = np.arange(n)
    c = r + r
    d = c[None, None, :] * r[:, None, None] + r[None, :, None]
    return d.sum(axis=2)


def inputs(n: int) -> dict[str, list[int]]:
    return {k: list(range(n)) for k in "abxy"}


MODES: list[dict[str, Any]] = [
    {"parallel": False},
    {"parallel": True},
    {"executor": ThreadPoolExecutor(2)},
]


@pytest.mark.parametrize("mode", MODES, ids=["sequential", "processes", "threads"])
@pytest.mark.parametrize(
    "storage",
    [
        "dict",
        "file_array",
        "chunked_file_array",
        "shared_memory_dict",
        "zarr_file_array",
        "zarr_memory",
        "zarr_shared_memory",
    ],
)
def test_three_stage_sweep(mode: dict[str, Any], storage: str, tmp_path: Path) -> None:
    # every built-in backend (in-memory ones persist when each func ends) takes a folder
    folder = tmp_path / "run" if get_storage_class(storage).saves_to_folder else None
    r = three_stage().map(inputs(4), folder, storage=storage, **mode)
    assert np.array_equal(np.asarray(r["e"].output, dtype=int), expected_three_stage(4))
    assert r["d"].output.shape == (4, 4, 4)
    assert set(r) == {"c", "d", "e"}


def test_outer_product_and_zip() -> None:
    f = Func(lambda x, y, z: (x, y, z), "out", mapspec="x[i], y[j], z[i] -> out[i, j]")
    r = Pipeline([f]).map({"x": [1, 2], "y": ["a", "b", "c"], "z": [10, 20]}, parallel=False)
    out = r["out"].output
    assert out.shape == (2, 3)
    assert out[1, 2] == (2, "c", 20)


def test_zipped_axes_of_different_length_name_axis_and_arrays() -> None:
    f = Func(lambda x, z: x, "out", mapspec="x[i], z[i] -> out[i]")
    with pytest.raises(InputError) as info:
        Pipeline([f]).map({"x": [1, 2], "z": [1, 2, 3]}, parallel=False)
    msg = str(info.value)
    assert "'i'" in msg and "'x'" in msg and "'z'" in msg


def test_nd_array_input_and_partial_reduction() -> None:
    grid = np.arange(12).reshape(3, 4)
    f = Func(lambda g: g * 10, "h", mapspec="g[i, j] -> h[i, j]")
    s = Func(lambda h: int(np.sum(h)), "rowsum", mapspec="h[i, :] -> rowsum[i]")
    r = Pipeline([f, s]).map({"g": grid}, parallel=False)
    assert r["rowsum"].output.tolist() == (grid * 10).sum(axis=1).tolist()


def test_nested_list_input() -> None:
    f = Func(lambda g: g + 1, "h", mapspec="g[i, j] -> h[i, j]")
    r = Pipeline([f]).map({"g": [[1, 2], [3, 4], [5, 6]]}, parallel=False)
    assert r["h"].output.tolist() == [[2, 3], [4, 5], [6, 7]]


def test_ragged_nested_list_is_rejected() -> None:
    f = Func(lambda g: g, "h", mapspec="g[i, j] -> h[i, j]")
    with pytest.raises(InputError, match="ragged"):
        Pipeline([f]).map({"g": [[1, 2], [3]]}, parallel=False)


def test_non_sequence_mapped_input_is_rejected() -> None:
    f = Func(lambda g: g, "h", mapspec="g[i] -> h[i]")
    with pytest.raises(InputError, match="'g'"):
        Pipeline([f]).map({"g": 5}, parallel=False)


def test_generated_axis_with_internal_shape() -> None:
    gen = Func(lambda n: list(range(n)), "x", mapspec="... -> x[i]", internal_shape=3)
    sq = Func(lambda x: x * x, "y", mapspec="x[i] -> y[i]")
    r = Pipeline([gen, sq]).map({"n": 3}, parallel=False)
    assert r["x"].output.tolist() == [0, 1, 2]
    assert r["y"].output.tolist() == [0, 1, 4]


@pytest.mark.parametrize("parallel", [False, True])
def test_unknown_internal_shape_resolved_from_first_output(parallel: bool, tmp_path: Path) -> None:
    gen = Func(lambda n: list(range(n)), "x", mapspec="... -> x[i]")
    sq = Func(lambda x: x * x, "y", mapspec="x[i] -> y[i]")
    total = Func(lambda y: sum(y), "s")  # noqa: PLW0108 (sum is positional-only)
    r = Pipeline([gen, sq, total]).map({"n": 5}, tmp_path / "r", parallel=parallel)
    assert r["y"].output.tolist() == [0, 1, 4, 9, 16]
    assert r["s"].output == 30


def test_internal_axis_per_element() -> None:
    f = Func(lambda a: [a, a * 10], "b", mapspec="a[i] -> b[i, j]", internal_shape=2)
    g = Func(lambda b: b + 1, "c", mapspec="b[i, j] -> c[i, j]")
    r = Pipeline([f, g]).map({"a": [1, 2, 3]}, parallel=False)
    assert r["b"].output.tolist() == [[1, 10], [2, 20], [3, 30]]
    assert r["c"].output.tolist() == [[2, 11], [3, 21], [4, 31]]


def test_internal_shape_mismatch_names_output() -> None:
    f = Func(lambda a: [a], "b", mapspec="a[i] -> b[i, j]", internal_shape=2)
    with pytest.raises(hpcflow.HpcflowError, match="internal shape"):
        Pipeline([f]).map({"a": [1]}, parallel=False)


def test_internal_shapes_argument_overrides() -> None:
    gen = Func(lambda n: list(range(n)), "x", mapspec="... -> x[i]")
    r = Pipeline([gen]).map({"n": 4}, internal_shapes={"x": 4}, parallel=False)
    assert r["x"].output.tolist() == [0, 1, 2, 3]
    with pytest.raises(InputError, match="not an output"):
        Pipeline([gen]).map({"n": 4}, internal_shapes={"nope": 4}, parallel=False)


def test_generated_mapspec_for_non_mapspec_producer_runs() -> None:
    make = Func(lambda n: [i * 2 for i in range(n)], "x")
    use = Func(lambda x: x + 1, "y", mapspec="x[i] -> y[i]")
    r = Pipeline([make, use]).map({"n": 3}, parallel=False)
    assert r["y"].output.tolist() == [1, 3, 5]


def test_multiple_outputs() -> None:
    f = Func(lambda x: (x, -x), ("pos", "neg"), mapspec="x[i] -> pos[i], neg[i]")
    g = Func(lambda pos, neg: pos - neg, "diff", mapspec="pos[i], neg[i] -> diff[i]")
    r = Pipeline([f, g]).map({"x": [1, 2]}, parallel=False)
    assert r["neg"].output.tolist() == [-1, -2]
    assert r["diff"].output.tolist() == [2, 4]


def test_wrong_number_of_outputs_is_an_error() -> None:
    f = Func(lambda x: x, ("a", "b"), mapspec="x[i] -> a[i], b[i]")
    with pytest.raises(hpcflow.HpcflowError, match="tuple of 2"):
        Pipeline([f]).map({"x": [1]}, parallel=False)


def test_whole_array_consumer_and_single_values() -> None:
    f = Func(lambda x, offset: x + offset, "y", mapspec="x[i] -> y[i]")
    g = Func(lambda y: int(np.sum(y)), "total")
    r = Pipeline([f, g]).map({"x": [1, 2, 3], "offset": 10}, parallel=False)
    assert r["total"].output == 36
    assert r["y"].store is not None and r["total"].store is None


def test_defaults_renames_bound_in_a_run() -> None:
    def f(a, scale=2, shift=0):  # type: ignore[no-untyped-def]
        return a * scale + shift

    fn = Func(f, "y", mapspec="value[i] -> y[i]", renames={"a": "value"}, bound={"shift": 1})
    r = Pipeline([fn]).map({"value": [1, 2]}, parallel=False)
    assert r["y"].output.tolist() == [3, 5]
    r = Pipeline([fn]).map({"value": [1, 2], "scale": 10}, parallel=False)
    assert r["y"].output.tolist() == [11, 21]


def test_lambdas_closures_and_main_functions_work_in_a_process_pool(tmp_path: Path) -> None:
    factor = 7

    def closure(x):  # type: ignore[no-untyped-def]
        return x * factor

    f = Func(closure, "y", mapspec="x[i] -> y[i]")
    g = Func(lambda y: y + 1, "z", mapspec="y[i] -> z[i]")
    with ProcessPoolExecutor(2) as ex:
        r = Pipeline([f, g]).map({"x": [1, 2, 3]}, executor=ex, chunksizes=1)
    assert r["z"].output.tolist() == [8, 15, 22]


def test_executor_dict_with_default(tmp_path: Path) -> None:
    threads = ThreadPoolExecutor(2)
    r = three_stage().map(
        inputs(3), executor={"d": threads, "": None}, chunksizes={"": 2, "d": lambda n: n // 3}
    )
    assert np.array_equal(np.asarray(r["e"].output, dtype=int), expected_three_stage(3))


@pytest.mark.parametrize("bad", [0, -1, "x"])
def test_bad_chunksize(bad: object) -> None:
    with pytest.raises(InputError, match="chunk size"):
        three_stage().map(inputs(2), executor=ThreadPoolExecutor(1), chunksizes=bad)  # type: ignore[arg-type]


def test_unknown_storage_lists_registered() -> None:
    with pytest.raises(UnknownStorageError) as info:
        three_stage().map(inputs(2), storage="nope", parallel=False)
    assert "dict" in str(info.value) and "file_array" in str(info.value)


def test_storage_dict_per_output(tmp_path: Path) -> None:
    r = three_stage().map(
        inputs(3), tmp_path / "r", storage={"": "dict", "d": "file_array"}, parallel=False
    )
    assert type(r["d"].store).__name__ == "FileArray"
    assert type(r["c"].store).__name__ == "DictArray"
    assert (tmp_path / "r" / "outputs" / "d").is_dir()


def test_missing_and_unexpected_inputs() -> None:
    with pytest.raises(InputError, match=r"missing inputs \['b', 'y'\]"):
        three_stage().map({"a": [1], "x": [1]}, parallel=False)
    with pytest.raises(InputError, match="unexpected inputs"):
        three_stage().map({**inputs(2), "zzz": 1}, parallel=False)


def test_output_names_runs_only_what_is_needed() -> None:
    calls: list[str] = []
    f = Func(lambda a: calls.append("f") or a, "b", mapspec="a[i] -> b[i]")
    g = Func(lambda b: calls.append("g") or b, "c", mapspec="b[i] -> c[i]")
    r = Pipeline([f, g]).map({"a": [1, 2]}, output_names={"b"}, parallel=False)
    assert set(r) == {"b"} and calls == ["f", "f"]


def test_auto_subpipeline_takes_intermediate_inputs() -> None:
    r = three_stage().map({"c": [1, 2], "x": [1], "y": [0]}, auto_subpipeline=True, parallel=False)
    assert r["e"].output.tolist() == [[3]]
    with pytest.raises(InputError, match="auto_subpipeline"):
        three_stage().map({"c": [1, 2], "x": [1], "y": [0]}, parallel=False)


def test_fixed_indices() -> None:
    f = Func(lambda x, y: x * y, "z", mapspec="x[i], y[j] -> z[i, j]")
    r = Pipeline([f]).map({"x": [1, 2, 3], "y": [1, 10]}, fixed_indices={"i": 1}, parallel=False)
    out = r["z"].output
    assert isinstance(out, np.ma.MaskedArray)
    assert out[1].tolist() == [2, 20]
    assert out.mask[0].all() and out.mask[2].all()


@pytest.mark.parametrize(
    ("fixed", "fragment"),
    [({"q": 0}, "no mapspec has"), ({"i": 5}, "out of range"), ({"k": 0}, "reduces over it")],
)
def test_bad_fixed_indices(fixed: dict[str, int], fragment: str) -> None:
    with pytest.raises(InputError, match=fragment):
        three_stage().map(inputs(3), fixed_indices=fixed, parallel=False)


def test_results_load_from_run_folder(weird_tmp_path: Path) -> None:
    folder = weird_tmp_path / "run"
    three_stage().map(inputs(3), folder, parallel=False, return_results=False)
    e = load_outputs("e", run_folder=folder)
    assert np.array_equal(np.asarray(e, dtype=int), expected_three_stage(3))
    everything = load_all_outputs(folder)
    assert set(everything) == {"c", "d", "e"}


def test_return_results_false_returns_nothing() -> None:
    assert len(three_stage().map(inputs(2), parallel=False, return_results=False)) == 0


def test_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("data")
    with pytest.raises(hpcflow.RunFolderError, match="holds no hpcflow run"):
        three_stage().map(inputs(2), tmp_path, parallel=False)
    assert (tmp_path / "precious.txt").read_text() == "data"


def test_fresh_run_keeps_user_files_next_to_hpcflow_files(tmp_path: Path) -> None:
    three_stage().map(inputs(2), tmp_path, parallel=False)
    (tmp_path / "notes.txt").write_text("mine")
    three_stage().map(inputs(2), tmp_path, parallel=False)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_headless_progress_counts_elements() -> None:
    runner = run_map_async(
        three_stage(), inputs(3), start=False, parallel=False, show_progress="headless"
    )
    runner.result()
    assert runner.progress.done == {"c": 3, "d": 27, "e": 9}
    assert runner.progress.fraction("d") == 1.0


def test_rich_progress_draws(capsys: pytest.CaptureFixture[str]) -> None:
    three_stage().map(inputs(2), parallel=False, show_progress=True)
    # rich writes to the captured stdout: one bar per output with done/total counts
    out = capsys.readouterr().out
    assert "8/8" in out  # d: 2 x 2 x 2 elements
    assert "4/4" in out  # e
    assert "━" in out


def test_bad_show_progress() -> None:
    with pytest.raises(InputError, match="show_progress"):
        three_stage().map(inputs(2), parallel=False, show_progress="fancy")  # type: ignore[arg-type]


def test_map_async_in_event_loop() -> None:
    async def main() -> Any:
        runner = three_stage().map_async(inputs(3), executor=ThreadPoolExecutor(2))
        return await runner.task

    r = asyncio.run(main())
    assert np.array_equal(np.asarray(r["e"].output, dtype=int), expected_three_stage(3))


def test_map_async_without_loop_needs_start_false() -> None:
    with pytest.raises(RuntimeError, match="start=False"):
        three_stage().map_async(inputs(2))
    runner = three_stage().map_async(inputs(2), start=False, parallel=False)
    assert runner.result()["e"].output.shape == (2, 2)


def test_run_map_function_equals_method() -> None:
    r = run_map(three_stage(), inputs(2), parallel=False)
    assert np.array_equal(np.asarray(r["e"].output, dtype=int), expected_three_stage(2))


def test_bad_error_handling_value() -> None:
    with pytest.raises(InputError, match="error_handling"):
        three_stage().map(inputs(2), parallel=False, error_handling="ignore")  # type: ignore[arg-type]


def test_empty_sweep() -> None:
    f = Func(lambda x: x, "y", mapspec="x[i] -> y[i]")
    g = Func(lambda y: len(y), "n")  # noqa: PLW0108 (len is positional-only)
    r = Pipeline([f, g]).map({"x": []}, parallel=False)
    assert r["y"].output.shape == (0,)
    assert r["n"].output == 0


@pytest.mark.parametrize("parallel", [False, True])
def test_unmapped_first_output_with_run_folder(parallel: bool, tmp_path: Path) -> None:
    # the first output finished is a single value: nothing had created outputs/ yet
    r = Pipeline([Func(lambda x: x + 1, "y")]).map(
        {"x": 1}, run_folder=tmp_path / "run", parallel=parallel
    )
    assert r["y"].output == 2
    assert load_outputs("y", run_folder=tmp_path / "run") == 2


@pytest.mark.parametrize("storage", ["dict", "file_array", "chunked_file_array", "zarr_file_array"])
def test_generated_axis_from_nd_array_stores_rows(storage: str, tmp_path: Path) -> None:
    # the generator returns a (4, 2) array for internal shape (4,): 4 rows of length 2
    gen = Func(lambda: np.arange(8).reshape(4, 2), "x", mapspec="... -> x[i]")
    row_sum = Func(lambda x: int(np.sum(x)) if len(x) == 2 else -1, "y", mapspec="x[i] -> y[i]")
    r = Pipeline([gen, row_sum]).map({}, tmp_path / "run", storage=storage, parallel=False)
    x = r["x"].output
    assert x.shape == (4,)
    assert [row.tolist() for row in x] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert r["y"].output.tolist() == [1, 5, 9, 13]


@pytest.mark.parametrize("storage", ["dict", "file_array", "chunked_file_array", "zarr_file_array"])
def test_two_generated_axes_from_nd_array(storage: str, tmp_path: Path) -> None:
    # internal axes (i, j) of an array with an external axis k and one more dim left over
    gen = Func(lambda n: n * np.arange(24).reshape(2, 3, 4), "x", mapspec="n[k] -> x[k, i, j]")
    r = Pipeline([gen]).map({"n": [1, 10]}, tmp_path / "run", storage=storage, parallel=False)
    x = r["x"].output
    assert x.shape == (2, 2, 3)
    assert x[1, 1, 2].tolist() == (10 * np.arange(24).reshape(2, 3, 4))[1, 2].tolist()
    # a list of such arrays (nested one level) splits the same way
    lists = Func(lambda: [np.arange(12).reshape(3, 4)] * 2, "w", mapspec="... -> w[i, j]")
    w = Pipeline([lists]).map({}, parallel=False)["w"].output
    assert w.shape == (2, 3) and w[1, 2].tolist() == [8, 9, 10, 11]


@pytest.mark.parametrize("consumer_spec", [None, "w[k] -> z[k]"])
def test_fixed_axis_under_a_whole_array_consumer_is_rejected(
    consumer_spec: str | None, tmp_path: Path
) -> None:
    # z takes the whole of y (no mapspec entry for it): with i fixed it would see a masked y
    calls: list[int] = []

    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    def total(y: Any, w: int = 0) -> int:
        return int(sum(y)) + w

    y = Func(double, "y", mapspec="x[i] -> y[i]")
    z = Func(total, "z", mapspec=consumer_spec)
    inputs: dict[str, Any] = {"x": [1, 2, 3]}
    if consumer_spec is not None:
        inputs["w"] = [0, 1]
    with pytest.raises(InputError) as info:
        Pipeline([y, z]).map(inputs, tmp_path / "run", fixed_indices={"i": 1}, parallel=False)
    msg = str(info.value)
    assert "'i'" in msg and "'total'" in msg and "'y'" in msg
    assert "drop fixed_indices" in msg and "output_names" in msg
    assert calls == [] and not (tmp_path / "run").exists()  # before anything ran
    # computing only y with i fixed is fine
    r = Pipeline([y, z]).map(
        {"x": [1, 2, 3]}, fixed_indices={"i": 1}, output_names=["y"], parallel=False
    )
    assert r["y"].output[1] == 4


@pytest.mark.parametrize(
    ("storage", "parallel"),
    [("zarr_memory", False), ("zarr_shared_memory", False), ("zarr_shared_memory", True)],
)
def test_in_memory_zarr_is_persisted_into_the_run_folder(
    storage: str, parallel: bool, tmp_path: Path
) -> None:
    # it used to be refused with a run_folder; now its values are written there when
    # each func finishes, so loaders and resume find them as for 'dict'
    calls: list[int] = []

    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    y = Func(double, "y", mapspec="x[i] -> y[i]")
    p = Pipeline([y, Func(lambda y: [str(y)], "s", mapspec="y[i] -> s[i, j]")])
    folder = tmp_path / "run"
    kw: dict[str, Any] = {"storage": storage, "internal_shapes": {"s": 1}}
    r = p.map({"x": [1, 2, 3]}, folder, parallel=parallel, **kw)
    assert r["y"].output.tolist() == [2, 4, 6]
    assert load_outputs("y", run_folder=folder).tolist() == [2, 4, 6]  # numbers, int dtype
    assert load_outputs("s", run_folder=folder).tolist() == [["2"], ["4"], ["6"]]  # objects
    assert load_all_outputs(folder)["s"].shape == (3, 1)
    assert (folder / "outputs" / "y" / "zarr_memory.cloudpickle").is_file()
    calls.clear()
    again = p.map({"x": [1, 2, 3]}, folder, parallel=False, resume=True, **kw)
    assert calls == []  # nothing computed again: the resume read the persisted values
    assert again["s"].output.tolist() == [["2"], ["4"], ["6"]]


class _MemoryOnly(hpcflow.map.DictArray):
    """A backend of a user's that keeps nothing in a run folder."""

    storage_id = "memory_only_for_test"
    saves_to_folder = False

    def persist(self) -> None:
        pass


def test_a_backend_that_saves_nothing_to_the_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(hpcflow.map.storage_registry, _MemoryOnly.storage_id, _MemoryOnly)
    p = Pipeline([Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")])
    with pytest.raises(InputError) as info:
        p.map({"x": [1, 2, 3]}, tmp_path / "run", storage={"y": _MemoryOnly.storage_id})
    assert "'y'" in str(info.value) and "memory_only_for_test" in str(info.value)
    assert not (tmp_path / "run").exists()
    # a folder whose run.json names such a backend says so instead of returning Nones
    folder = tmp_path / "old"
    p.map({"x": [1, 2, 3]}, folder, parallel=False)
    meta = RunFolder(folder).read_meta()
    meta["storage"]["y"] = meta["arrays"]["y"]["storage"] = _MemoryOnly.storage_id
    (folder / "run.json").write_text(json.dumps(meta))
    for load in (lambda: load_outputs("y", run_folder=folder), lambda: load_all_outputs(folder)):
        with pytest.raises(RunFolderError, match="'y'.*memory_only_for_test.*in memory only"):
            load()


def _fork_probe() -> Func:
    # State set in the driver after start-up reaches a forked worker, not a fresh one.
    return Func(
        lambda x: getattr(np, "_hpcflow_fork_probe", False), "seen", mapspec="x[i] -> seen[i]"
    )


def test_default_pool_does_not_fork_under_map_async(monkeypatch: pytest.MonkeyPatch) -> None:
    # map_async computes on a thread; a fork copies only that thread (and other threads'
    # held locks), so the default pool's workers must come from a forkserver or spawn
    monkeypatch.setattr(np, "_hpcflow_fork_probe", True, raising=False)

    async def main() -> Any:
        return await Pipeline([_fork_probe()]).map_async({"x": [0, 1]}, chunksizes=1).task

    assert asyncio.run(main())["seen"].output.tolist() == [False, False]


def test_default_pool_does_not_fork_while_other_threads_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(np, "_hpcflow_fork_probe", True, raising=False)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        r = Pipeline([_fork_probe()]).map({"x": [0, 1]}, parallel=True, chunksizes=1)
    finally:
        stop.set()
        other.join()
    assert r["seen"].output.tolist() == [False, False]


def test_default_pool_forks_when_this_process_has_one_thread() -> None:
    # the fastest start, and no `if __name__ == "__main__":` guard needed in scripts
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    run = LocalMap(Pipeline([_fork_probe()]), {"x": [0]}, None, None, parallel=True)
    pool = run.executors["seen"]
    assert isinstance(pool, ProcessPoolExecutor)
    method = pool._mp_context.get_start_method()  # type: ignore[attr-defined]
    pool.shutdown()
    assert method == ("fork" if threading.active_count() == 1 else "forkserver")


def test_lambdas_and_closures_on_the_default_pool() -> None:
    offset = 7
    p = Pipeline([
        Func(lambda x: x + offset, "y", mapspec="x[i] -> y[i]"),
        Func(lambda y: int(np.sum(y)), "z"),
    ])  # fmt: skip
    assert p.map({"x": [1, 2, 3]}, parallel=True)["z"].output == 27

    async def main() -> Any:
        return await p.map_async({"x": [1, 2, 3]}).task  # the run executes in a thread

    assert asyncio.run(main())["z"].output == 27


# ---------------------------------------------------------- a fresh run, the lock
@func("y", mapspec="x[i] -> y[i]")
def _double(x: int) -> int:
    return 2 * x


def test_fresh_map_keeps_user_files_inside_hpcflow_folders(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    Pipeline([_double]).map({"x": [1, 2, 3]}, folder, parallel=False)
    mine = ["logs/mylog.txt", "stages/plan.md", "inputs/README", "outputs/plots/fig.svg"]
    for rel in mine:
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text("mine")
    Pipeline([_double]).map({"x": [5]}, folder, parallel=False, resume=False)
    assert all((folder / rel).read_text() == "mine" for rel in mine)
    assert load_outputs("y", run_folder=folder).tolist() == [10]  # the old 3 are gone
    assert [p.name for p in (folder / "markers" / "y").iterdir()] == ["0-1.json"]


def test_fresh_map_refuses_a_submitted_run_with_queued_jobs(tmp_path: Path) -> None:
    from hpcflow.testing import FakeScheduler

    folder = tmp_path / "run"
    sched = FakeScheduler()
    Pipeline([_double]).submit({"x": [1, 2]}, folder, scheduler=sched)
    assert sched.requests  # queued, never run: the run's jobs are live
    before = sorted(p.relative_to(folder) for p in folder.rglob("*"))
    with pytest.raises(RunFolderError, match=r"submitted run \(pipeline.cloudpickle") as e:
        Pipeline([_double]).map({"x": [7]}, folder, parallel=False, resume=False)
    assert f"hpcflow cancel {folder}" in str(e.value) and "overwrite=True" in str(e.value)
    assert sorted(p.relative_to(folder) for p in folder.rglob("*")) == before
    assert list(RunFolder(folder).load_input("x")) == [1, 2]


_SLOW_MAP = """
import sys, time
from pathlib import Path
from hpcflow import Pipeline, func

folder, calls, go, resume = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]

@func("y", mapspec="x[i] -> y[i]")
def slow(x):
    (calls / f"{x}.{time.monotonic_ns()}").touch()
    deadline = time.monotonic() + 120
    while not go.exists() and time.monotonic() < deadline:  # held until the test says go
        time.sleep(0.05)
    return 2 * x

Pipeline([slow]).map({"x": [0, 1, 2]}, folder, parallel=False, resume=resume == "1")
"""


@pytest.mark.parametrize("resume", [True, False])
def test_a_second_map_on_a_folder_in_use_is_refused(tmp_path: Path, resume: bool) -> None:
    import subprocess
    import sys
    import time

    folder, calls, go = tmp_path / "run", tmp_path / "calls", tmp_path / "go"
    calls.mkdir()
    script = tmp_path / "slow_map.py"
    script.write_text(_SLOW_MAP)
    first = subprocess.Popen(
        [sys.executable, str(script), str(folder), str(calls), str(go), str(int(resume))]
    )
    try:
        deadline = time.monotonic() + 120
        while not any(calls.iterdir()) and time.monotonic() < deadline:  # it is computing
            time.sleep(0.05)
        assert any(calls.iterdir()), "the first map never started computing"

        @func("y", mapspec="x[i] -> y[i]")
        def counted(x: int) -> int:
            (calls / f"{x}.second").touch()
            return 2 * x

        with pytest.raises(RunLockedError, match=rf"locked by a map in process {first.pid}") as e:
            Pipeline([counted]).map({"x": [0, 1, 2]}, folder, parallel=False, resume=resume)
        assert "hpcflow unlock" in str(e.value)
    finally:
        go.touch()
        assert first.wait(timeout=120) == 0
    assert sorted(p.name.split(".")[0] for p in calls.iterdir()) == ["0", "1", "2"]
    assert load_outputs("y", run_folder=folder).tolist() == [0, 2, 4]
    assert not (folder / "lock").exists()


@func("y", mapspec="x[i] -> y[i]")
def _fails_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two")
    return x


def test_the_lock_is_released_when_map_returns_or_raises(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    lock = folder / "lock"
    Pipeline([_double]).map({"x": [1]}, folder, parallel=False)
    assert not lock.exists()
    with pytest.raises(ValueError, match="two"):
        Pipeline([_fails_on_two]).map({"x": [1, 2]}, folder, parallel=False)
    assert not lock.exists()
    with pytest.raises(InputError, match="missing"):
        Pipeline([_double]).map({}, folder, parallel=False)
    assert not lock.exists()
    runner = run_map_async(Pipeline([_double]), {"x": [1, 2]}, folder, start=False)
    assert json.loads(lock.read_text())["purpose"] == "map"  # held from validation on
    with pytest.raises(RunLockedError, match="locked by a map"):
        Pipeline([_double]).map({"x": [1, 2]}, folder, parallel=False, resume=True)
    assert runner.result()["y"].output.tolist() == [2, 4]
    assert not lock.exists()

    async def in_a_loop() -> list[int]:
        started = Pipeline([_double]).map_async({"x": [3]}, folder, parallel=False)
        result = await started.task
        return list(result["y"].output.tolist())

    assert asyncio.run(in_a_loop()) == [6]
    assert not lock.exists()


def test_executor_dict_without_an_entry_for_a_func_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    called: list[int] = []
    f = Func(lambda x: (called.append(x), (x, -x))[1], ("y1", "y2"), mapspec="x[i] -> y1[i], y2[i]")
    g = Func(lambda x: x, "z", mapspec="x[i] -> z[i]")
    folder = tmp_path / "run"
    with ThreadPoolExecutor(1) as threads:
        with pytest.raises(InputError, match=r"executor has no entry for output \('y1', 'y2'\)"):
            Pipeline([f, g]).map({"x": [1, 2]}, folder, executor={"z": threads})
        assert called == [] and not folder.exists()
        # a default, a name of the func, or None (this process) each give it one
        for executor in ({"z": threads, "": None}, {"y2": None, "z": threads}):
            r = Pipeline([f, g]).map({"x": [1, 2]}, executor=executor)
            assert r["y1"].output.tolist() == [1, 2]


@pytest.mark.parametrize("arg", ["executor", "storage"])
def test_a_misspelt_output_in_an_executor_or_storage_dict_is_refused(
    tmp_path: Path, arg: str
) -> None:
    called: list[int] = []
    f = Func(lambda x: called.append(x) or x, "y", mapspec="x[i] -> y[i]")
    folder = tmp_path / "run"
    with ThreadPoolExecutor(1) as threads:
        value: dict[str, Any] = {"yy": threads, "": None}
        if arg == "storage":
            value = {"yy": "file_array", "": "dict"}
        with pytest.raises(
            InputError, match=rf"{arg} has key 'yy', which is no output.*\['', 'y'\]"
        ):
            Pipeline([f]).map({"x": [1, 2]}, folder, parallel=False, **{arg: value})
    assert called == [] and not folder.exists()
    # a key of an output left out by output_names is still fine, as for chunksizes
    g = Func(lambda y: y, "z", mapspec="y[i] -> z[i]")
    ok = {"z": "dict", "": "dict"} if arg == "storage" else {"z": None, "": None}
    r = Pipeline([f, g]).map({"x": [1]}, output_names={"y"}, parallel=False, **{arg: ok})
    assert r["y"].output.tolist() == [1]


def test_file_storage_without_a_run_folder_warns_where_the_files_went(tmp_path: Path) -> None:
    double = Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]")
    with pytest.warns(UserWarning, match="no run_folder was given") as caught:
        results = Pipeline([double]).map({"x": [1, 2]}, storage="file_array", parallel=False)
    assert results["y"].output.tolist() == [2, 4]
    (warning,) = caught
    assert warning.filename == __file__  # the caller's line, not hpcflow's
    folder = Path(str(warning.message).split("written to ")[1].split(",")[0])
    assert (folder / "outputs" / "y").is_dir()
    shutil.rmtree(folder)
    # the default without a folder is in memory, and says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Pipeline([double]).map({"x": [1, 2]}, parallel=False)


def test_internal_shapes_of_numpy_ints_or_none_are_taken() -> None:
    # a length from len()/shape arithmetic on arrays is a numpy int; None means not given
    gen = Func(lambda n: list(range(n)), "g", mapspec="... -> g[j]")
    p = Pipeline([gen])
    for given in (np.int64(3), (np.int64(3),), None):
        got = p.map({"n": 3}, internal_shapes={"g": given}, parallel=False)
        assert list(got["g"].output) == [0, 1, 2]
    assert p.shapes({"n": 3}, {"g": np.int64(3)}).shapes["g"] == (3,)
    assert p.shapes({"n": 3}, {"g": None}).shapes["g"] == ("?",)
    assert gen.mapspec is not None and gen.mapspec.shape({}, {"g": None}) == (("?",), (False,))


def test_a_multi_output_funcs_tuple_key_wins_for_executor_as_for_chunksizes() -> None:
    from hpcflow.element.local import _executor_entry
    from hpcflow.plan.chunks import user_chunksize

    key = ("a", "b")
    with ThreadPoolExecutor(1) as by_tuple, ThreadPoolExecutor(1) as by_name:
        executors = {("a", "b"): by_tuple, "a": by_name}
        assert _executor_entry(executors, key) is by_tuple
    assert user_chunksize({("a", "b"): 3, "a": 7}, key, 10) == 3
