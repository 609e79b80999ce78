"""``hpcflow rerun``: a failed element of a real submitted run, reproduced here.

One run through the detached local scheduler serves every test (it only reads it); a
flag file outside the run folder decides whether the "fixed" function succeeds.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

from hpcflow import Func, Pipeline, Run, func
from hpcflow.element.rerun import NothingToRerunError, load_failed_element, rerun_element
from hpcflow.errors import CorruptDataError, InputError, RunFolderError

# Workers unpickle the pipeline, and rerun unpickles the snapshots: by value, neither
# needs to import this test module.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

WAIT = 120


class FlakyError(ValueError):
    """Raised by `flaky` until its flag file exists."""


@func("y", mapspec="x[i] -> y[i]")
def flaky(x: int, flag: str) -> int:
    if x == 1 and not Path(flag).exists():
        raise FlakyError(f"bad x={x}")
    return 10 * x


RAISE_LINE = next(i for i, line in enumerate(Path(__file__).read_text().splitlines(), 1)
                  if line.strip().startswith("raise FlakyError("))  # fmt: skip


@func("z", mapspec="y[i] -> z[i]")
def inc(y: int) -> int:
    return y + 1


@func("total")
def add_all(z: Any) -> int:
    return int(sum(z))


@func("grid", mapspec="x[i], w[j] -> grid[i, j]")
def product(x: int, w: int) -> int:
    if (x, w) == (2, 1):
        raise ZeroDivisionError("grid cell (2, 1)")
    return x * w


@func("s")
def single(w: Any) -> int:
    raise KeyError("single failed")


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("rerun")
    # a hostile folder name: the suggested commands must quote it
    folder = base / "the run; 'quoted'"
    inputs = {"x": [0, 1, 2, 3], "w": [0, 1], "flag": str(base / "fixed")}
    pipeline = Pipeline([flaky, inc, add_all, product, single])
    run = pipeline.submit(inputs, folder, scheduler="local", state_dir=str(base / "queue"),
                          chunksizes=2)  # fmt: skip
    assert isinstance(run, Run)
    status = run.wait(timeout=WAIT)
    assert status.finished, status
    assert sorted(run.failures("y")) == [(1,)]
    return folder


@pytest.fixture
def fixed(run_folder: Path) -> Iterator[Path]:
    """The flag file that makes `flaky` succeed, for the length of one test."""
    flag = run_folder.parent / "fixed"
    flag.touch()
    yield flag
    flag.unlink()


def _cli(*args: str | Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # from another directory, as long after the run as one likes
    return subprocess.run(
        [sys.executable, "-m", "hpcflow.cli", "rerun", *map(str, args)],
        input=stdin, capture_output=True, text=True, timeout=120, cwd="/", check=False,
    )  # fmt: skip


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``folder`` (itself included) with its size and mtime."""
    paths = [folder, *folder.rglob("*")]
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in paths}


