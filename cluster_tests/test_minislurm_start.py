"""The mini cluster starts anywhere (issue 15 item 6).

Each test starts a second cluster in a state directory of its own, beside the one the
other tests use, and stops it again: with the default ports taken, up.sh chooses free
ones; a daemon that dies while starting fails up.sh at once with the daemon's own error.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from minislurm_client import UP_SCRIPT

DOWN_SCRIPT = UP_SCRIPT.with_name("down.sh")
DEFAULT_BASE = 16800
BLOCK = 14  # ports +0..+13 of a base


def _bind(port: int) -> socket.socket | None:
    """A listener on 127.0.0.1:PORT, or None if the port is taken already."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", port))
    except OSError:
        sock.close()
        return None
    sock.listen()
    return sock


@pytest.fixture
def state_dir() -> Iterator[Path]:
    # Short (socket paths must fit) and reachable by munge and mysql.
    path = Path(tempfile.mkdtemp(prefix="ms-start-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _env(state: Path, port_base: int | None) -> dict[str, str]:
    env = {**os.environ, "HPCFLOW_MINISLURM_DIR": str(state)}
    env.pop("SLURM_CONF", None)
    env.pop("HPCFLOW_MINISLURM_PORT_BASE", None)  # run_all.sh exports the test cluster's
    if port_base is not None:
        env["HPCFLOW_MINISLURM_PORT_BASE"] = str(port_base)
    return env


def _run(script: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(script)], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_up_chooses_free_ports_when_the_default_ones_are_taken(state_dir: Path) -> None:
    # Hold every default port nobody else holds: each is then taken, by us or by another
    # cluster (such as the one run_all.sh started for the other tests).
    held = [sock for port in range(DEFAULT_BASE, DEFAULT_BASE + BLOCK) if (sock := _bind(port))]
    env = _env(state_dir, None)
    try:
        up = _run(UP_SCRIPT, env)
        assert up.returncode == 0, up.stderr
        base = int((state_dir / "port_base").read_text())
        assert base != DEFAULT_BASE
        conf = Path(shlex.split(up.stdout.strip().splitlines()[-1].split("=", 1)[1])[0])
        assert f"SlurmctldPort={base}\n" in conf.read_text()
        ping = subprocess.run(
            ["scontrol", "ping"], env={**env, "SLURM_CONF": str(conf)},
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert "is UP" in ping.stdout
        # up.sh again finds it healthy on the recorded ports and changes nothing
        again = _run(UP_SCRIPT, env)
        assert again.returncode == 0, again.stderr
        assert "already up" in again.stderr
    finally:
        down = _run(DOWN_SCRIPT, env)
        for sock in held:
            sock.close()
    # down.sh exits non-zero if a process of this cluster is still alive
    assert down.returncode == 0, down.stderr


def _free_block(start: int, stop: int) -> int:
    for base in range(start, stop, 20):
        socks = [_bind(port) for port in range(base, base + BLOCK)]
        for sock in socks:
            if sock is not None:
                sock.close()
        if all(socks):
            return base
    pytest.fail(f"no block of {BLOCK} free ports from {start} to {stop}")


def test_a_daemon_that_dies_while_starting_fails_up_at_once(state_dir: Path) -> None:
    base = _free_block(30000, 31000)
    env = _env(state_dir, base)
    # MariaDB's port (+2) is taken, so mariadbd exits before it writes its pid file.
    blocker = _bind(base + 2)
    assert blocker is not None
    try:
        up = _run(UP_SCRIPT, env)
    finally:
        blocker.close()
        down = _run(DOWN_SCRIPT, env)
    assert up.returncode != 0
    # up.sh noticed the death instead of waiting out its 60 s for an answer...
    assert "MariaDB died while starting" in up.stderr
    assert "timed out" not in up.stderr
    # ...and shows the daemon's own error
    assert "Address already in use" in up.stderr or "Bind on TCP/IP port" in up.stderr
    assert down.returncode == 0, down.stderr


def test_the_readme_test_command_runs_while_the_default_ports_are_taken() -> None:
    # run_all.sh itself (the README's test command, after the install), with the default
    # ports held and no state directory or port given: it starts its own cluster on free
    # ports, runs the tests asked for, and removes everything it made.
    run_all = UP_SCRIPT.parents[1] / "run_all.sh"
    held = [sock for port in range(DEFAULT_BASE, DEFAULT_BASE + BLOCK) if (sock := _bind(port))]
    before = set(Path("/tmp").glob("hpcflow-minislurm-*"))
    env = {**os.environ}
    for name in ("SLURM_CONF", "HPCFLOW_MINISLURM_PORT_BASE", "HPCFLOW_MINISLURM_DIR"):
        env.pop(name, None)
    try:
        out = subprocess.run(
            ["bash", str(run_all), "-q", "-p", "no:cacheprovider", "-k",
             "test_version_and_exit_code_epilog"],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
    finally:
        for sock in held:
            sock.close()
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert "1 passed" in out.stdout
    assert "run_all: mini cluster up" in out.stderr
    assert "run_all: stopping the mini cluster" in out.stderr
    assert set(Path("/tmp").glob("hpcflow-minislurm-*")) == before  # its state dir is gone
