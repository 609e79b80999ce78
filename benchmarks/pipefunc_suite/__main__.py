"""Run pipefunc's own map/mapspec tests against hpcflow through the shim.

``python -m benchmarks.pipefunc_suite [--tests DIR] [--json OUT] [--files F ...]``

The tests come from ``--tests`` (an extracted pipefunc sdist, or its ``tests`` folder);
without it, the pipefunc sdist is downloaded with ``pip download`` into a temporary
folder. Only the ``tests`` folder is copied into a fresh temporary folder and run there,
so that pipefunc's own sources, next to its tests in the sdist, cannot be imported
instead of the shim. ``shim/`` and the repository root come first on ``PYTHONPATH``.
Run it with a Python that has hpcflow's dependencies, pytest, pytest-asyncio (else the
async tests fail for that reason alone), xarray, pandas and zarr; never pipefunc.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

PIPEFUNC_VERSION = "0.93.2"
# "map and mapspec tests": 241 tests with pipefunc 0.93.2 (see benchmarks/README.md)
SUITE_FILES = (
    "tests/map/test_map.py",
    "tests/map/test_mapspec.py",
    "tests/test_pipeline_mapspec.py",
    "tests/map/test_run_dynamic_internal_shape.py",
    "tests/map/test_result.py",
    "tests/map/test_regular_regressions.py",
)
SHIM = Path(__file__).resolve().parent / "shim"
REPO = Path(__file__).resolve().parents[2]
PYTEST_INI = "[pytest]\nasyncio_default_fixture_loop_scope = module\n"


def download_tests(dest: Path) -> Path:
    """Download and extract the pipefunc sdist into ``dest``; return the sdist root."""
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"pipefunc=={PIPEFUNC_VERSION}", "-d", str(dest)],
        check=True,
    )  # fmt: skip
    (archive,) = dest.glob("pipefunc-*.tar.gz")
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest / f"pipefunc-{PIPEFUNC_VERSION}"


def tests_root(path: Path) -> Path:
    """The folder holding ``tests/`` for ``--tests`` given as the sdist or its tests folder."""
    path = path.resolve()
    if (path / "tests").is_dir():
        return path
    if path.name == "tests" and path.is_dir():
        return path.parent
    raise SystemExit(f"--tests {path}: neither a pipefunc sdist nor its tests folder")


def shim_env() -> dict[str, str]:
    """The environment with the shim, then this repository, first on ``PYTHONPATH``."""
    env = dict(os.environ)
    parts = [str(SHIM), str(REPO), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in parts if p)
    return env


def check_shim(env: dict[str, str], cwd: Path) -> None:
    """Refuse to run if ``import pipefunc`` would not load the shim."""
    out = subprocess.run(
        [sys.executable, "-c", "import pipefunc; print(pipefunc.__file__)"],
        env=env, cwd=cwd, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    if not Path(out).resolve().is_relative_to(SHIM):
        raise SystemExit(f"'import pipefunc' loads {out}, not the shim in {SHIM}")


def outcomes(junit: Path) -> dict[str, dict[str, str]]:
    """``{test id: {"outcome": passed|failed|error|skipped, "message": ...}}`` from junit XML.

    A test that fails and then errors in teardown appears twice; its worst outcome counts.
    """
    rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
    result: dict[str, dict[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        path = case.get("classname", "").replace(".", "/")
        test_id = f"{path}.py::{case.get('name')}"
        outcome, message = "passed", ""
        for child in case:
            kind = {"error": "error", "failure": "failed", "skipped": "skipped"}.get(child.tag)
            if kind is not None and rank[kind] > rank[outcome]:
                outcome = kind
                message = (child.get("message") or "").partition("\n")[0][:300]
        old = result.get(test_id)
        if old is None or rank[outcome] > rank[old["outcome"]]:
            result[test_id] = {"outcome": outcome, "message": message}
    return result


def run(source: Path, files: list[str], json_out: Path | None, pytest_args: list[str]) -> int:
    """Copy the tests, run pytest on ``files`` with the shim; print and return the counts."""
    with tempfile.TemporaryDirectory(prefix="pipefunc-suite-") as tmp:
        work = Path(tmp)
        shutil.copytree(source / "tests", work / "tests")
        (work / "pytest.ini").write_text(PYTEST_INI)
        env = shim_env()
        check_shim(env, work)
        junit = work / "junit.xml"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={junit}", "-o", "junit_family=xunit1", *files]  # fmt: skip
        if importlib.util.find_spec("pytest_asyncio") is not None:
            cmd.append("--asyncio-mode=strict")
        else:
            print("warning: pytest-asyncio is not installed; async tests will fail")
        if importlib.util.find_spec("pytest_timeout") is not None:
            cmd.append("--timeout=300")
        subprocess.run([*cmd, *pytest_args], env=env, cwd=work, check=False)
        results = outcomes(junit)
    counts = Counter(r["outcome"] for r in results.values())
    print(
        f"pipefunc {PIPEFUNC_VERSION} map/mapspec tests on hpcflow: {len(results)} tests, "
        f"{counts['passed']} passed, {counts['failed']} failed, {counts['error']} errors, "
        f"{counts['skipped']} skipped"
    )
    if json_out is not None:
        json_out.write_text(json.dumps({"counts": dict(counts), "tests": results}, indent=1))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the suite."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pipefunc_suite")
    parser.add_argument("--tests", type=Path, help="extracted pipefunc sdist (or its tests/)")
    parser.add_argument("--json", type=Path, help="write counts and per-test outcomes here")
    parser.add_argument("--files", nargs="+", default=list(SUITE_FILES),
                        help="test files, relative to the sdist root")  # fmt: skip
    parser.add_argument(
        "--in-place", action="store_true",
        help="let the shim rebind a pipeline to the new one that hpcflow's "
        "add_mapspec_axis/update_mapspec_axes/update_scope return (pipefunc edits in place)",
    )  # fmt: skip
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments (after --)")
    args = parser.parse_args(argv)
    if args.in_place:
        os.environ["HPCFLOW_SHIM_IN_PLACE"] = "1"  # read by shim/pipefunc/_pipeline_cls.py
    if args.tests is not None:
        return run(tests_root(args.tests), args.files, args.json, args.pytest_args)
    with tempfile.TemporaryDirectory(prefix="pipefunc-sdist-") as tmp:
        return run(download_tests(Path(tmp)), args.files, args.json, args.pytest_args)


if __name__ == "__main__":
    raise SystemExit(main())
