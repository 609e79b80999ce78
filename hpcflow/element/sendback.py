"""Exceptions that cross back from a worker process intact.

A `concurrent.futures.ProcessPoolExecutor` sends a task's exception back with plain
`pickle`. An exception class defined inside a function (or one whose arguments hold
such an object) does not pickle that way, and an exception whose ``__init__`` takes
other arguments than it passes on does not unpickle: the pool then reports the pickling
error (or breaks) instead of the user's exception. `sendable` picks a form that arrives.
"""

from __future__ import annotations

import pickle
import traceback
from typing import Any

import cloudpickle

from hpcflow.errors import HpcflowError

__all__ = ["sendable"]


class _CloudpickledError(Exception):
    """Carries an exception cloudpickled; plain pickle rebuilds the original from it."""

    def __init__(self, exc: BaseException, blob: bytes) -> None:
        super().__init__(f"{type(exc).__qualname__}: {exc}")
        self.blob = blob

    def __reduce__(self) -> tuple[Any, ...]:
        # unpickling calls cloudpickle.loads(blob): the receiver gets the original
        return (cloudpickle.loads, (self.blob,))


def sendable(exc: BaseException) -> BaseException:
    """``exc``, or an exception that plain `pickle` turns back into it in the receiver.

    Examples
    --------
    >>> def local_class():
    ...     class Bad(Exception):
    ...         pass
    ...     return Bad("local")
    >>> back = pickle.loads(pickle.dumps(sendable(local_class())))
    >>> type(back).__qualname__, str(back)
    ('local_class.<locals>.Bad', 'local')
    """
    if _round_trips(pickle, exc):
        return exc
    try:
        blob = cloudpickle.dumps(exc)
        cloudpickle.loads(blob)
    except Exception as e:
        text = "".join(traceback.format_exception(exc))
        # its type is lost: an HpcflowError keeps its text and traceback
        out = HpcflowError(
            f"{type(exc).__qualname__}: {exc} (raised in a worker process; the exception "
            f"could not be pickled back: {type(e).__name__}: {e}; to get it as itself, make "
            "it picklable (picklable attributes, and an __init__ that takes the args it "
            "passes to Exception.__init__) or run that func without a process pool)"
        )
        out.add_note(text)
        snapshot = getattr(exc, "error_snapshot", None)
        if snapshot is not None and _round_trips(pickle, snapshot):
            out.error_snapshot = snapshot  # type: ignore[attr-defined]
        return out
    return _CloudpickledError(exc, blob)


def _round_trips(module: Any, exc: BaseException) -> bool:
    try:
        module.loads(module.dumps(exc))
    except Exception:
        return False
    return True
