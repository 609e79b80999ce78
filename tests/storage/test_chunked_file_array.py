"""``chunked_file_array``: reading whole chunks back."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcflow.storage._chunked_file_array import ChunkedFileArray


def test_to_array_keeps_every_value_whole_and_masks_the_missing(tmp_path: Path) -> None:
    store = ChunkedFileArray(tmp_path / "y", (6,))
    values = [(1, 2), [3], None, 4.5]
    store.dump_chunk([0, 1, 2, 3], values)  # sequences must not be unpacked into cells
    store.dump_chunk([5], [np.arange(3)])
    arr = store.to_array()
    assert arr.dtype == object and arr.shape == (6,)
    assert np.ma.getmaskarray(arr).tolist() == [False] * 4 + [True, False]
    assert [arr.data[i] for i in range(4)] == values
    assert arr.data[5].tolist() == [0, 1, 2]
