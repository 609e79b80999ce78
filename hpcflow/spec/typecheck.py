"""Type checks of connected funcs, done when a `Pipeline` is built.

An output annotated ``int`` that feeds a parameter annotated ``str`` is a bug found
before anything runs. The rules (lenient wherever a check cannot be sure):

- A missing annotation, ``Any``, ``object`` (as the parameter's type), a ``TypeVar``, a
  forward reference that cannot be resolved, or a generic whose origin is not a class
  is never an error.
- ``X | Y`` as the parameter accepts an output of either; ``X | Y`` as the output must
  fit the parameter in every member.
- Generics compare their origins (``list[int]`` fits ``Sequence[int]``), then their
  arguments one by one when both have the same number of them.
- ``int`` fits ``float`` and ``complex``, ``float`` fits ``complex`` (as for type
  checkers).
- A mapped output (``... -> y[i]``) is annotated with the type of *one element*. A
  consumer that maps over it (``y[i] -> ...``) receives one element, so its parameter
  is checked against the element type. A consumer that takes it whole (``y[:]`` or no
  mapspec) receives a numpy array, so its parameter must accept ``numpy.ndarray`` (or
  ``Array[T]``, which also checks the element type ``T``).
- A func that generates an axis (``... -> y[i]`` with no input giving ``i``) returns the
  whole sequence; its element type is taken from ``list[T]``, ``tuple[T, ...]`` or
  ``Sequence[T]``, and not checked otherwise.
- Multiple outputs take their types from a ``tuple[A, B]`` return annotation; with an
  ``output_picker`` (or any other return annotation) they are not checked.

Turn the checks off with ``Pipeline(..., validate_type_annotations=False)``.
"""

from __future__ import annotations

import collections.abc
import inspect
import types
import typing
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union

import numpy as np

from hpcflow.errors import SpecError

if TYPE_CHECKING:
    from hpcflow.spec.func import Func

__all__ = ["Array", "check_type_annotations", "is_type_compatible", "output_annotations"]

T = TypeVar("T")


class _ElementType:
    """Marker in ``Array[T]``: the element type of a mapped output."""

    __slots__ = ("type",)

    def __init__(self, type_: Any) -> None:
        self.type = type_

    def __repr__(self) -> str:
        return f"element={_fmt(self.type)}"


class _ArrayAlias:
    """``Array[T]``: a numpy object array of ``T`` elements, as a reduction receives.

    Examples
    --------
    >>> import numpy as np
    >>> is_type_compatible(Array[int], np.ndarray), is_type_compatible(Array[int], Array[str])
    (True, False)
    """

    def __getitem__(self, item: Any) -> Any:
        return Annotated[np.ndarray, _ElementType(item)]

    def __repr__(self) -> str:
        return "hpcflow.spec.typecheck.Array"


Array = _ArrayAlias()

_UNCHECKABLE = object()  # a type this module cannot reason about: always compatible
_PROMOTIONS = {int: (float, complex), float: (complex,), bool: (int, float, complex)}


def _element_of(tp: Any) -> Any:
    """``T`` of ``Array[T]`` (else ``None``)."""
    if typing.get_origin(tp) is Annotated:
        for meta in tp.__metadata__:
            if isinstance(meta, _ElementType):
                return meta.type
    return None


def _strip(tp: Any) -> Any:
    """Drop ``Annotated`` (keeping ``Array[T]``'s meaning elsewhere) and ``NewType``."""
    while typing.get_origin(tp) is Annotated:
        tp = tp.__origin__
    while hasattr(tp, "__supertype__"):
        tp = tp.__supertype__
    return tp


def _is_lenient(tp: Any) -> bool:
    return (
        tp is inspect.Parameter.empty
        or tp is Any
        or tp is _UNCHECKABLE
        or isinstance(tp, TypeVar | str | typing.ForwardRef)
    )


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


