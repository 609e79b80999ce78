"""What `execute_chunk` is given (`FuncTask`) and what it reports (`ChunkReport`)."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hpcflow.spec.func import Func
from hpcflow.storage.base import StorageBase

__all__ = ["ChunkReport", "FuncTask", "Source"]


@dataclass
class Source:
    """Where one parameter of a func gets its value.

    ``axes`` is ``None`` for a value passed whole; otherwise, for every axis of the
    array, the position of that axis in the func's external key (``None`` for ``:``).
    """

    name: str
    value: Any
    axes: tuple[int | None, ...] | None = None


@dataclass
class FuncTask:
    """Everything `execute_chunk` needs for one func: small enough to pickle per run."""

    func: Func
    external_shape: tuple[int, ...]
    sources: tuple[Source, ...]
    # One storage per output for mapped funcs; None for a single-value func (the
    # driver stores its value) or when probing an unknown internal shape.
    outputs: tuple[StorageBase, ...] | None
    internal_shape: tuple[int, ...] | None = None
    error_handling: Literal["raise", "continue"] = "raise"
    selected: np.ndarray | None = None
    marker_dir: Path | None = None
    write: bool = True
    # where a single-value func's values go (None: in memory only)
    single_paths: tuple[Path, ...] | None = None
    # the scheduler's job id and attempt (restart count) of the task computing this,
    # recorded in chunk markers; read by the job-side entry point from the environment
    job_id: str | None = None
    attempt: int = 0
    # called before every store: raises if the run folder no longer holds this task's
    # run (an array task's `RunFolder.check_run_id`); None in a local map
    guard: Callable[[], None] | None = None


@dataclass
class ChunkReport:
    """What happened to one chunk."""

    key: tuple[str, ...]
    start: int
    stop: int
    n_ok: int = 0
    n_skipped: int = 0
    failed: list[int] = field(default_factory=list)
    propagated: list[int] = field(default_factory=list)
    elapsed: float = 0.0
    peak_rss: int = 0
    # (linear index, output values) when the task did not write them itself
    values: list[tuple[int, tuple[Any, ...]]] = field(default_factory=list)
    job_id: str | None = None
    attempt: int = 0
    stored: bool = False  # values and marker written (by `store_report`)

    @property
    def n_computed(self) -> int:
        return self.n_ok + len(self.failed) + len(self.propagated)

    def marker(self) -> dict[str, Any]:
        return {
            "outputs": list(self.key),
            "start": self.start,
            "stop": self.stop,
            "ok": self.n_ok,
            "skipped": self.n_skipped,
            "failed": self.failed,
            "propagated": self.propagated,
            "elapsed": round(self.elapsed, 6),
            "peak_rss": self.peak_rss,
            "host": platform.node(),
            "pid": os.getpid(),
            # a requeued array task runs again with the same id; count its attempts
            "attempt": self.attempt,
            "job": self.job_id,
            "time": time.time(),
        }
