"""Keep the file name of a function pickled by value, so tracebacks point at it.

cloudpickle (3.x) writes ``"<dynamic-code>"`` as the file name of every code object it
pickles by value (functions of a script, of ``hpcflow submit file.py:NAME``, of a
notebook). A `Func` records the real file when it is pickled and puts it back when it
is unpickled, so a worker's traceback reads ``File "/home/me/sweep.py", line 10, in
simulate`` and ``pdb`` can list the source (when the file is on the node too).
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["DYNAMIC", "restore_source", "source_file"]

DYNAMIC = "<dynamic-code>"


def source_file(function: Any) -> str | None:
    """The file ``function``'s code came from, if it is a real file."""
    code = getattr(function, "__code__", None)
    name = getattr(code, "co_filename", None)
    if not isinstance(name, str) or name.startswith("<"):
        return None
    return name


def restore_source(function: Any, filename: str) -> None:
    """Give ``function`` (and the functions of its module it calls) ``filename`` back."""
    if not isinstance(function, types.FunctionType):
        return
    _fix(function, filename)
    module = function.__module__
    for value in list(function.__globals__.values()):
        if isinstance(value, types.FunctionType) and value.__module__ == module:
            _fix(value, filename)


def _fix(function: types.FunctionType, filename: str) -> None:
    if function.__code__.co_filename == DYNAMIC:
        function.__code__ = _with_file(function.__code__, filename)


def _with_file(code: types.CodeType, filename: str) -> types.CodeType:
    consts = tuple(
        _with_file(c, filename) if isinstance(c, types.CodeType) else c for c in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)
