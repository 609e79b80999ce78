"""Placeholders for pipefunc names that have no hpcflow counterpart.

A test module imports many names at its top; if one were missing, every test in the
module would fail to collect. A placeholder keeps the import working and raises
`NotImplementedError` (naming the pipefunc name) as soon as a test uses it, so only the
tests that need the missing name fail.
"""

from __future__ import annotations

from typing import Any, NoReturn


def _fail(name: str) -> NoReturn:
    raise NotImplementedError(f"pipefunc's {name} has no hpcflow counterpart (shim placeholder)")


def missing_function(name: str) -> Any:
    """A function that raises `NotImplementedError` naming ``name`` when called."""

    def placeholder(*args: Any, **kwargs: Any) -> NoReturn:
        _fail(name)

    placeholder.__name__ = name.rsplit(".", 1)[-1]
    return placeholder


class _MissingMeta(type):
    def __getattr__(cls, attr: str) -> NoReturn:
        _fail(f"{cls.__qualname__}.{attr}")


def missing_class(name: str) -> type:
    """A class that raises `NotImplementedError` naming ``name`` when instantiated or used."""

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        _fail(name)

    return _MissingMeta(name.rsplit(".", 1)[-1], (), {"__init__": init})


def refuse_options(where: str, given: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Raise `NotImplementedError` for pipefunc-only options set to non-default values."""
    for key, default in defaults.items():
        if key in given and given[key] != default:
            _fail(f"{where}({key}={given[key]!r})")
