"""Parameter scopes: namespaced names such as ``foo.x``.

A scope prefixes a parameter or output name with a namespace and a dot, so that two
copies of one function (``foo.x`` and ``bar.x``) can live in one pipeline. A name is
either a Python identifier or ``scope.identifier`` (one level; the scope an identifier
too). In a run folder a name becomes a path, so a scoped name is stored in one
identifier-like form, ``foo.x`` as ``foo__x`` (`disk_name`); to keep that form
unambiguous, a pipeline that uses scopes refuses names whose parts contain ``__`` or
put an ``_`` next to the dot (`check_disk_names`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from hpcflow.errors import InputError, SpecError

__all__ = [
    "check_disk_names",
    "check_name",
    "disk_name",
    "flatten_scoped_inputs",
    "is_name",
    "scoped",
    "split_scope",
]

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
#: a parameter or output name: an identifier, optionally behind one ``scope.``
NAME = re.compile(rf"{_IDENT}(?:\.{_IDENT})?")
#: how a scope's dot is written in a run folder
DISK_SEP = "__"


def is_name(name: object) -> bool:
    """True for an identifier or a scoped name ``scope.identifier``.

    Examples
    --------
    >>> is_name("x"), is_name("foo.x"), is_name("a.b.c"), is_name("foo.")
    (True, True, False, False)
    """
    return isinstance(name, str) and NAME.fullmatch(name) is not None and _no_keyword(name)


def _no_keyword(name: str) -> bool:
    # each part becomes a function parameter or a dict key; identifiers suffice
    return all(part.isidentifier() for part in name.split("."))


def check_name(name: object, what: str) -> str:
    """``name`` if `is_name`; else a `SpecError` naming it and ``what`` it is."""
    if not is_name(name):
        raise SpecError(
            f"{what} {name!r} must be a Python identifier, or a scoped name such as "
            "'foo.x' (one scope, then an identifier)"
        )
    return str(name)


def split_scope(name: str) -> tuple[str | None, str]:
    """``"foo.x"`` -> ``("foo", "x")``; ``"x"`` -> ``(None, "x")``.

    Examples
    --------
    >>> split_scope("foo.x"), split_scope("x")
    (('foo', 'x'), (None, 'x'))
    """
    scope, dot, base = name.rpartition(".")
    return (scope, base) if dot else (None, base)


def scoped(scope: str | None, name: str) -> str:
    """``name`` in ``scope`` (its own scope replaced); ``scope=None`` removes it.

    Examples
    --------
    >>> scoped("foo", "x"), scoped("bar", "foo.x"), scoped(None, "foo.x")
    ('foo.x', 'bar.x', 'x')
    """
    base = split_scope(name)[1]
    return base if scope is None else f"{scope}.{base}"


def check_scope(scope: object, where: str) -> str | None:
    """A scope is an identifier (or ``None``); a `SpecError` naming ``where`` else."""
    if scope is None:
        return None
    if not isinstance(scope, str) or not scope.isidentifier():
        raise SpecError(
            f"scope={scope!r} of {where} must be a Python identifier such as 'foo' "
            "(or None to remove the scope)"
        )
    return scope


def disk_name(name: str) -> str:
    """The identifier-like form of ``name`` in a run folder: ``foo.x`` -> ``foo__x``.

    Examples
    --------
    >>> disk_name("foo.x"), disk_name("x")
    ('foo__x', 'x')
    """
    return name.replace(".", DISK_SEP)


def check_disk_names(names: Iterable[str]) -> None:
    """Refuse names whose run-folder form could be another name's, if any is scoped.

    In a pipeline without scopes every name is its own run-folder form and nothing is
    checked. With scopes, ``foo.x`` is stored as ``foo__x``: a name ``foo__x`` (or
    ``foo_._x`` / ``foo._x`` and the like, which give runs of underscores) would
    collide with it, so such names are refused.

    Examples
    --------
    >>> check_disk_names(["foo.x", "y"])
    >>> check_disk_names(["foo.x", "foo__x"])
    Traceback (most recent call last):
    ...
    hpcflow.errors.SpecError: name 'foo__x' contains '__', ...
    """
    names = list(names)
    if not any("." in n for n in names):
        return
    for n in names:
        scope, base = split_scope(n)
        if DISK_SEP in n:
            raise SpecError(
                f"name {n!r} contains '__', which a run folder uses for a scope's dot "
                f"('foo.x' is stored as 'foo__x'), in a pipeline that uses scopes; rename "
                f"it (renames=...) to one without '__'"
            )
        if scope is not None and (scope.endswith("_") or base.startswith("_")):
            raise SpecError(
                f"name {n!r} has '_' next to its scope's dot, so its run-folder form "
                f"{disk_name(n)!r} is ambiguous; rename the scope or the name"
            )


def flatten_scoped_inputs(inputs: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    """``{"foo": {"x": 1}}`` -> ``{"foo.x": 1}`` for the scopes among ``names``.

    A key that is a scope of the pipeline (and not a name of its own) takes a dict of
    that scope's names; every other key is kept as it is.

    Examples
    --------
    >>> flatten_scoped_inputs({"foo": {"x": 1}, "y": 2}, ["foo.x", "y"])
    {'foo.x': 1, 'y': 2}
    """
    names = set(names)
    scopes = {s for s in (split_scope(n)[0] for n in names) if s is not None} - names
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if key in scopes and isinstance(value, Mapping):
            for sub, v in value.items():
                full = f"{key}.{sub}"
                if full in inputs:
                    raise InputError(
                        f"input {full!r} is given twice, as {full!r} and in the dict of "
                        f"scope {key!r}; give it once"
                    )
                out[full] = v
        else:
            out[key] = value
    return out
