"""Exit codes of ``hpcflow status`` and ``hpcflow wait``, which scripts can trust.

===  ==========  ===============================================================
0    OK          every element of every output is done (none failed, none lost)
1    FAILED      the run is over, and elements failed or were lost (or never planned)
2    ERROR       bad usage or input; nothing was done
3    ACTIVE      tasks of the run are still queued or running
4    CANCELLED   the run was cancelled (``hpcflow cancel``) before it was complete
===  ==========  ===============================================================

So ``hpcflow wait RUN && next_step`` runs ``next_step`` only after a complete run.
"""

from __future__ import annotations

import enum

from hpcflow.submission.status import RunStatus

__all__ = ["ExitCode", "exit_code", "state_name"]


class ExitCode(enum.IntEnum):
    """What ``hpcflow status`` and ``hpcflow wait`` exit with."""

    OK = 0
    FAILED = 1
    ERROR = 2
    ACTIVE = 3
    CANCELLED = 4


def all_done(status: RunStatus) -> bool:
    """Every planned element computed without error."""
    return status.complete and not any(o.failed for o in status.outputs.values())


def exit_code(status: RunStatus, *, cancelled: bool) -> ExitCode:
    """The exit code for ``status``; ``cancelled`` if the run was cancelled."""
    if all_done(status):
        return ExitCode.OK
    if not status.finished:
        return ExitCode.ACTIVE
    return ExitCode.CANCELLED if cancelled else ExitCode.FAILED


def state_name(status: RunStatus, *, cancelled: bool) -> str:
    """One word for a script or a person: ``done``, ``failed``, ``running``, ``cancelled``."""
    return {
        ExitCode.OK: "done",
        ExitCode.FAILED: "failed",
        ExitCode.ACTIVE: "running",
        ExitCode.CANCELLED: "cancelled",
    }[exit_code(status, cancelled=cancelled)]
