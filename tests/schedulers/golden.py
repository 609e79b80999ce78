"""Golden files of rendered job scripts: compare, show the diff, and accept on request.

Run ``HPCFLOW_ACCEPT_GOLDEN=1 python -m pytest tests/schedulers -k golden`` to rewrite
the golden files with the current output, then read the diff (``git diff tests/data``).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data"
ACCEPT = "HPCFLOW_ACCEPT_GOLDEN"


def check_golden(path: Path, text: str) -> None:
    """Compare ``text`` with the golden file ``path``; on a mismatch fail with the diff.

    With ``HPCFLOW_ACCEPT_GOLDEN=1`` in the environment the file is rewritten first.
    """
    if os.environ.get(ACCEPT) == "1":
        path.write_text(text)
    expected = path.read_text()
    if text != expected:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(True), text.splitlines(True), str(path), "rendered"
            )
        )
        pytest.fail(
            f"{path.name} differs from the rendered script:\n{diff}\nIf the change is "
            f"intended, accept it with: {ACCEPT}=1 python -m pytest tests/schedulers -k golden",
            pytrace=False,
        )
