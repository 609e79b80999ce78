"""Storage backends: one test class that every backend subclass runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from hpcflow.errors import StorageError, UnknownStorageError
from hpcflow.storage import (
    ChunkedFileArray,
    DictArray,
    FileArray,
    SharedMemoryDictArray,
    ZarrFileArray,
    ZarrMemoryArray,
    ZarrSharedMemoryArray,
    get_storage_class,
    register_storage,
    storage_registry,
)
from hpcflow.storage.base import MISSING
from hpcflow.testing.storage import StorageContract


class TestDictArray(StorageContract):
    cls = DictArray

    def test_no_folder_needed(self) -> None:
        arr = DictArray(None, (2,))
        arr.dump((0,), 1)
        arr.persist()  # nothing to do, nothing raised
        assert arr[0] == 1


class TestFileArray(StorageContract):
    cls = FileArray

    def test_needs_a_folder(self) -> None:
        with pytest.raises(StorageError, match="folder"):
            FileArray(None, (2,))

    def test_small_arrays_are_flat_with_default_names(self, tmp_path: Path) -> None:
        arr = FileArray(tmp_path, (10,))
        arr.dump((7,), 1)
        assert (tmp_path / "__7__.pickle").exists()

    @pytest.mark.parametrize(
        ("size", "index", "relative"),
        [(5000, 4321, "4/__4321__.pickle"), (2_000_000, 1_234_567, "1/234/__1234567__.pickle")],
    )
    def test_large_arrays_are_sharded(
        self, tmp_path: Path, size: int, index: int, relative: str
    ) -> None:
        arr = FileArray(tmp_path, (size,))
        arr.dump_linear(index, "v")
        assert (tmp_path / relative).exists()
        assert arr.get_linear(index) == "v"
        assert arr.done_linear([index - 1, index]).tolist() == [False, True]

    def test_directories_stay_small(self, tmp_path: Path) -> None:
        arr = FileArray(tmp_path, (2500,))
        for i in range(2500):
            arr.dump_linear(i, i)
        for _root, dirs, files in os.walk(tmp_path):
            assert len(dirs) + len(files) <= 1000
        assert arr.done_mask().all()

    def test_writer_killed_mid_write_leaves_nothing_done(self, tmp_path: Path) -> None:
        """SIGKILL a process while it writes a large element: no element counts as done."""
        # Stall inside os.replace: the .partial file is fully written but not renamed.
        script = textwrap.dedent(
            f"""
            import os, time
            from hpcflow.storage import FileArray
            def stalled_replace(src, dst):
                print("writing", flush=True)
                time.sleep(60)
            os.replace = stalled_replace
            FileArray({str(tmp_path)!r}, (2,)).dump_linear(0, "x" * 10_000_000)
            """
        )
        with subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
        ) as proc:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "writing"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert len(list(tmp_path.glob("__0__.pickle.*.partial"))) == 1
        arr = FileArray(tmp_path, (2,))
        assert not arr.done_mask().any()
        assert arr[0] is np.ma.masked


def test_registry() -> None:
    assert get_storage_class("dict") is DictArray
    assert get_storage_class("file_array") is FileArray
    with pytest.raises(
        UnknownStorageError,
        match="registered storage backends: chunked_file_array, dict, file_array, shared_memory_dict, zarr_file_array",
    ):
        get_storage_class("nope")


def test_register_custom_backend() -> None:
    class Mine(DictArray):
        storage_id = "mine_for_test"

    register_storage(Mine)
    try:
        assert get_storage_class("mine_for_test") is Mine
        register_storage(Mine, "alias_for_test")
        assert get_storage_class("alias_for_test") is Mine
    finally:
        storage_registry.pop("mine_for_test", None)
        storage_registry.pop("alias_for_test", None)
    with pytest.raises(StorageError, match="StorageBase subclass"):
        register_storage(int)  # type: ignore[arg-type]


class TestChunkedFileArray(StorageContract):
    cls = ChunkedFileArray

    def test_one_file_per_consecutive_run(self, tmp_path: Path) -> None:
        arr = ChunkedFileArray(tmp_path, (10,))
        arr.dump_chunk(list(range(5)), list(range(5)))
        arr.dump_chunk([5, 6, 8], [5, 6, 8])
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "0-5.pickle",
            "5-7.pickle",
            "8-9.pickle",
        ]

    def test_done_ness_never_reads_values(self, tmp_path: Path) -> None:
        arr = ChunkedFileArray(tmp_path, (10,))
        arr.dump_chunk([0, 1, 2], [0, 1, 2])
        (tmp_path / "0-3.pickle").write_bytes(b"corrupt")
        fresh = ChunkedFileArray(tmp_path, (10,))
        assert fresh.done_mask().tolist() == [True] * 3 + [False] * 7

    def test_reader_sees_chunks_written_later(self, tmp_path: Path) -> None:
        reader = ChunkedFileArray(tmp_path, (4,))
        assert reader.get_linear(3) is MISSING
        ChunkedFileArray(tmp_path, (4,)).dump_chunk([2, 3], ["x", "y"])
        assert reader.get_linear(3) == "y"


class TestSharedMemoryDictArray(StorageContract):
    cls = SharedMemoryDictArray


class TestZarrFileArray(StorageContract):
    cls = ZarrFileArray

    def test_numbers_keep_their_native_dtype(self, tmp_path: Path) -> None:
        import zarr

        arr = ZarrFileArray(tmp_path, (4, 3), (3,), (True, False), chunk_size=2)
        arr.dump_chunk([0, 1], [np.array([1.5, 2.0, 3.0]), np.array([4.0, 5.0, 6.0])])
        assert arr.dtype == "float64"
        on_disk = zarr.open_array(tmp_path / "values", mode="r")
        assert on_disk.dtype == np.float64
        assert on_disk.shape == (4, 3) and on_disk.chunks == (2, 3)
        assert arr.to_array()[1].tolist() == [4.0, 5.0, 6.0]

    def test_objects_go_through_cloudpickle(self, tmp_path: Path) -> None:
        arr = ZarrFileArray(tmp_path, (2,), chunk_size=2)
        arr.dump_chunk([0, 1], [{"a": 1}, lambda: 7])
        assert arr.dtype == "cloudpickle"
        assert arr[0] == {"a": 1} and arr[1]() == 7

    def test_a_value_that_does_not_fit_the_dtype_is_an_error(self, tmp_path: Path) -> None:
        arr = ZarrFileArray(tmp_path, (4,), chunk_size=2)
        arr.dump_chunk([0, 1], [1, 2])
        with pytest.raises(StorageError, match="chunked_file_array"):
            arr.dump_chunk([2, 3], [1.5, 2.5])  # would truncate to int
        assert not arr.done_linear([2, 3]).any()

    def test_engine_chunks_follow_zarr_chunks(self, tmp_path: Path) -> None:
        from hpcflow import Func, Pipeline

        p = Pipeline([Func(lambda x: x * 1.0, "y", mapspec="x[i] -> y[i]")])
        p.map(
            {"x": list(range(10))},
            tmp_path / "r",
            storage="zarr_file_array",
            chunksizes=4,
            parallel=False,
        )
        done = sorted(e.name for e in (tmp_path / "r" / "outputs" / "y" / "done").iterdir())
        assert done == ["0-4", "4-8", "8-10"]
        r = p.map(
            {"x": list(range(10))},
            tmp_path / "r",
            storage="zarr_file_array",
            chunksizes=3,
            parallel=False,
            resume=True,
        )
        assert r["y"].output.tolist() == [float(i) for i in range(10)]


class TestZarrMemoryArray(StorageContract):
    cls = ZarrMemoryArray


class TestZarrSharedMemoryArray(StorageContract):
    cls = ZarrSharedMemoryArray


def test_file_array_from_data_as_a_mapped_input(tmp_path: Path) -> None:
    from hpcflow import Func, Pipeline

    big = FileArray.from_data([np.arange(3) * i for i in range(5)], tmp_path / "input")
    assert big.shape == (5,)
    grid = FileArray.from_data(np.arange(6).reshape(2, 3), tmp_path / "grid")
    assert grid.shape == (2, 3) and grid[1, 2] == 5
    p = Pipeline([Func(lambda v: int(v.sum()), "s", mapspec="v[i] -> s[i]")])
    r = p.map({"v": big}, tmp_path / "run", parallel=True, chunksizes=2)
    assert r["s"].output.tolist() == [0, 3, 6, 9, 12]
    with pytest.raises(StorageError, match="list or NumPy array"):
        FileArray.from_data(42, tmp_path / "bad")


@pytest.mark.parametrize("storage_id", ["chunked_file_array", "file_array"])
def test_retire_sets_elements_aside_and_keeps_the_others(tmp_path: Path, storage_id: str) -> None:
    from hpcflow.storage.base import get_storage_class

    st = get_storage_class(storage_id)(tmp_path / "out", (10,))
    st.dump_chunk(list(range(10)), [f"v{i}" for i in range(10)])
    aside = tmp_path / "aside"
    st.retire([5, 2, 2], aside)
    assert st.done_linear(range(10)).tolist() == [i not in (2, 5) for i in range(10)]
    assert [st.get_linear(i) for i in (0, 1, 3, 4, 6, 9)] == ["v0", "v1", "v3", "v4", "v6", "v9"]
    assert any(aside.iterdir())  # the old values are kept, not deleted
    st.dump_chunk([2, 5], ["new2", "new5"])
    fresh = get_storage_class(storage_id)(tmp_path / "out", (10,))
    assert [fresh.get_linear(i) for i in range(10)] == [
        "new2" if i == 2 else "new5" if i == 5 else f"v{i}" for i in range(10)
    ]


def test_retire_is_refused_by_backends_that_cannot(tmp_path: Path) -> None:
    from hpcflow.storage.base import get_storage_class

    st = get_storage_class("zarr_file_array")(tmp_path / "out", (4,))
    with pytest.raises(StorageError, match="needs 'chunked_file_array' or 'file_array'"):
        st.retire([1], tmp_path / "aside")


def test_saves_to_folder_capability() -> None:
    # what a run with a run_folder accepts: only backends whose values reach the folder
    saved = {name for name, cls in storage_registry.items() if cls.saves_to_folder}
    assert saved >= {"dict", "shared_memory_dict", "file_array", "chunked_file_array"}
    assert "zarr_file_array" in saved
    # the in-memory zarr backends persist into their folder, as 'dict' does
    assert {"zarr_memory", "zarr_shared_memory"} <= saved


@pytest.mark.parametrize("storage", ["zarr_memory", "zarr_shared_memory"])
def test_in_memory_zarr_restores_its_layout_and_ignores_another_size(
    storage: str, tmp_path: Path
) -> None:
    from hpcflow.storage.base import get_storage_class

    cls = get_storage_class(storage)
    arr = cls(tmp_path / "y", (5,), chunk_size=2)
    arr.dump_chunk([0, 1], [1.5, 2.5])
    arr.dump_chunk([4], [4.5])
    arr.persist()
    again = cls(tmp_path / "y", (5,), chunk_size=5)
    assert again.chunk_size == 2 and again.dtype == "float64"  # the stored layout wins
    assert again.done_mask().tolist() == [True, True, False, False, True]
    assert [again.get_linear(i) for i in (0, 1, 4)] == [1.5, 2.5, 4.5]
    other = cls(tmp_path / "y", (7,), chunk_size=5)  # another run's shape: a fresh array
    assert other.chunk_size == 5 and not other.done_mask().any()
