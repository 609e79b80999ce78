"""``pipefunc``, ``PipeFunc``, ``NestedPipeFunc`` -> ``hpcflow.func``, ``Func``, ``nested_func``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import hpcflow
from hpcflow.spec.nested import nested_func
from pipefunc._missing import refuse_options

# pipefunc keywords hpcflow has no counterpart for, with their pipefunc defaults
# (``debug`` and ``print_error`` only print, so they are accepted and dropped)
_FUNC_ONLY = {
    "profile": False,
    "cache": False,
    "resources_variable": None,
    "resources_scope": "map",
    "variant": None,
    "variant_group": None,
}


def _func_kwargs(where: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    refuse_options(where, kwargs, _FUNC_ONLY)
    return {k: v for k, v in kwargs.items() if k not in {*_FUNC_ONLY, "debug", "print_error"}}


def pipefunc(output_name: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], hpcflow.Func]:
    """pipefunc's decorator: ``hpcflow.func`` with pipefunc's keywords."""
    return hpcflow.func(output_name, **_func_kwargs("pipefunc", kwargs))


class _FuncAlias(type):
    # isinstance(x, PipeFunc) is isinstance(x, hpcflow.Func)
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, hpcflow.Func)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, hpcflow.Func)


class PipeFunc(metaclass=_FuncAlias):
    """pipefunc's ``PipeFunc(func, output_name, ...)``: makes an ``hpcflow.Func``."""

    def __new__(cls, func: Callable[..., Any], output_name: Any, **kwargs: Any) -> Any:  # type: ignore[misc]
        return hpcflow.Func(func, output_name, **_func_kwargs("PipeFunc", kwargs))


class NestedPipeFunc(metaclass=_FuncAlias):
    """pipefunc's ``NestedPipeFunc(pipefuncs, output_name, ...)``: ``nested_func``."""

    def __new__(  # type: ignore[misc]
        cls,
        pipefuncs: list[hpcflow.Func],
        output_name: Any = None,
        function_name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        refuse_options(
            "NestedPipeFunc",
            {"function_name": function_name, **kwargs},
            {
                "function_name": None,
                "renames": None,
                "resources_scope": "map",
                "bound": None,
                "cache": None,
                "variant": None,
                "variant_group": None,
            },
        )
        keep = {k: v for k, v in kwargs.items() if k in ("mapspec", "resources")}
        return nested_func(pipefuncs, output_name, **keep)
