"""The detached runner of the local scheduler.

Started as ``python -m hpcflow.schedulers.local._runner STATE_DIR [LOCK_FD]`` by a
submitter (see `StateDir.spawn_runner`), it runs the queue of ``STATE_DIR`` (see
`hpcflow.schedulers.local._queue` for what it runs and how tasks end). At most one
runner works on a state directory: it holds an exclusive flock on ``runner.lock`` for
its whole life, and exits once nothing has been queued for `IDLE_EXIT` seconds; the
comment in `main` says why no job is ever left without a runner.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from hpcflow.schedulers.local._queue import Runner, log
from hpcflow.schedulers.local._state import StateDir, release_lock
from hpcflow.schedulers.local._trust import UntrustedStateError

__all__ = ["main"]

POLL_BUSY = 0.05
"""Seconds between scans while jobs are active (a task exiting wakes the runner sooner)."""
POLL_IDLE = 0.2
"""Seconds between scans while nothing is queued."""
IDLE_EXIT = 1.0
"""Seconds with nothing queued after which the runner exits."""


class _Wakeup:
    """Sleeps that end early when a child exits (SIGCHLD through a wakeup pipe)."""

    def __init__(self) -> None:
        self.read_fd, write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(write_fd, False)
        signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def wait(self, timeout: float) -> None:
        ready, _, _ = select.select([self.read_fd], [], [], timeout)
        if ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(self.read_fd, 4096):
                    pass


def serve(runner: Runner, wakeup: _Wakeup) -> bool:
    """Run until nothing has been queued for `IDLE_EXIT` seconds.

    Returns
    -------
    bool
        False if it gave up instead, after 30 failed scans in a row with no task
        running (a full disk, a deleted state directory): a later ``submit`` or
        ``states`` starts a fresh runner.
    """
    idle_since: float | None = None
    failures = 0
    while True:
        try:
            runner.step()
            failures = 0
        except Exception:
            failures += 1
            log(f"scan failed: {traceback.format_exc()}")
            if failures >= 30 and not runner.running:
                log("giving up after 30 failed scans in a row")
                return False
            time.sleep(1.0)
        if runner.active or runner.running:
            idle_since = None
            wakeup.wait(POLL_BUSY)
            continue
        idle_since = idle_since or time.monotonic()
        if time.monotonic() - idle_since >= IDLE_EXIT:
            return True
        wakeup.wait(POLL_IDLE)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: ``python -m hpcflow.schedulers.local._runner STATE_DIR [LOCK_FD]``.

    ``LOCK_FD`` is an inherited descriptor of ``runner.lock`` already flock'd for this
    process (see `StateDir.spawn_runner`); without it the runner takes the lock itself,
    and exits at once if another process holds it.
    """
    args = sys.argv[1:] if argv is None else list(argv)
    if len(args) not in (1, 2) or (len(args) == 2 and not args[1].isdigit()):
        usage = "usage: python -m hpcflow.schedulers.local._runner STATE_DIR [LOCK_FD]"
        print(usage, file=sys.stderr)
        return 2
    state = StateDir(Path(args[0]))
    try:
        state.create()
    except UntrustedStateError as e:  # never run the jobs of a folder others can write
        log(str(e))
        return 2
    if len(args) == 2:
        fd: int | None = int(args[1])
        os.set_inheritable(int(args[1]), False)  # tasks must never hold the lock
    else:
        fd = state.try_lock()
    if fd is None:
        return 0  # a runner is alive; it sees every job written before our start
    wakeup = _Wakeup()
    while True:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        log(f"running jobs of {state.root}")
        runner = Runner(state)
        runner.load()
        if not serve(runner, wakeup):
            release_lock(fd)
            return 1
        # Why no job is ever stranded. A submitter writes its job file BEFORE it tries
        # the lock; we release the lock FIRST and THEN list the unfinished jobs once
        # more. So a job is either in this listing, or was written after it, hence after
        # our release: then its submitter finds the lock free and starts a runner, or
        # finds it held by a process that will look again: a runner (which only exits
        # through this same release-then-look) or a client (which starts a runner after
        # releasing the lock; see StateDir.ensure_runner). If we get the lock back we
        # reload everything from the files, since another runner may have worked
        # in between.
        release_lock(fd)
        if not state.unfinished_ids():
            log("idle, exiting")
            return 0
        fd = state.try_lock()
        if fd is None:
            log("another process holds the lock; exiting")
            return 0


if __name__ == "__main__":
    sys.exit(main())
