"""``scheduler="local"``: job arrays run on this machine by a detached runner.

The scheduler is `LocalScheduler` (``_scheduler``); the runner process is
``python -m hpcflow.schedulers.local._runner STATE_DIR [LOCK_FD]`` (``_runner``), which
works through the queue (``_queue``) kept in a state directory (``_state``), starting
and killing task processes (``_proc``).
"""

from hpcflow.schedulers.local._scheduler import LocalScheduler

__all__ = ["LocalScheduler"]