def test_failed_element_raises_its_exception_again(
    run_folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(FlakyError, match="bad x=1"):
        rerun_element(run_folder, "y", (1,))
    header = capsys.readouterr().out
    assert "rerunning y[1]" in header and "flaky" in header
    assert "x    = 1" in header and "FlakyError: bad x=1" in header
    assert os.uname().nodename in header and "outputs/y, element [1]" in header
    element = load_failed_element(run_folder, "y", 1)  # an int is a 1-d index
    assert element.snapshot.kwargs["x"] == 1 and element.label == "y[1]"


def test_cli_prints_the_traceback_and_exits_1(run_folder: Path) -> None:
    out = _cli(run_folder, "--output", "y", "--index", "1")
    assert out.returncode == 1, out.stderr
    assert "rerunning y[1]" in out.stdout
    assert "Traceback (most recent call last)" in out.stderr
    assert "in flaky" in out.stderr and "FlakyError: bad x=1" in out.stderr
    assert "y[1] failed again (FlakyError)" in out.stderr
    # the user's file and line, with its source; none of hpcflow's own frames
    assert f'File "{__file__}", line {RAISE_LINE}, in flaky' in out.stderr
    assert 'raise FlakyError(f"bad x={x}")' in out.stderr
    assert "hpcflow/" not in out.stderr.split("Traceback (most recent call last)")[1]


def test_a_fixed_function_returns_its_value_and_the_run_is_unchanged(
    run_folder: Path, fixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rerun_element(run_folder, "y", (1,)) == 10
    assert "element now succeeds: 10" in capsys.readouterr().out
    out = _cli(run_folder, "--output", "y", "--index", "1")
    assert out.returncode == 0, out.stderr
    assert "element now succeeds: 10" in out.stdout
    assert f"hpcflow resume {shlex.quote(str(run_folder))} --retry-failed" in out.stdout
    assert "ErrorSnapshot" in type(Run.open(run_folder).load_outputs("y")[1]).__name__


def test_two_dimensional_index(run_folder: Path) -> None:
    with pytest.raises(ZeroDivisionError, match=r"grid cell \(2, 1\)"):
        rerun_element(run_folder, "grid", (2, 1))
    out = _cli(run_folder, "--output", "grid", "--index", "2,1")
    assert out.returncode == 1 and "ZeroDivisionError: grid cell (2, 1)" in out.stderr


def test_single_value_output_needs_no_index(run_folder: Path) -> None:
    with pytest.raises(KeyError, match="single failed"):
        rerun_element(run_folder, "s")
    out = _cli(run_folder, "--output", "s")
    assert out.returncode == 1 and "KeyError: 'single failed'" in out.stderr


def test_pdb_opens_a_post_mortem_session_in_the_function(run_folder: Path) -> None:
    out = _cli(run_folder, "--output", "y", "--index", "1", "--pdb", stdin="p x * 7\nl\nq\n")
    assert out.returncode == 1, out.stderr
    assert "(Pdb)" in out.stdout
    assert "\n7\n" in out.stdout or "(Pdb) 7\n" in out.stdout  # x is 1 in that frame
    assert re.search(rf"{RAISE_LINE}  ->\s+raise FlakyError", out.stdout)  # `l` lists the source
    assert "FlakyError: bad x=1" in out.stderr and "post-mortem" in out.stderr
    assert out.stderr.count("Traceback (most recent call last)") == 1


def test_pdb_with_a_fixed_function_never_stops(run_folder: Path, fixed: Path) -> None:
    out = _cli(run_folder, "--output", "y", "--index", "1", "--pdb", stdin="c\n")
    assert out.returncode == 0, out.stderr
    assert "(Pdb)" not in out.stdout and "element now succeeds: 10" in out.stdout


def test_propagated_error_points_at_the_upstream_failure(run_folder: Path) -> None:
    with pytest.raises(NothingToRerunError, match=r"z\[1\] did not fail itself") as info:
        rerun_element(run_folder, "z", (1,))
    assert info.value.upstream == (("y", (1,)),)
    assert "y[1] raised FlakyError: bad x=1" in str(info.value)
    # the reduction reaches y[1] through z[1]
    out = _cli(run_folder, "--output", "total")
    assert out.returncode == 2
    assert "total did not fail itself" in out.stderr and "through z[1]" in out.stderr
    rerun = f"hpcflow rerun {shlex.quote(str(run_folder))} --output y --index 1"
    assert rerun in out.stderr


def test_succeeded_element_is_not_rerun(run_folder: Path) -> None:
    with pytest.raises(NothingToRerunError, match=r"y\[2\] did not fail: it holds int 20"):
        rerun_element(run_folder, "y", (2,))
    out = _cli(run_folder, "--output", "y", "--index", "0")
    assert out.returncode == 2
    assert "did not fail" in out.stderr and "Failed elements of 'y': --index 1" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "nope"], "output 'nope' is not in the run"),
        (["--output", "y", "--index", "4"], "valid i are 0 to 3"),
        (["--output", "y", "--index", "-1"], "valid i are 0 to 3"),
        (["--output", "grid", "--index", "1"], "has 1 value, but output 'grid' has 2 mapped"),
        (["--output", "y"], "give the element's index, e.g. --index 0"),
        (["--output", "total", "--index", "0"], "is a single value"),
        (["--output", "y", "--index", "a"], "must be integers separated by commas"),
    ],
)
def test_bad_output_or_index_exit_2_naming_the_choices(
    run_folder: Path, args: list[str], message: str
) -> None:
    out = _cli(run_folder, *args)
    assert out.returncode == 2
    assert message in out.stderr and "Traceback" not in out.stderr
    if "nope" in args:
        assert "its outputs are 'y', 'grid', 's', 'z', 'total'" in out.stderr


