"""A cheap check, without decompressing, that a zstd-compressed zarr chunk file is whole.

zarr 3 compresses each chunk into one zstd frame (RFC 8878): a magic number, a frame
header, then blocks, each with a 3-byte header giving its size, the last one flagged.
Walking the block headers (one small read per block of at most 128 KiB) ends exactly at
the end of a whole file; a truncated file, an empty one or one overwritten with other
bytes (the magic number: 1 chance in 2^32) does not.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["zstd_frame_looks_whole"]

_MAGIC = b"\x28\xb5\x2f\xfd"
_FCS_BYTES = (0, 2, 4, 8)  # Frame_Content_Size field sizes by flag (0: 1 if single segment)
_DICT_BYTES = (0, 1, 2, 4)
_RLE, _RESERVED = 1, 3


def zstd_frame_looks_whole(path: Path | str) -> bool:
    """True if ``path`` holds one whole zstd frame, by its headers alone.

    A missing file is True: the caller decides what a missing chunk means.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return True
    try:
        size = os.fstat(fd).st_size
        head = os.pread(fd, 18, 0)  # magic, descriptor and the largest header fields
        if len(head) < 6 or head[:4] != _MAGIC:
            return False
        desc = head[4]
        single, checksum = bool(desc & 0x20), bool(desc & 0x04)
        fcs = _FCS_BYTES[desc >> 6] or (1 if single else 0)
        pos = 5 + (0 if single else 1) + _DICT_BYTES[desc & 0x03] + fcs
        while True:
            block = os.pread(fd, 3, pos)
            if len(block) < 3:
                return False
            word = int.from_bytes(block, "little")
            last, kind, n = word & 1, (word >> 1) & 3, word >> 3
            if kind == _RESERVED:
                return False
            pos += 3 + (1 if kind == _RLE else n)
            if pos > size:
                return False
            if last:
                return pos + (4 if checksum else 0) == size
    finally:
        os.close(fd)
