"""The code a newcomer copies from the README and the quickstart runs as written.

Each page's ``python`` blocks are joined into one script (later blocks use the names
earlier ones define, as a reader would in one session) and run in a fresh directory,
so a snippet whose body does not run (a stub returning ``None``, a renamed argument)
fails here rather than in front of a new user.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    """The fenced ``python`` blocks of a Markdown page, in order."""
    return _BLOCK.findall(page.read_text())


def run_blocks(blocks: list[str], cwd: Path) -> str:
    """Run the blocks as one script in ``cwd``; return its stdout (raise on failure)."""
    script = cwd / "snippet.py"
    script.write_text("\n".join(blocks))
    proc = subprocess.run(
        [sys.executable, str(script)], cwd=cwd, capture_output=True, text=True, timeout=180,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, f"{script.read_text()}\n--- stderr ---\n{proc.stderr}"
    return proc.stdout


def test_the_readme_first_example_runs(tmp_path: Path) -> None:
    # The first block is the whole local example; the second needs a SLURM cluster.
    first = python_blocks(ROOT / "README.md")[0]
    out = run_blocks([first, 'print("best:", results["best"].output.tolist())'], tmp_path)
    best = re.search(r"best: \[(.*)\]", out)
    assert best is not None, out
    assert len(best.group(1).split(",")) == 3  # one value per temperature
    assert (tmp_path / "runs" / "demo" / "run.json").is_file()


def test_the_quickstart_examples_run(tmp_path: Path) -> None:
    for module in ("xarray", "pandas", "polars"):
        pytest.importorskip(
            module, reason='the loaders need the test extra: pip install -e ".[test]"'
        )
    blocks = python_blocks(ROOT / "docs" / "quickstart.md")
    assert len(blocks) >= 4, "the quickstart lost its examples"
    out = run_blocks([*blocks, 'print("summary:", results["summary"].output)'], tmp_path)
    assert "summary: 1.75" in out