def test_bad_index_through_the_api(run_folder: Path) -> None:
    with pytest.raises(InputError, match=r"axes \(i, j\) of shape \(4, 2\)"):
        load_failed_element(run_folder, "grid", (1, 2, 3))
    with pytest.raises(InputError, match="'j' of output 'grid' has 2 elements"):
        load_failed_element(run_folder, "grid", (1, 2))


def test_rerun_never_writes_to_the_run_folder(run_folder: Path) -> None:
    before = _listing(run_folder)
    for name, index in [("y", (1,)), ("grid", (2, 1)), ("s", None)]:
        with pytest.raises(Exception):  # noqa: B017 (the function's own exceptions)
            rerun_element(run_folder, name, index)
    for name, index in [("z", (1,)), ("total", None), ("y", (0,))]:
        with pytest.raises(NothingToRerunError):
            rerun_element(run_folder, name, index)
    assert _cli(run_folder, "--output", "y", "--index", "1").returncode == 1
    assert _cli(run_folder, "--output", "total").returncode == 2
    assert _listing(run_folder) == before


def test_missing_run_folder(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="holds no hpcflow run"):
        rerun_element(tmp_path, "y", (0,))


MODULE = textwrap.dedent("""
    def by_reference(x):
        raise RuntimeError("by reference")
""")


def test_a_function_whose_module_cannot_be_imported_gives_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a plain function of an importable module is pickled by reference: unpickling
    # imports the module (a @func-decorated one is not: the module holds the Func)
    code = tmp_path / "code"
    code.mkdir()
    (code / "rerun_by_reference_mod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(code))
    import rerun_by_reference_mod  # type: ignore[import-not-found]

    f = Func(rerun_by_reference_mod.by_reference, "y", mapspec="x[i] -> y[i]")
    run = Pipeline([f]).submit(
        {"x": [0]}, tmp_path / "run", scheduler="local", state_dir=str(tmp_path / "queue"),
        setup=[f"export PYTHONPATH={shlex.quote(str(code))}"],
    )  # fmt: skip
    assert isinstance(run, Run)
    assert run.wait(timeout=WAIT).outputs["y"].failed == 1
    with pytest.raises(RuntimeError, match="by reference"):  # importable here: fine
        rerun_element(tmp_path / "run", "y", 0)
    out = _cli(tmp_path / "run", "--output", "y", "--index", "0")  # not importable there
    assert out.returncode == 2
    assert "cannot load y[0]" in out.stderr and "rerun_by_reference_mod" in out.stderr
    assert "PYTHONPATH" in out.stderr and "Traceback" not in out.stderr


def fails_on_two(x: int) -> int:
    if x == 2:
        raise ValueError("two")
    return x


def test_a_damaged_snapshot_file_is_named_not_blamed_on_a_missing_module(tmp_path: Path) -> None:
    folder = tmp_path / "r"
    Pipeline([Func(fails_on_two, "y", mapspec="x[i] -> y[i]")]).map(
        {"x": [1, 2]}, folder, parallel=False, error_handling="continue"
    )
    path = folder / "outputs" / "y" / "__1__.pickle"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(CorruptDataError, match=r"__1__\.pickle is corrupt") as info:
        rerun_element(folder, "y", (1,))
    assert "PYTHONPATH" not in str(info.value)
