"""Calling a pipeline directly: one output for one set of inputs, in this process.

No run folder, no storage, no executor: each func the output needs is called once, in
topological order, with plain values (``pipeline("y", x=1)``). For debugging and tests;
sweeps are ``map``. Mapped funcs are refused rather than given a meaning of their own,
so that a direct call always computes what ``map`` would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hpcflow.element.execute import _split  # one rule for multi-output results
from hpcflow.element.snapshots import ErrorSnapshot
from hpcflow.errors import InputError, PipelineError
from hpcflow.spec.scopes import flatten_scoped_inputs

if TYPE_CHECKING:
    from hpcflow.spec.func import Func
    from hpcflow.spec.pipeline import Pipeline

__all__ = ["run_direct"]


def _target(pipeline: Pipeline, output_name: str | tuple[str, ...] | None) -> tuple[str, ...]:
    if output_name is None:
        return (pipeline.output_name,)
    names = (output_name,) if isinstance(output_name, str) else tuple(output_name)
    for name in names:
        pipeline.func_for(name)  # names the outputs there are
    return names


def _needed(pipeline: Pipeline, targets: tuple[str, ...], given: Mapping[str, Any]) -> list[Func]:
    """Funcs computing ``targets`` when the names in ``given`` are taken as they are."""
    needed: set[Func] = set()
    stack = [pipeline.func_for(t) for t in targets if t not in given]
    while stack:
        f = stack.pop()
        if f in needed:
            continue
        needed.add(f)
        stack.extend(
            pipeline.output_to_func[p]
            for p in f.parameters
            if p in pipeline.output_to_func and p not in given
        )
    return [f for f in pipeline.sorted_funcs if f in needed]


def _check(pipeline: Pipeline, funcs: list[Func], kwargs: Mapping[str, Any], call: str) -> None:
    mapped = [f for f in funcs if f.mapspec is not None and f.mapspec.inputs]
    if mapped:
        specs = ", ".join(f"{f.name!r} ('{f.mapspec}')" for f in mapped)
        raise PipelineError(
            f"{call} cannot be computed directly: {specs} map over their inputs; run "
            "pipeline.map(inputs) for the sweep, or call one element of a func as "
            "pipeline.func_for(name)(**kwargs)"
        )
    produced = {o for f in funcs for o in f.output_names}
    missing: dict[str, list[str]] = {}
    for f in funcs:
        for p in f.parameters:
            if p not in kwargs and p not in produced and p not in f.defaults:
                missing.setdefault(p, []).append(f.name)
    if missing:
        names = ", ".join(
            f"{p!r} (needed by {', '.join(map(repr, fs))})" for p, fs in missing.items()
        )
        example = ", ".join(f"{p}=..." for p in missing)
        raise InputError(f"{call} is missing input {names}; pass it: pipeline(..., {example})")


def run_direct(
    pipeline: Pipeline,
    output_name: str | tuple[str, ...] | None,
    kwargs: Mapping[str, Any],
    *,
    full_output: bool = False,
    allow_unused: bool = False,
) -> Any:
    """Compute ``output_name`` from ``kwargs`` by calling each func it needs once.

    Parameters
    ----------
    pipeline
        The pipeline.
    output_name
        An output, a tuple of outputs (a tuple of values is returned), or ``None`` for
        the pipeline's only final output.
    kwargs
        Pipeline inputs; intermediate outputs given here are used as they are (what
        would compute them is skipped). Inputs with defaults may be left out.
    full_output
        Return ``{name: value}`` of every input and output used, not just the result.
    allow_unused
        Accept names in ``kwargs`` that the computation does not use (else an error).

    Examples
    --------
    >>> from hpcflow import Pipeline, func
    >>> @func("c")
    ... def add(a, b=2):
    ...     return a + b
    >>> @func("d")
    ... def double(c):
    ...     return 2 * c
    >>> p = Pipeline([add, double])
    >>> p("d", a=1), p.run("c", {"a": 1, "b": 5}), p("d", c=10)
    (6, 6, 20)
    """
    if not isinstance(kwargs, Mapping):
        raise InputError(f"kwargs must be a dict of name -> value, got {type(kwargs).__name__}")
    names = {n for f in pipeline.funcs for n in (*f.parameters, *f.output_names)}
    kwargs = flatten_scoped_inputs(kwargs, names)
    targets = _target(pipeline, output_name)
    call = f"pipeline({', '.join(map(repr, targets))})"
    funcs = _needed(pipeline, targets, kwargs)
    _check(pipeline, funcs, kwargs, call)
    used = {p for f in funcs for p in f.parameters} | set(targets)
    unused = sorted(set(kwargs) - used)
    if unused and not allow_unused:
        raise InputError(
            f"{call} does not use {unused}; it takes {sorted(used - set(targets))} (pass "
            "allow_unused=True to ignore extra names)"
        )
    values: dict[str, Any] = dict(kwargs)
    for f in funcs:
        for p in f.parameters:
            values.setdefault(p, f.defaults.get(p))  # _check: missing ones have defaults
        call_kwargs = {p: values[p] for p in f.parameters}
        try:
            result = f(**call_kwargs)
            outs = (result,) if len(f.output_names) == 1 else _split(result, f)
            if f.post_execution_hook is not None:
                f.post_execution_hook(f, result, call_kwargs)
        except Exception as e:
            pipeline._record_error(ErrorSnapshot.capture(f, call_kwargs, e, detach=False))
            e.add_note(
                f"hpcflow: raised by {f.name!r} while computing {call}; its ErrorSnapshot "
                "is pipeline.error_snapshot (.reproduce() calls it again)"
            )
            raise
        values.update(zip(f.output_names, outs, strict=True))
    if full_output:
        return {k: v for k, v in values.items() if k in used or k in kwargs}
    out = tuple(values[t] for t in targets)
    return out[0] if isinstance(output_name, str) or output_name is None else out