def is_type_compatible(output_type: Any, parameter_type: Any) -> bool:
    """Whether a value of ``output_type`` may be passed where ``parameter_type`` is expected.

    Lenient: ``False`` only when the two are known not to fit.

    Examples
    --------
    >>> is_type_compatible(int, str), is_type_compatible(int, float)
    (False, True)
    >>> is_type_compatible(list[int], collections.abc.Sequence[int])
    True
    >>> is_type_compatible(int | None, int), is_type_compatible(int, int | None)
    (False, True)
    """
    if _is_lenient(output_type) or _is_lenient(parameter_type) or parameter_type is object:
        return True
    out_el, par_el = _element_of(output_type), _element_of(parameter_type)
    if out_el is not None and par_el is not None:
        return is_type_compatible(out_el, par_el)
    output_type, parameter_type = _strip(output_type), _strip(parameter_type)
    if _is_union(parameter_type):
        return any(is_type_compatible(output_type, p) for p in typing.get_args(parameter_type))
    if _is_union(output_type):
        return all(is_type_compatible(o, parameter_type) for o in typing.get_args(output_type))
    if output_type is None:
        output_type = type(None)
    if parameter_type is None:
        parameter_type = type(None)
    out_origin = typing.get_origin(output_type) or output_type
    par_origin = typing.get_origin(parameter_type) or parameter_type
    if not isinstance(out_origin, type) or not isinstance(par_origin, type):
        return True  # Literal, Callable[...] forms, protocols of typing: not checked
    try:
        fits = issubclass(out_origin, par_origin)
    except TypeError:  # e.g. a runtime-uncheckable protocol
        return True
    if not fits:
        return par_origin in _PROMOTIONS.get(out_origin, ())
    out_args, par_args = typing.get_args(output_type), typing.get_args(parameter_type)
    if out_args and par_args and len(out_args) == len(par_args) and Ellipsis not in out_args:
        return all(is_type_compatible(o, p) for o, p in zip(out_args, par_args, strict=True))
    return True


def _hints(function: Any) -> tuple[dict[str, Any], Any]:
    """``({parameter: annotation}, return annotation)`` of a callable; unknowns lenient."""
    target = function
    returns: Any = inspect.Parameter.empty
    if isinstance(function, type):  # a dataclass or pydantic model: it returns itself
        returns = function
        target = function
    elif not inspect.isroutine(function) and callable(function):
        target = type(function).__call__
    try:
        hints = typing.get_type_hints(target, include_extras=True)
    except Exception:
        # unresolvable forward references: take the raw annotations, strings stay lenient
        hints = dict(getattr(target, "__annotations__", {}) or {})
    if returns is inspect.Parameter.empty:
        returns = hints.pop("return", inspect.Parameter.empty)
    return hints, returns


def _output_types(f: Func) -> dict[str, Any]:
    """The annotated type of each output of ``f`` (one element's, for mapped outputs)."""
    _, returns = _hints(f.function)
    names = f.output_names
    if len(names) == 1:
        types_ = {names[0]: returns}
    elif (
        getattr(f, "output_picker", None) is None
        and typing.get_origin(returns) is tuple
        and len(typing.get_args(returns)) == len(names)
        and Ellipsis not in typing.get_args(returns)
    ):
        types_ = dict(zip(names, typing.get_args(returns), strict=True))
    else:
        return dict.fromkeys(names, _UNCHECKABLE)
    spec = f.mapspec
    if spec is not None and spec.internal_indices:
        # the function returns the whole generated sequence: its element is one output
        types_ = {n: _sequence_element(t) for n, t in types_.items()}
    return types_


def output_annotations(f: Func) -> dict[str, Any]:
    """The annotated type of each output of ``f``: of one element, for mapped outputs.

    The same types the pipeline's checks use (see the module docstring); outputs whose
    type cannot be told (no annotation, an ``output_picker``, a generated axis not
    annotated ``list[T]``) are left out.

    Examples
    --------
    >>> from hpcflow import Func
    >>> def gen(n) -> list[float]:
    ...     return [0.5] * n
    >>> output_annotations(Func(gen, "x", mapspec="... -> x[i]"))
    {'x': <class 'float'>}
    >>> output_annotations(Func(lambda a: a, "y"))
    {}
    """
    return {
        name: tp
        for name, tp in _output_types(f).items()
        if tp is not _UNCHECKABLE and tp is not inspect.Parameter.empty
    }


