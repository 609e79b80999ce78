"""Nested funcs: several funcs run as one node, with one mapspec and one resource set.

A chain ``x[i] -> y[i]`` then ``y[i] -> z[i]`` computes each element twice over (two
stages, two arrays of tasks, ``y`` stored in between). Nested, it is one func
``x[i] -> y[i], z[i]`` whose element calls both functions in turn: one task array,
one resource request, no wait between the two.
"""

from __future__ import annotations

import graphlib
import inspect
from collections.abc import Iterable, Sequence
from typing import Any

from hpcflow.errors import SpecError
from hpcflow.spec.func import Func
from hpcflow.spec.mapspec import ArraySpec, MapSpec
from hpcflow.spec.resources import ResourcesLike
from hpcflow.spec.scopes import disk_name

__all__ = ["NestedCall", "nested_func"]


class NestedCall:
    """The function of a nested func: calls the inner funcs in order, for one element.

    Keyword arguments are the inner funcs' free parameters that none of them produces;
    it returns the selected outputs (a tuple when there are several).
    """

    def __init__(self, funcs: Sequence[Func], outputs: tuple[str, ...]) -> None:
        self.funcs = tuple(funcs)
        self.outputs = outputs
        produced = {o for f in funcs for o in f.output_names}
        params: dict[str, inspect.Parameter] = {}
        for f in funcs:
            defaults = f.defaults
            for p in f.parameters:
                if p in produced or p in params:
                    continue
                default = defaults.get(p, inspect.Parameter.empty)
                # a scoped name is no Python parameter name: 'foo.a' is 'foo__a' here,
                # and the nested Func renames it back
                params[p] = inspect.Parameter(
                    disk_name(p), inspect.Parameter.KEYWORD_ONLY, default=default
                )
        #: ``{python parameter name: pipeline name}``
        self.pipeline_names = {q.name: p for p, q in params.items()}
        # keyword-only parameters may mix with and without defaults, in any order
        self.__signature__ = inspect.Signature(list(params.values()))
        self.__name__ = "nested_" + "_".join(f.name for f in funcs)
        self.__qualname__ = self.__name__

    def __call__(self, **kwargs: Any) -> Any:
        values = {self.pipeline_names.get(k, k): v for k, v in kwargs.items()}
        for f in self.funcs:
            defaults = f.defaults
            call = {p: values[p] if p in values else defaults[p] for p in f.parameters}
            result = f(**call)
            values.update(zip(f.output_names, _outputs(f, result), strict=True))
            if f.post_execution_hook is not None:
                f.post_execution_hook(f, result, call)
        out = tuple(values[o] for o in self.outputs)
        return out[0] if len(out) == 1 else out

    def __repr__(self) -> str:
        return f"NestedCall([{', '.join(f.name for f in self.funcs)}], outputs={self.outputs})"


def _outputs(f: Func, result: Any) -> tuple[Any, ...]:
    if len(f.output_names) == 1:
        return (result,)
    if f.output_picker is not None:
        return tuple(f.output_picker(result, n) for n in f.original_output_names)
    if not isinstance(result, tuple | list) or len(result) != len(f.output_names):
        raise SpecError(
            f"{f.name!r} (nested) has outputs {f.output_names} and must return a tuple of "
            f"{len(f.output_names)} values, but returned {type(result).__name__}"
        )
    return tuple(result)


