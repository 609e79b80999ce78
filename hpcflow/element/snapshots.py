"""Error snapshots: what a failed element leaves in its output, to reproduce it."""

from __future__ import annotations

import datetime
import getpass
import os
import platform
import traceback
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

__all__ = ["ErrorSnapshot", "PropagatedErrorSnapshot", "is_error"]

_S = TypeVar("_S")


@dataclass
class ErrorSnapshot:
    """A failed call: the function, its inputs, the exception and where it happened.

    Stored in place of the element's output when ``error_handling="continue"``.
    `reproduce` calls the function again with the same inputs, in this process, so a
    debugger can step into it.

    Examples
    --------
    >>> def f(x):
    ...     return 1 / x
    >>> try:
    ...     f(x=0)
    ... except ZeroDivisionError as e:
    ...     snap = ErrorSnapshot.capture(f, {"x": 0}, e)
    >>> snap.exception_type, snap.kwargs
    ('ZeroDivisionError', {'x': 0})
    >>> snap.reproduce()
    Traceback (most recent call last):
    ...
    ZeroDivisionError: division by zero
    """

    function: Any
    kwargs: dict[str, Any]
    exception: BaseException | None
    exception_type: str
    message: str
    traceback: str
    host: str = field(default_factory=platform.node)
    user: str = ""
    pid: int = field(default_factory=os.getpid)
    timestamp: str = ""
    directory: str = field(default_factory=os.getcwd)

    @classmethod
    def capture(
        cls, function: Any, kwargs: dict[str, Any], exc: BaseException, *, detach: bool = True
    ) -> ErrorSnapshot:
        """Snapshot the exception ``exc`` raised by ``function(**kwargs)``.

        ``detach=True`` keeps the exception itself, without its traceback (which holds
        the element's locals). For an exception that is raised on, ``detach=False``
        leaves it untouched and keeps only its text.
        """
        try:
            user = getpass.getuser()
        except Exception:  # no user database entry (containers); not worth failing for
            user = ""
        # formatted before _picklable drops the frames (they hold the element's locals)
        text = "".join(traceback.format_exception(exc))
        return cls(
            function=function,
            kwargs=dict(kwargs),
            exception=_picklable(exc) if detach else None,
            exception_type=type(exc).__name__,
            message=str(exc),
            traceback=text,
            user=user,
            timestamp=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        )

    def reproduce(self) -> Any:
        """Call the function again with the recorded inputs."""
        return self.function(**self.kwargs)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle through cloudpickle, also under plain `pickle`; see `_cloudpickled`."""
        return _cloudpickled(self)

    def __str__(self) -> str:
        name = getattr(self.function, "__name__", repr(self.function))
        return (
            f"ErrorSnapshot: {name}(**{sorted(self.kwargs)}) raised {self.exception_type}: "
            f"{self.message} (host {self.host}, {self.timestamp})\n{self.traceback}"
        )


@dataclass
class PropagatedErrorSnapshot:
    """An element that was not computed because some of its inputs had failed.

    ``errors`` maps each failed input name to where it failed (``"full"`` for a single
    value, or the count of failed elements for an array input).
    """

    function: Any
    errors: dict[str, str]
    kwargs: dict[str, Any] = field(repr=False, default_factory=dict)

    def __str__(self) -> str:
        name = getattr(self.function, "__name__", repr(self.function))
        return f"PropagatedErrorSnapshot: {name} skipped because inputs failed: {self.errors}"

    def reproduce(self) -> Any:
        """Nothing to reproduce here; follow ``errors`` to the original failure."""
        raise RuntimeError(f"{self}; reproduce the upstream ErrorSnapshot instead")

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle through cloudpickle, also under plain `pickle`; see `_cloudpickled`."""
        return _cloudpickled(self)


def is_error(value: Any) -> bool:
    """True for error snapshots (propagated or not)."""
    return isinstance(value, ErrorSnapshot | PropagatedErrorSnapshot)


def _picklable(exc: BaseException) -> BaseException | None:
    import cloudpickle

    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
    except Exception:
        return None
    return exc.with_traceback(None)


def _cloudpickled(snapshot: Any) -> tuple[Any, ...]:
    """``__reduce__`` of a snapshot: its fields as one cloudpickled blob.

    A snapshot holds the user's function and inputs, which may be a closure or a
    function defined in ``__main__`` or in a test. Plain `pickle` refuses those, and
    plain pickle is what carries an exception (and the snapshot riding on it) back
    from a `concurrent.futures.ProcessPoolExecutor` worker: the pickling error would
    then replace the user's exception. Cloudpickle serialises them by value.
    """
    import cloudpickle

    state = {f.name: getattr(snapshot, f.name) for f in fields(snapshot)}
    return (_restore, (type(snapshot), cloudpickle.dumps(state)))


def _restore(cls: type[_S], data: bytes) -> _S:
    """Rebuild a snapshot pickled by `_cloudpickled`."""
    import cloudpickle

    return cls(**cloudpickle.loads(data))
