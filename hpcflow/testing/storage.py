"""The storage contract: one test class that every backend subclasses.

Subclass `StorageContract`, set ``cls``, and pytest runs every test on your backend::

    from hpcflow.testing.storage import StorageContract

    class TestMyArray(StorageContract):
        cls = MyArray

A capability the backend does not declare (``dump_in_subprocess``, ``persistent``,
``saves_to_folder``) turns
the tests that need it into skips, never into deleted tests.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

from hpcflow.errors import StorageError
from hpcflow.storage.base import MISSING, StorageBase

__all__ = ["StorageContract"]


def _write_chunk(arr: StorageBase, lo: int, hi: int) -> None:
    arr.dump_chunk(list(range(lo, hi)), [f"v{i}" for i in range(lo, hi)])


class _Stall:
    """A value whose pickling blocks, so a writer can be killed in the middle of a write."""

    def __init__(self, flag: str) -> None:
        self.flag = flag

    def __reduce__(self) -> Any:
        Path(self.flag).touch()
        time.sleep(60)
        return (str, ("never",))


def _write_and_stall(arr: StorageBase, flag: str) -> None:
    arr.dump_chunk([0, 1, 2], ["a", "b", _Stall(flag)])


class StorageContract:
    """Behaviour every backend must have; a capability it lacks is a skip."""

    cls: ClassVar[type[StorageBase]]

    def make(
        self, folder: Path, shape: tuple[int, ...], internal: tuple[int, ...] = (), mask: Any = None
    ) -> StorageBase:
        # backends that store blocks of consecutive elements get blocks of 10, the size
        # the concurrent-writer test writes
        kwargs = {"chunk_size": 10} if self.cls.aligns_chunks else {}
        return self.cls(folder / "arr", shape, internal, mask, **kwargs)

    def test_handles_of_one_array_on_disk_are_equal(self, tmp_path: Path) -> None:
        # a resumed run compares storage-backed inputs so (see StorageBase.identity)
        arr = self.make(tmp_path, (3,))
        arr.dump_linear(0, 1)
        if not self.cls.persistent:
            assert arr == arr and arr != self.make(tmp_path, (3,))
            return
        other = self.make(tmp_path, (3,))
        assert arr == other and hash(arr) == hash(other)
        assert arr != self.make(tmp_path / "elsewhere", (3,))
        assert arr != self.make(tmp_path, (4,))

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
        mask = np.ma.getmaskarray(full)
        assert mask[1].all() and not mask[0].any()
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
        if not self.cls.saves_to_folder:
            pytest.skip(f"{self.cls.__name__} does not save to a folder")
        assert again[0] == [1, 2]
        assert again[1] is np.ma.masked

    def test_shape_mask_must_match(self, tmp_path: Path) -> None:
        with pytest.raises(StorageError, match="shape_mask"):
            self.make(tmp_path, (2, 3), (3,), (True,))

    def test_dump_chunk(self, tmp_path: Path) -> None:
        arr = self.make(tmp_path, (6,))
        arr.dump_chunk([3, 1, 2], ["c", "a", "b"])
        assert arr.done_mask().tolist() == [False, True, True, True, False, False]
        assert [arr.get_linear(i) for i in (1, 2, 3)] == ["a", "b", "c"]
        with pytest.raises((ValueError, StorageError)):
            arr.dump_chunk([4, 5], ["only one"])

    def test_concurrent_writers_of_different_chunks(self, tmp_path: Path) -> None:
        if not self.cls.dump_in_subprocess:
            pytest.skip(f"{self.cls.__name__} cannot be written by other processes")
        ctx = multiprocessing.get_context("fork")
        # one handle, made here and shipped to every writer, as the engines do
        arr = self.make(tmp_path, (40,))
        procs = [
            ctx.Process(target=_write_chunk, args=(arr, lo, lo + 10)) for lo in range(0, 40, 10)
        ]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
            assert p.exitcode == 0
        assert arr.done_mask().all()
        assert arr.to_array().tolist() == [f"v{i}" for i in range(40)]
        if self.cls.persistent:
            assert self.make(tmp_path, (40,)).to_array().tolist() == [f"v{i}" for i in range(40)]

    def test_writer_killed_mid_write_leaves_nothing_partial_done(self, tmp_path: Path) -> None:
        if not self.cls.dump_in_subprocess:
            pytest.skip(f"{self.cls.__name__} cannot be written by other processes")
        flag = tmp_path / "stalled"
        arr = self.make(tmp_path, (4,))
        proc = multiprocessing.get_context("fork").Process(
            target=_write_and_stall, args=(arr, str(flag))
        )
        proc.start()
        deadline = time.monotonic() + 30
        while not flag.exists():
            assert time.monotonic() < deadline, "writer never started"
            time.sleep(0.01)
        os.kill(proc.pid or 0, signal.SIGKILL)
        proc.join(30)
        if self.cls.persistent:
            arr = self.make(tmp_path, (4,))
        done = arr.done_mask()
        assert not done[2] and not done[3]
        for i in np.flatnonzero(done):  # whatever counts as done reads back whole
            assert arr.get_linear(int(i)) == "ab"[int(i)]
        assert arr.get_linear(2) is MISSING
