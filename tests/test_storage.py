"""Storage backends: one test class that every backend subclass runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from hpcflow.errors import StorageError, UnknownStorageError
from hpcflow.storage import (
    MISSING,
    DictArray,
    FileArray,
    StorageBase,
    get_storage_class,
    register_storage,
    storage_registry,
)


class StorageContract:
    """Behaviour every backend must have; a capability it lacks is a skip."""

    cls: ClassVar[type[StorageBase]]

    def make(
        self, folder: Path, shape: tuple[int, ...], internal: tuple[int, ...] = (), mask: Any = None
    ) -> StorageBase:
        return self.cls(folder / "arr", shape, internal, mask)

    def test_dump_and_get_by_key_and_linear_index(self, tmp_path: Path) -> None:
        arr = self.make(tmp_path, (2, 3))
        arr.dump((1, 2), {"a": 1})
        arr.dump_linear(0, "first")
        assert arr[1, 2] == {"a": 1}
        assert arr.get_linear(5) == {"a": 1}
        assert arr[0, 0] == "first"
        assert arr.has((1, 2)) and not arr.has((0, 1))

    def test_missing_elements_are_masked(self, tmp_path: Path) -> None:
        arr = self.make(tmp_path, (3,))
        arr.dump((1,), 10)
        assert arr[0] is np.ma.masked
        assert arr.get_linear(0) is MISSING
        full = arr.to_array()
        assert full.mask.tolist() == [True, False, True]
        assert full[1] == 10
        assert arr.mask.mask.tolist() == [True, False, True]

    def test_slices_return_masked_arrays(self, tmp_path: Path) -> None:
        arr = self.make(tmp_path, (2, 3))
        for i in range(3):
            arr.dump((0, i), i)
        row = arr[0, :]
        assert isinstance(row, np.ma.MaskedArray)
        assert row.tolist() == [0, 1, 2]
        col = arr[:, 1]
        assert col.mask.tolist() == [False, True]

    def test_negative_indices(self, tmp_path: Path) -> None:
        arr = self.make(tmp_path, (2, 3))
        arr.dump((-1, -1), "last")
        assert arr[1, 2] == "last"
        assert arr.get_linear(5) == "last"

    def test_done_mask_does_not_need_values(self, tmp_path: Path) -> None:
        arr = self.make(tmp_path, (4,))
        arr.dump((2,), 1)
        assert arr.done_mask().tolist() == [False, False, True, False]
        assert arr.done_linear([2, 3]).tolist() == [True, False]

    def test_internal_shape(self, tmp_path: Path) -> None:
        # external axis i, internal axis j (length 2), shape_mask (True, False)
        arr = self.make(tmp_path, (3, 2), (2,), (True, False))
        arr.dump((0,), [1, 2])
        arr.dump((2,), np.array([5, 6]))
        assert arr[0, 1] == 2
        assert arr[2, :].tolist() == [5, 6]
        full = arr.to_array()
        assert full.shape == (3, 2)
        assert full.mask[1].all() and not full.mask[0].any()
        assert full[2].tolist() == [5, 6]
        assert arr.to_array(splat_internal=False).shape == (3,)

    def test_interleaved_internal_axis(self, tmp_path: Path) -> None:
        # shape (j internal=2, i external=3)
        arr = self.make(tmp_path, (2, 3), (2,), (False, True))
        arr.dump((1,), ["a", "b"])
        assert arr[0, 1] == "a" and arr[1, 1] == "b"
        assert arr.to_array()[:, 1].tolist() == ["a", "b"]

    def test_persistence_round_trip(self, tmp_path: Path) -> None:
        arr = self.make(tmp_path, (3,))
        arr.dump((0,), [1, 2])
        arr.persist()
        again = self.make(tmp_path, (3,))
        if not (self.cls.persistent or again.get_linear(0) is not MISSING):
            pytest.skip(f"{self.cls.__name__} does not persist")
        assert again[0] == [1, 2]
        assert again[1] is np.ma.masked

    def test_shape_mask_must_match(self, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match="shape_mask"):
            self.make(tmp_path, (2, 3), (3,), (True,))


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
    with pytest.raises(UnknownStorageError, match="registered storage backends: dict, file_array"):
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
