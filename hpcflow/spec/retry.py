"""Retry policies: how often a submitted func's failed tasks are tried again, and with what.

A *task failure* is a task the scheduler ended without success: out of memory, time
limit, node failure, preemption without requeue, a killed or crashed worker, a
cancellation by someone other than hpcflow. An exception raised by the function itself
is not a task failure: with ``error_handling="continue"`` it is stored as an
`hpcflow.ErrorSnapshot`, and trying again would fail the same way; such elements are
retried only on request, by ``resume(retry_failed=True)`` after the function is fixed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from hpcflow.errors import SpecError
from hpcflow.spec.resources import Resources, parse_memory, parse_walltime

__all__ = ["Retry", "RetryLike"]

# Task-end reasons (`hpcflow.schedulers.base.TaskState` names) that grow a resource.
_GROWS = {"OUT_OF_MEMORY": "memory", "TIMEOUT": "walltime"}


@dataclass(frozen=True)
class Retry:
    """Retry a func's failed tasks automatically, growing what they ran out of.

    After each submission, a small follow-up job (one task, after every array of the
    submission has ended) resubmits the elements of failed tasks and what depends on
    them. A task killed for its memory is retried with ``memory_factor`` times the
    memory, one over its time limit with ``walltime_factor`` times the wall time, never
    beyond ``max_memory`` / ``max_walltime``; other task failures are retried with the
    same resources. A func is retried at most ``retries`` times; then its missing
    elements stay missing, `hpcflow.Run.status` says so and ``hpcflow resume`` can
    still complete them. ``hpcflow resume`` applies the same growth (and caps), but not
    the count: resuming is an explicit request.

    Parameters
    ----------
    retries
        Most automatic retries of the func (0 disables them).
    memory_factor, walltime_factor
        Growth on an out-of-memory kill and on a time-limit kill (>= 1).
    max_memory, max_walltime
        Caps on the grown values, in the units `Resources` accepts (``"64GB"``,
        ``"1-00:00:00"``); ``None`` means no cap.

    Examples
    --------
    >>> policy = Retry(2, memory_factor=2, max_memory="3GB")
    >>> r = policy.escalate(Resources(memory="2GB", walltime="1:00:00"), "OUT_OF_MEMORY")
    >>> r.memory == 3 * 1024**3, r.walltime
    (True, 3600)
    >>> policy.escalate(Resources(walltime=600), "TIMEOUT").walltime
    1200
    >>> Retry.from_value(3)
    Retry(retries=3, memory_factor=2.0, walltime_factor=2.0, max_memory=None, max_walltime=None)
    >>> Retry(retries=-1)
    Traceback (most recent call last):
    ...
    hpcflow.errors.SpecError: Retry(retries=-1): retries must be an int >= 0
    """

    retries: int = 2
    memory_factor: float = 2.0
    walltime_factor: float = 2.0
    max_memory: int | None = None
    max_walltime: int | None = None

    def __init__(
        self,
        retries: int = 2,
        *,
        memory_factor: float = 2.0,
        walltime_factor: float = 2.0,
        max_memory: int | str | None = None,
        max_walltime: int | float | str | timedelta | None = None,
    ) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise SpecError(f"Retry(retries={retries!r}): retries must be an int >= 0")
        for name, factor in (
            ("memory_factor", memory_factor),
            ("walltime_factor", walltime_factor),
        ):
            ok = isinstance(factor, int | float) and not isinstance(factor, bool)
            if not ok or not math.isfinite(factor) or factor < 1:
                raise SpecError(f"Retry({name}={factor!r}): a growth factor must be a number >= 1")
        set_ = object.__setattr__
        set_(self, "retries", retries)
        set_(self, "memory_factor", float(memory_factor))
        set_(self, "walltime_factor", float(walltime_factor))
        set_(self, "max_memory", None if max_memory is None else parse_memory(max_memory))
        set_(self, "max_walltime", None if max_walltime is None else parse_walltime(max_walltime))

    @classmethod
    def from_value(cls, value: RetryLike | None) -> Retry | None:
        """Coerce ``None``, an int (the number of retries), a dict or `Retry`."""
        if value is None or isinstance(value, Retry):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return cls(value)
        if isinstance(value, dict):
            try:
                return cls(**value)
            except TypeError as e:
                raise SpecError(f"retry={value!r}: {e}") from None
        raise SpecError(
            f"retry={value!r} must be hpcflow.Retry, an int (the number of retries), a dict "
            "of Retry's fields, or None"
        )

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values (for ``submit.json``)."""
        return {
            "retries": self.retries,
            "memory_factor": self.memory_factor,
            "walltime_factor": self.walltime_factor,
            "max_memory": self.max_memory,
            "max_walltime": self.max_walltime,
        }

    def escalate(self, resources: Resources, reason: str) -> Resources:
        """``resources`` for a retry of a task that ended for ``reason`` (a TaskState name).

        Only the resource the task ran out of grows, and only when it was set: with
        the scheduler's default there is nothing to multiply (the follow-up job's log
        says so).
        """
        field = _GROWS.get(reason)
        if field == "memory" and resources.memory is not None:
            grown = _grow(resources.memory, self.memory_factor, self.max_memory)
            return replace(resources, memory=grown)
        if field == "walltime" and resources.walltime is not None:
            grown = _grow(resources.walltime, self.walltime_factor, self.max_walltime)
            return replace(resources, walltime=grown)
        return resources

    def can_grow(self, resources: Resources, reason: str) -> bool:
        """Whether a retry for ``reason`` gets more of what ran out (False at the cap)."""
        return self.escalate(resources, reason) != resources


def _grow(value: int, factor: float, cap: int | None) -> int:
    grown = math.ceil(value * factor)
    return grown if cap is None else max(value, min(grown, cap))


RetryLike = Retry | int | dict[str, Any]
