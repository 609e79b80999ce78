"""The HTML report in a real headless Chromium (Debian's ``chromium`` package, which
``cluster_tests/minislurm/install.sh`` installs; no browser is downloaded at run time).

The page has no script, so "no script errors" is checked as Chromium's console log
holding no ``Uncaught`` error; the DOM must hold the timeline and one row per function,
and the screenshot must not be blank (more than one colour, decoded with zlib only).
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from hpcflow import Run

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="needs Debian's chromium (apt-get install chromium; cluster_tests/minislurm/"
    "install.sh installs it)",
)
TIMEOUT = 180  # seconds per browser run; generous for a loaded machine


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    argv = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0", *args,
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def png_colours(data: bytes, limit: int = 16) -> set[bytes]:
    """Distinct pixels of an 8-bit RGB/RGBA PNG (up to ``limit``), filters undone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour_type in (2, 6), (depth, colour_type)
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    found: set[bytes] = set()
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        for x in range(0, stride, bpp):
            found.add(bytes(line[x : x + 3]))
        if len(found) >= limit:
            break
        prev = line
    return found


def test_png_colours_reads_a_one_colour_image() -> None:
    # a 2x1 white RGB image, "Up"-filtered: the decoder must see one colour
    raw = b"\x02" + b"\xff" * 6
    ihdr = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
    png += chunk(b"IEND", b"")
    assert png_colours(png) == {b"\xff\xff\xff"}


def test_html_report_renders_in_chromium(local_run: Run, tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    local_run.report().to_html(page)
    url = page.as_uri()
    dom = _chromium(tmp_path, "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="timeline"' in dom.stdout
    assert dom.stdout.count('class="func-row"') == 2  # y and total
    assert dom.stdout.count('class="task"') == 4  # every array task is a bar
    shot = tmp_path / "shot.png"
    run = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", url)
    assert run.returncode == 0, run.stderr[-2000:]
    for log in (dom.stderr, run.stderr):
        assert "Uncaught" not in log, log[-2000:]
    assert len(png_colours(shot.read_bytes())) > 1, "the screenshot is blank"
