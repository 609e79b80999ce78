"""The one place the schedulers import their atomic file writes from.

Readers on other hosts (the runner, ``Run.status``) must never see half a file.
"""

from __future__ import annotations

from pathlib import Path

from hpcflow._atomic import atomic_write_bytes, atomic_write_json

__all__ = ["atomic_write_json", "atomic_write_text"]


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` so that readers never see a partial file."""
    atomic_write_bytes(path, text.encode())