def _sequence_element(tp: Any) -> Any:
    origin = typing.get_origin(_strip(tp))
    args = typing.get_args(_strip(tp))
    if origin in (list, collections.abc.Sequence, typing.Sequence) and len(args) == 1:
        return args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return _UNCHECKABLE


def _parameter_types(f: Func) -> dict[str, Any]:
    """``{pipeline name: annotation}`` of the free parameters of ``f``."""
    hints, _ = _hints(f.function)
    return {f.renames.get(p, p): t for p, t in hints.items() if p != "return"}


def _fmt(tp: Any) -> str:
    if tp is _UNCHECKABLE:
        return "?"
    if isinstance(tp, type) and not typing.get_args(tp):
        return (
            tp.__qualname__ if tp.__module__ == "builtins" else f"{tp.__module__}.{tp.__qualname__}"
        )
    element = _element_of(tp)
    if element is not None:
        return f"Array[{_fmt(element)}]"
    return repr(tp).replace("typing.", "")


def check_type_annotations(funcs: typing.Sequence[Func], output_to_func: dict[str, Func]) -> None:
    """Raise `SpecError` for the first connection whose annotations do not fit.

    ``funcs`` are the pipeline's funcs, ``output_to_func`` maps each output to its func.

    Examples
    --------
    >>> from hpcflow import Func
    >>> def f(x) -> int:
    ...     return x
    >>> def g(y: str):
    ...     return y
    >>> a, b = Func(f, "y"), Func(g, "z")
    >>> check_type_annotations([a, b], {"y": a, "z": b})
    Traceback (most recent call last):
    ...
    hpcflow.errors.SpecError: 'y' is annotated int as the output of 'f' but str as a parameter of 'g'; ...
    """
    out_types = {f: _output_types(f) for f in set(output_to_func.values())}
    for consumer in funcs:
        par_types = _parameter_types(consumer)
        for name in consumer.parameters:
            producer = output_to_func.get(name)
            if producer is None or name not in par_types:
                continue
            produced = out_types[producer][name]
            expected = par_types[name]
            how = _received(consumer, name) if _mapped(producer, name) else "element"
            if how == "part":
                continue  # a slice of the array (``y[i, :]``): not checked
            got = Array[produced] if how == "whole" else produced
            if not is_type_compatible(got, expected):
                _raise(name, producer, consumer, got, expected, whole=how == "whole")


def _mapped(f: Func, name: str) -> bool:
    return f.mapspec is not None and name in f.mapspec.output_names


def _received(f: Func, name: str) -> str:
    """How ``f`` receives the mapped array ``name``: ``"element"``, ``"whole"`` or ``"part"``."""
    spec = f.mapspec
    axes = next((a.axes for a in spec.inputs if a.name == name), None) if spec else None
    if axes is None or all(a is None for a in axes):
        return "whole"
    return "element" if all(a is not None for a in axes) else "part"


def _raise(
    name: str, producer: Func, consumer: Func, got: Any, expected: Any, *, whole: bool
) -> None:
    if whole:
        what = (
            f"{name!r} is mapped by {producer.name!r} (each element {_fmt(_element_of(got))}), "
            f"so {consumer.name!r} receives it whole as a numpy array ({_fmt(got)}), but "
            f"its parameter is annotated {_fmt(expected)}; annotate it numpy.ndarray or "
            "hpcflow.spec.typecheck.Array[...]"
        )
    else:
        what = (
            f"{name!r} is annotated {_fmt(got)} as the output of {producer.name!r} but "
            f"{_fmt(expected)} as a parameter of {consumer.name!r}; fix one of the annotations"
        )
    raise SpecError(
        f"{what}, or pass Pipeline(..., validate_type_annotations=False) to skip these checks"
    )
