"""Damaged stored files: a named error on read, and a cheap check for resume (#13 item 12)."""

from __future__ import annotations

from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from hpcflow._atomic import pickle_looks_whole
from hpcflow.errors import CorruptDataError
from hpcflow.storage import ChunkedFileArray, DictArray, FileArray, ZarrFileArray
from hpcflow.storage._zstd import zstd_frame_looks_whole


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-3])


def test_a_truncated_element_file_names_the_file_and_the_way_out(tmp_path: Path) -> None:
    arr = FileArray.from_data([{"a": 1}, {"b": 2}], tmp_path / "y")
    _truncate(arr.path(1))
    fresh = FileArray(tmp_path / "y", (2,))
    with pytest.raises(CorruptDataError, match=r"__1__\.pickle is corrupt") as info:
        fresh.to_array()
    assert "resume" in str(info.value) and "delete the file" in str(info.value)
    assert info.value.path == arr.path(1)
    assert fresh.damaged_linear([0, 1]).tolist() == [False, True]


def test_a_truncated_chunk_file_flags_every_element_in_it(tmp_path: Path) -> None:
    arr = ChunkedFileArray(tmp_path / "y", (5,))
    arr.dump_chunk([0, 1, 2], ["a", "b", "c"])
    arr.dump_chunk([3, 4], ["d", "e"])
    _truncate(tmp_path / "y" / "0-3.pickle")
    fresh = ChunkedFileArray(tmp_path / "y", (5,))
    with pytest.raises(CorruptDataError, match=r"0-3\.pickle is corrupt"):
        fresh.get_linear(1)
    assert fresh.damaged_linear(np.arange(5)).tolist() == [True, True, True, False, False]
    fresh.retire([0, 1, 2], tmp_path / "aside")  # a damaged file is moved, never read
    assert fresh.done_mask().tolist() == [False, False, False, True, True]
    assert (tmp_path / "aside" / "0-3.pickle").exists()


def test_a_damaged_dict_file_names_the_file(tmp_path: Path) -> None:
    arr = DictArray(tmp_path / "y", (2,))
    arr.dump_linear(0, 1)
    arr.persist()
    _truncate(tmp_path / "y" / "dict_array.cloudpickle")
    with pytest.raises(CorruptDataError, match=r"dict_array\.cloudpickle is corrupt.*delete"):
        DictArray(tmp_path / "y", (2,))


@pytest.mark.parametrize(
    "value", [1, None, "x" * 100, list(range(10_000)), np.arange(200_000), b"z" * 100_000]
)
def test_a_whole_pickle_looks_whole_and_every_truncation_does_not(
    value: object, tmp_path: Path
) -> None:
    data = cloudpickle.dumps(value)
    path = tmp_path / "v.pickle"
    path.write_bytes(data)
    assert pickle_looks_whole(path)
    for cut in sorted(c for c in {0, 1, 2, 5, 11, len(data) // 2, len(data) - 1} if c < len(data)):
        path.write_bytes(data[:cut])
        assert not pickle_looks_whole(path), cut
    assert pickle_looks_whole(tmp_path / "missing")  # not done is not damaged


@pytest.mark.parametrize("size", [3_000, 2_000_000])  # one and two directory levels
def test_the_damage_check_reads_files_by_name_per_directory(
    size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # resume checks every element file: building a path per element cost more than
    # reading the file (3.2 s for 10^5 elements), so no path is built per element
    arr = FileArray(tmp_path / "y", (size,))
    stored = [0, 1, 999, 1000, 2500, size - 1]
    for i in stored:
        arr.dump_linear(i, {"i": i})
    _truncate(arr.path(1000))
    fresh = FileArray(tmp_path / "y", (size,))
    built = []
    real_path = FileArray.path
    monkeypatch.setattr(FileArray, "path", lambda self, i: built.append(i) or real_path(self, i))
    asked = np.array([size - 1, 1000, 5, 0, 2500, 1001, *range(10, 20)])  # unsorted
    assert np.flatnonzero(fresh.damaged_linear(asked)).tolist() == [1]
    assert np.flatnonzero(fresh.done_linear(asked)).tolist() == [0, 1, 3, 4]
    assert built == []


@pytest.mark.parametrize(
    "values", [[1.5, 2.5, 3.5, 4.5, 5.5], [{"a": 1}, {"b": 2}, "c", None, 5]], ids=["num", "obj"]
)
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_zarr_chunk_is_named_found_and_set_aside(
    values: list[object], damage: str, tmp_path: Path
) -> None:
    arr = ZarrFileArray(tmp_path / "y", (5,), chunk_size=2)
    for lo in range(0, 5, 2):
        arr.dump_chunk(range(lo, min(lo + 2, 5)), values[lo : lo + 2])
    chunk = tmp_path / "y" / "values" / "c" / "1"  # elements 2 and 3
    data = chunk.read_bytes()
    chunk.write_bytes({"truncated": data[:-3], "garbage": b"\x00\xff" * 20, "empty": b""}[damage])
    fresh = ZarrFileArray(tmp_path / "y", (5,))
    with pytest.raises(CorruptDataError, match=r"values/c/1 is corrupt.*resume") as info:
        fresh.get_linear(3)
    assert info.value.path == chunk
    with pytest.raises(CorruptDataError, match=r"values/c/1 is corrupt"):
        fresh.to_array()
    assert fresh.damaged_linear(np.arange(5)).tolist() == [False, False, True, True, False]
    fresh.retire_damaged([2, 3], tmp_path / "aside")  # the chunk file is moved, not read
    assert fresh.done_linear(np.arange(5)).tolist() == [True, True, False, False, True]
    assert (tmp_path / "aside" / "values" / "c" / "1").exists()
    fresh.dump_chunk([2, 3], values[2:4])
    again = ZarrFileArray(tmp_path / "y", (5,))
    assert [again.get_linear(i) for i in range(5)] == values
    assert not again.damaged_linear(np.arange(5)).any()


@pytest.mark.parametrize(
    "value", [b"", b"abc", np.arange(300_000).tobytes(), np.random.default_rng(0).bytes(400_000)]
)
def test_a_whole_zstd_frame_looks_whole_and_every_truncation_does_not(
    value: bytes, tmp_path: Path
) -> None:
    import numcodecs

    data = numcodecs.Zstd(level=0).encode(value)
    path = tmp_path / "c"
    path.write_bytes(data)
    assert zstd_frame_looks_whole(path)
    for cut in sorted(
        c for c in {0, 1, 4, 5, 6, 9, len(data) // 2, len(data) - 1} if c < len(data)
    ):
        path.write_bytes(data[:cut])
        assert not zstd_frame_looks_whole(path), cut
