"""``scheduler="local"``: job arrays run on this machine by a detached runner.

The scheduler is `LocalScheduler` (``_scheduler``); the runner process is
``python -m hpcflow.schedulers.local._runner STATE_DIR [LOCK_FD]`` (``_runner``), which
works through the queue (``_queue``) kept in a state directory (``_state``), starting
and killing task processes (``_proc``). What a task sees is in ``_task``, which imports
nothing heavy, so `LocalScheduler` (psutil) is imported only when first used; the
part of the submitter's environment a task gets is chosen in ``_env``, and which
folders and job files are trusted (the user's own, written by nobody else) in
``_trust``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcflow.schedulers.local._scheduler import LocalScheduler

__all__ = ["LocalScheduler"]


def __getattr__(name: str) -> Any:
    if name == "LocalScheduler":
        from hpcflow.schedulers.local._scheduler import LocalScheduler

        return LocalScheduler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
