"""Shared fixtures: hostile paths, so every run folder test also tests quoting."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def weird_tmp_path(tmp_path: Path) -> Path:
    """A temporary directory whose name has spaces, quotes and a semicolon."""
    path = tmp_path / "a dir with 'quotes' \"and\" ; semicolons"
    path.mkdir()
    return path
