"""What a wheel ships: an install from PyPI must find the default job script templates."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hpcflow.schedulers.pbs import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]


def test_the_package_reads_the_repository_templates() -> None:
    for name in ("pbs.sh", "torque.sh"):
        assert (TEMPLATES / name).read_text() == (ROOT / "templates" / name).read_text()


@pytest.mark.slow
def test_the_wheel_ships_the_templates(tmp_path: Path) -> None:
    # build from a copy: setuptools writes build/ and *.egg-info into the source tree
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("hpcflow", "templates"):
        shutil.copytree(ROOT / name, src / name, symlinks=True,
                        ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(tmp_path / "dist"), str(src)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    (wheel,) = (tmp_path / "dist").glob("hpcflow-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        for name in ("pbs.sh", "torque.sh"):
            shipped = zf.read(f"hpcflow/_templates/{name}").decode()
            assert shipped == (ROOT / "templates" / name).read_text()