def nested_func(
    funcs: Iterable[Func],
    output_name: str | tuple[str, ...] | None = None,
    *,
    mapspec: str | MapSpec | None = None,
    resources: ResourcesLike | None = None,
    consumed_outside: Iterable[str] = (),
) -> Func:
    """One `Func` that runs ``funcs`` in order for each element (pipefunc's NestedPipeFunc).

    Parameters
    ----------
    funcs
        Two or more funcs, connected by name. Their order does not matter.
    output_name
        Outputs of the nested func; by default the outputs no other func of ``funcs``
        consumes, plus ``consumed_outside``.
    mapspec
        The nested func's mapspec. By default it is built from the inner mapspecs,
        which must then all have the same output axes and take every array element by
        element (no ``:``); unmapped funcs only nest with unmapped funcs.
    resources
        One resource set for the whole node. By default the inner funcs' resources if
        they all have the same (or none); otherwise it must be given.
    consumed_outside
        Intermediate outputs that funcs outside the nest need (kept as outputs).

    Examples
    --------
    >>> from hpcflow import Pipeline, func
    >>> @func("y", mapspec="x[i] -> y[i]")
    ... def double(x):
    ...     return 2 * x
    >>> @func("z", mapspec="y[i] -> z[i]")
    ... def inc(y, b=1):
    ...     return y + b
    >>> f = nested_func([double, inc])
    >>> str(f.mapspec), f.parameters, f.output_name
    ('x[i] -> z[i]', ('x', 'b'), 'z')
    >>> Pipeline([f]).map({"x": [1, 2]}, parallel=False)["z"].output.tolist()
    [3, 5]
    """
    funcs = _sorted(list(funcs))
    if len(funcs) < 2:
        raise SpecError(f"nesting needs at least two funcs, got {[f.name for f in funcs]}")
    names = [f.name for f in funcs]
    produced = [o for f in funcs for o in f.output_names]
    consumed = {p for f in funcs for p in f.parameters}
    outside = tuple(consumed_outside)
    if output_name is None:
        outs = tuple(o for o in produced if o not in consumed or o in outside)
    else:
        outs = (output_name,) if isinstance(output_name, str) else tuple(output_name)
    unknown = [o for o in outs if o not in produced]
    if unknown:
        raise SpecError(
            f"output_name {list(unknown)} of the nested {names} are not outputs of its funcs "
            f"{produced}"
        )
    call = NestedCall(funcs, outs)
    spec = _mapspec(funcs, outs, call, names) if mapspec is None else mapspec
    return Func(
        call,
        outs[0] if len(outs) == 1 else outs,
        mapspec=spec,
        renames={q: p for q, p in call.pipeline_names.items() if q != p},
        resources=_resources(funcs, resources, names),
    )


def _sorted(funcs: list[Func]) -> list[Func]:
    by_output = {o: f for f in funcs for o in f.output_names}
    ts: graphlib.TopologicalSorter[Func] = graphlib.TopologicalSorter()
    for f in funcs:
        ts.add(f, *(by_output[p] for p in f.parameters if p in by_output))
    try:
        return list(ts.static_order())
    except graphlib.CycleError as e:
        raise SpecError(f"the funcs to nest form a cycle: {[f.name for f in e.args[1]]}") from None


def _mapspec(
    funcs: list[Func], outs: tuple[str, ...], call: NestedCall, names: list[str]
) -> MapSpec | None:
    specs = [f.mapspec for f in funcs]
    if all(s is None for s in specs):
        return None
    way_out = "; pass mapspec=... for the nested func"
    if any(s is None for s in specs):
        unmapped = [f.name for f in funcs if f.mapspec is None]
        raise SpecError(
            f"cannot nest mapped and unmapped funcs {names} ({unmapped} unmapped){way_out}"
        )
    axes = {s.output_indices for s in specs if s is not None}
    if len(axes) != 1:
        raise SpecError(
            f"the funcs to nest {names} have different output axes {sorted(axes)}{way_out}"
        )
    out_axes = axes.pop()
    inputs: dict[str, ArraySpec] = {}
    for s in specs:
        assert s is not None
        if s.internal_indices:
            raise SpecError(f"cannot nest {names}: mapspec '{s}' generates axes{way_out}")
        for arr in s.inputs:
            if None in arr.axes:
                raise SpecError(f"cannot nest {names}: mapspec '{s}' reduces {arr}{way_out}")
            if arr.name in call.pipeline_names.values():
                inputs.setdefault(arr.name, arr)
    return MapSpec(tuple(inputs.values()), tuple(ArraySpec(o, out_axes) for o in outs))


def _resources(funcs: list[Func], given: ResourcesLike | None, names: list[str]) -> Any:
    if given is not None:
        return given
    found = {f.resources for f in funcs if f.resources is not None}
    if len(found) > 1:
        raise SpecError(
            f"the funcs to nest {names} ask for different resources; a nested func is one "
            "node with one resource set, so pass resources=... for it"
        )
    return found.pop() if found else None
