"""Fixtures for the tests that run against the live mini SLURM cluster.

The cluster is started once per session by ``minislurm/up.sh``, which reuses a cluster
that is already up (``cluster_tests/run_all.sh`` starts it before pytest and stops it
after). Every test in this folder is marked ``cluster``. A cluster that cannot start fails
the tests with the script's output; it never skips them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from minislurm_client import MiniSlurm, SlurmClient, start_cluster

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees the whole session's items: mark only the ones in this folder.
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[MiniSlurm]:
    """Start (or reuse) the mini cluster and point ``SLURM_CONF`` at it."""
    cluster = start_cluster()
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    yield cluster
    if old is None:
        os.environ.pop("SLURM_CONF", None)
    else:
        os.environ["SLURM_CONF"] = old


@pytest.fixture
def slurm(slurm_cluster: MiniSlurm, tmp_path: Path) -> Iterator[SlurmClient]:
    """A client whose jobs run in ``tmp_path``; its jobs are cancelled when the test ends."""
    client = SlurmClient(slurm_cluster, tmp_path)
    yield client
    client.cancel_all()


_FAULTS = pytest.StashKey[list[str]]()


@pytest.fixture
def fault_report(request: pytest.FixtureRequest) -> list[str]:
    """Lines a fault-injection test reports (what was recomputed), printed at the end."""
    return request.config.stash.setdefault(_FAULTS, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(_FAULTS, [])
    if lines:
        terminalreporter.section("fault injection: elements computed more than once")
        for line in lines:
            terminalreporter.write_line(line)
