"""Shared by the SLURM and PBS backend tests: stand-in client commands and requests."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import pytest

from hpcflow.schedulers.base import ArrayRequest
from hpcflow.spec.resources import Resources


class FakeCommands:
    """Stand-in client commands (sbatch, qsub, ...) first on PATH: each prints a given
    stdout/stderr, exits with a given code, and logs its working directory and argv."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bin = root / "fake bin"
        self.bin.mkdir()
        self.log = root / "argv.log"
        monkeypatch.setenv("PATH", f"{self.bin}{os.pathsep}{os.environ['PATH']}")

    def set(
        self, name: str, stdout: str = "", stderr: str = "", rc: int = 0, sleep: float = 0
    ) -> None:
        out, err = self.bin / f"{name}.out", self.bin / f"{name}.err"
        out.write_text(stdout)
        err.write_text(stderr)
        log = shlex.quote(str(self.log))
        lines = [
            "#!/bin/bash",
            f'printf \'%s\\x1f\' "$PWD" {name} "$@" >> {log}; echo >> {log}',
            # exec: a timeout's kill then ends the sleep itself, not just its shell
            f"exec sleep {sleep}" if sleep else "",
            f"cat {shlex.quote(str(out))}; cat {shlex.quote(str(err))} >&2; exit {rc}",
        ]
        script = self.bin / name
        script.write_text("\n".join(lines) + "\n")
        script.chmod(0o755)

    def calls(self) -> list[list[str]]:
        """[cwd, command, *args] of each call."""
        if not self.log.exists():
            return []
        return [line.rstrip("\x1f").split("\x1f") for line in self.log.read_text().splitlines()]

    def argvs(self) -> list[list[str]]:
        """[command, *args] of each call."""
        return [call[1:] for call in self.calls()]


def request(tmp: Path, **changes: object) -> ArrayRequest:
    """A small valid `ArrayRequest` in ``tmp``, with ``changes`` applied."""
    fields: dict[str, object] = {
        "name": "run-x",
        "argv": ("python3", "-c", "pass"),
        "n_tasks": 3,
        "resources": Resources(),
        "log_dir": tmp / "logs",
        "workdir": tmp,
    }
    fields.update(changes)
    return ArrayRequest(**fields)  # type: ignore[arg-type]
