"""What makes two storage handles the same array: the resume check compares inputs so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hpcflow.storage import ChunkedFileArray, DictArray, FileArray, ZarrFileArray


def test_file_arrays_are_equal_when_they_are_the_same_folder_and_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = FileArray.from_data([1, 2, 3], tmp_path / "d")
    monkeypatch.chdir(tmp_path)
    same = FileArray(Path("d"), (3,))  # relative: resolved before comparing
    assert a == same and hash(a) == hash(same)
    assert a != FileArray(tmp_path / "other", (3,))
    assert a != FileArray(tmp_path / "d", (1, 3))
    assert a != FileArray(tmp_path / "d", (3,), filename_template="{:d}.pkl")
    assert a != ChunkedFileArray(tmp_path / "d", (3,))
    assert a != "not a storage"


def test_zarr_block_size_is_part_of_its_identity(tmp_path: Path) -> None:
    a = ZarrFileArray(tmp_path / "z", (4,), chunk_size=2)
    assert a == ZarrFileArray(tmp_path / "z", (4,), chunk_size=2)
    assert a.layout() == (2,)


def test_in_memory_arrays_are_equal_only_to_themselves() -> None:
    a, b = DictArray(None, (2,)), DictArray(None, (2,))
    assert a == a and a != b
    assert len({a, b}) == 2


def test_a_symlinked_folder_is_the_same_array(tmp_path: Path) -> None:
    a = FileArray.from_data([1], tmp_path / "d")
    os.symlink(tmp_path / "d", tmp_path / "link")
    assert a == FileArray(tmp_path / "link", (1,))
