"""Func: a Python callable plus how it fits in a pipeline."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from hpcflow.errors import SpecError
from hpcflow.spec._source import restore_source, source_file
from hpcflow.spec.axes import check_axis_renames, rename_func_axes
from hpcflow.spec.mapspec import MapSpec
from hpcflow.spec.resources import (
    FrozenDict,
    Resources,
    ResourcesLike,
    call_resources,
    parse_walltime,
)
from hpcflow.spec.retry import Retry, RetryLike
from hpcflow.spec.scopes import check_scope, is_name, scoped

__all__ = ["Func", "func"]

ShapeDim = int | Literal["?"]
InternalShape = tuple[ShapeDim, ...]


def normalize_internal_shape(value: Any, where: str) -> InternalShape | None:
    """``4`` -> ``(4,)``, ``"?"`` -> ``("?",)``, tuples validated."""
    if value is None:
        return None
    dims = value if isinstance(value, tuple | list) else (value,)
    out: list[ShapeDim] = []
    for d in dims:
        if d == "?":
            out.append("?")
        elif isinstance(d, int | np.integer) and not isinstance(d, bool | np.bool_) and d >= 0:
            out.append(int(d))  # numpy integers too, as from an array's .shape or len
        else:
            raise SpecError(f"{where}={value!r}: each dimension must be an int >= 0 or '?'")
    return tuple(out)


@dataclass(frozen=True, init=False, eq=False)
class Func:
    """A function in a pipeline: what it computes, how it is mapped, what it needs.

    Parameters
    ----------
    function
        Any callable; lambdas and closures work, also with process pools.
    output_name
        Name of its output, or a tuple of names if it returns a tuple.
    mapspec
        E.g. ``"x[i], y[j] -> z[i, j]"``; names are the pipeline names (after renames).
    resources
        `Resources`, a dict of its fields, or a callable of the element's inputs
        returning one of those.
    internal_shape
        Shape of the axes the function generates itself (``"?"`` if unknown).
    renames
        ``{original_name: pipeline_name}`` for parameters and outputs.
    defaults
        Default values for parameters (pipeline names), overriding the signature's.
    bound
        Parameters fixed to a value; they are not pipeline inputs.
    retry
        When submitted: how often its failed tasks are retried automatically, and how
        their memory and wall time grow (`Retry`; an int is a number of retries).
        ``None`` takes ``submit(retry=...)``, which by default retries nothing.
    element_time
        About how long one element takes (seconds, or a duration such as ``"2:00"``):
        a hint for the automatic chunk size of a submitted run, so that tasks are not
        shorter than a minimum task time. Not a limit (that is ``resources.walltime``).
        Later rounds of a run (retries, follow-up jobs, resume) use the element times
        they measured instead.
    post_execution_hook
        ``hook(func, result, kwargs)``, called after each successful element (in `map`,
        in a direct call and on the compute node; it is pickled with the func) with the
        function's return value and its pipeline-named inputs. For logging, progress or
        statistics; its return value is ignored, and an exception it raises fails the
        element like one of the function's.
    output_picker
        ``picker(result, name)``: how a function with several outputs hands out each
        one, called with its own output names (before renames), e.g. ``getattr`` for
        a function returning an object with those attributes. ``None``: it returns a
        tuple in the order of ``output_name``.
    scope
        Put every parameter and output in this scope: ``x`` becomes ``foo.x`` (a name
        that has a scope gets this one instead). ``renames``, ``defaults``, ``bound``
        and ``mapspec`` use the names before the scope; the scope is applied last, as
        by `update_scope` (see `hpcflow.spec.scopes`).

    Examples
    --------
    >>> f = Func(lambda a, b=1: a + b, "c", mapspec="a[i] -> c[i]")
    >>> f.parameters, f.output_names, f.defaults
    (('a', 'b'), ('c',), {'b': 1})
    >>> f(a=1)
    2
    """

    function: Callable[..., Any]
    output_name: str | tuple[str, ...]
    mapspec: MapSpec | None
    resources: Resources | Callable[..., Any] | None
    internal_shape: InternalShape | None
    renames: FrozenDict
    bound: FrozenDict
    retry: Retry | None
    element_time: float | None
    post_execution_hook: Callable[[Func, Any, dict[str, Any]], Any] | None
    output_picker: Callable[[Any, str], Any] | None
    _defaults: FrozenDict
    _original_params: tuple[str, ...]
    _signature_defaults: FrozenDict

    def __init__(
        self,
        function: Callable[..., Any],
        output_name: str | tuple[str, ...],
        *,
        mapspec: str | MapSpec | None = None,
        resources: ResourcesLike | None = None,
        internal_shape: int | str | tuple[int | str, ...] | None = None,
        renames: Mapping[str, str] | None = None,
        defaults: Mapping[str, Any] | None = None,
        bound: Mapping[str, Any] | None = None,
        retry: RetryLike | None = None,
        element_time: float | str | None = None,
        post_execution_hook: Callable[[Func, Any, dict[str, Any]], Any] | None = None,
        output_picker: Callable[[Any, str], Any] | None = None,
        scope: str | None = None,
    ) -> None:
        if not callable(function):
            raise SpecError(f"Func needs a callable, got {function!r}")
        name = getattr(function, "__name__", repr(function))
        outs = _normalize_output_name(output_name, name)
        params, sig_defaults = _signature(function, name)
        renames = dict(renames or {})
        for old, new in renames.items():
            if old not in params and old not in outs:
                raise SpecError(
                    f"renames of {name!r} names {old!r}, which is neither a parameter "
                    f"{list(params)} nor an output {list(outs)}"
                )
            if not is_name(new):
                raise SpecError(
                    f"renames[{old!r}]={new!r} must be a Python identifier or a scoped "
                    "name such as 'foo.x'"
                )
        outs = tuple(renames.get(o, o) for o in outs)
        renamed = tuple(renames.get(p, p) for p in params)
        for label, mapping in (("defaults", defaults), ("bound", bound)):
            unknown = sorted(set(mapping or {}) - set(renamed))
            if unknown:
                raise SpecError(
                    f"{label} of {name!r} names {unknown}, which are not its parameters "
                    f"{list(renamed)} (use the names after renames)"
                )
        both = sorted(set(defaults or {}) & set(bound or {}))
        if both:
            # a bound value always wins, so the default could never be used: say so now
            raise SpecError(
                f"{name!r} has {both} in both defaults and bound; a bound parameter is "
                "fixed and not an input, so keep it in one of them"
            )
        spec = MapSpec.from_string(mapspec) if isinstance(mapspec, str) else mapspec
        if spec is not None and not isinstance(spec, MapSpec):
            raise SpecError(f"mapspec of {name!r} must be a string or MapSpec, got {spec!r}")
        if spec is not None:
            if set(spec.output_names) != set(outs):
                raise SpecError(
                    f"mapspec '{spec}' of {name!r} has outputs {list(spec.output_names)} but "
                    f"the function's output_name is {list(outs)}"
                )
            if spec.output_names != outs:
                # the function returns its outputs in output_name's order; a mapspec
                # listing them otherwise reads as if it meant another order
                raise SpecError(
                    f"mapspec '{spec}' of {name!r} lists its outputs as "
                    f"{list(spec.output_names)} but output_name is {list(outs)}; list them "
                    "in the same order in both"
                )
            bad = [n for n in spec.input_names if n not in renamed or n in (bound or {})]
            if bad:
                raise SpecError(
                    f"mapspec '{spec}' of {name!r} maps {bad}, which are not free parameters "
                    f"of the function {[p for p in renamed if p not in (bound or {})]}"
                )
        shape = normalize_internal_shape(internal_shape, "internal_shape")
        if spec is not None and shape is not None and len(shape) != len(spec.internal_indices):
            raise SpecError(
                f"internal_shape={shape} of {name!r} has {len(shape)} dims but mapspec "
                f"'{spec}' generates {len(spec.internal_indices)} axes {spec.internal_indices}"
            )
        if resources is not None and not callable(resources):
            resources = Resources.from_value(resources)
        for label, hook in (
            ("post_execution_hook", post_execution_hook),
            ("output_picker", output_picker),
        ):
            if hook is not None and not callable(hook):
                raise SpecError(f"{label} of {name!r} must be a callable or None, got {hook!r}")
        set_ = object.__setattr__
        set_(self, "function", function)
        set_(self, "output_name", outs[0] if isinstance(output_name, str) else outs)
        set_(self, "mapspec", spec)
        set_(self, "resources", resources)
        set_(self, "internal_shape", shape)
        set_(self, "renames", FrozenDict(renames))
        set_(self, "bound", FrozenDict(bound))
        set_(self, "retry", Retry.from_value(retry))
        set_(self, "element_time", _element_time(element_time, name))
        set_(self, "post_execution_hook", post_execution_hook)
        set_(self, "output_picker", output_picker)
        set_(self, "_defaults", FrozenDict(defaults))
        set_(self, "_original_params", params)
        set_(self, "_signature_defaults", FrozenDict(sig_defaults))
        if check_scope(scope, repr(name)) is not None:
            # the scope is a rename of every name, made after the checks above
            self.__dict__.update(self.update_scope(scope, inputs="*", outputs="*").__dict__)

    # ------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_source_file": source_file(self.function)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        filename = state.pop("_source_file", None)
        # funcs pickled before these fields existed (a run folder being resumed)
        state.setdefault("post_execution_hook", None)
        state.setdefault("output_picker", None)
        for key, value in state.items():
            object.__setattr__(self, key, value)
        if filename is not None:
            restore_source(self.function, filename)

    # ----------------------------------------------------------------- names
    @property
    def name(self) -> str:
        """The function's ``__name__`` (for messages)."""
        return str(getattr(self.function, "__name__", repr(self.function)))

    @property
    def output_names(self) -> tuple[str, ...]:
        """Output names as a tuple (one entry for a single output)."""
        o = self.output_name
        return (o,) if isinstance(o, str) else o

    @property
    def parameters(self) -> tuple[str, ...]:
        """Free parameters (pipeline names), bound ones excluded."""
        return tuple(
            self.renames.get(p, p)
            for p in self._original_params
            if self.renames.get(p, p) not in self.bound
        )

    @property
    def defaults(self) -> dict[str, Any]:
        """Default values of free parameters (pipeline names)."""
        out = {
            self.renames.get(p, p): v
            for p, v in self._signature_defaults.items()
            if self.renames.get(p, p) not in self.bound
        }
        out.update(self._defaults)
        return out

    def __repr__(self) -> str:
        spec = f", mapspec='{self.mapspec}'" if self.mapspec else ""
        return f"Func({self.name}, output_name={self.output_name!r}{spec})"

    # ------------------------------------------------------------------ call
    def __call__(self, **kwargs: Any) -> Any:
        """Call the function with pipeline-named keyword arguments."""
        inverse = {new: old for old, new in self.renames.items()}
        call = {inverse.get(k, k): v for k, v in kwargs.items()}
        for k, v in self.bound.items():
            call[inverse.get(k, k)] = v
        return self.function(**call)

    @property
    def original_output_names(self) -> tuple[str, ...]:
        """Output names as the function knows them (before renames)."""
        inverse = {new: old for old, new in self.renames.items()}
        return tuple(inverse.get(o, o) for o in self.output_names)

    def resources_for(self, kwargs: Mapping[str, Any], default: Resources | None) -> Resources:
        """This element's resources, merged with ``default`` (own values win)."""
        r = self.resources
        if r is None:
            own = Resources()
        elif isinstance(r, Resources):
            own = r
        else:
            own = call_resources(r, kwargs)
        return own.with_defaults(default)

    def update_mapspec_axes(self, renames: Mapping[str, str]) -> Func:
        """A copy whose mapspec has axes renamed (``{old: new}``).

        Examples
        --------
        >>> f = Func(lambda a: a, "b", mapspec="a[i] -> b[i]")
        >>> str(f.update_mapspec_axes({"i": "k"}).mapspec)
        'a[k] -> b[k]'
        """
        spec = self.mapspec
        known = () if spec is None else (*spec.output_indices, *spec.input_indices)
        check_axis_renames(renames, known, repr(self))
        return rename_func_axes(self, renames)

    def update_scope(
        self,
        scope: str | None,
        inputs: Iterable[str] | Literal["*"] | None = None,
        outputs: Iterable[str] | Literal["*"] | None = None,
        exclude: Iterable[str] | None = None,
    ) -> Func:
        """A copy with some parameters and outputs put in ``scope`` (``None``: out of
        their scope). The original is untouched.

        Parameters
        ----------
        scope
            The new scope, an identifier; ``None`` removes the scope of those names.
        inputs, outputs
            ``"*"`` for every free parameter (every output), or the names to change (as
            they are now); ``None`` for none.
        exclude
            Names to leave as they are.

        Examples
        --------
        >>> f = Func(lambda a, b: a + b, "c", mapspec="a[i] -> c[i]")
        >>> g = f.update_scope("foo", inputs="*", outputs="*", exclude={"b"})
        >>> g.parameters, g.output_name, str(g.mapspec)
        (('foo.a', 'b'), 'foo.c', 'foo.a[i] -> foo.c[i]')
        >>> g(**{"foo.a": 1, "b": 2})
        3
        """
        check_scope(scope, repr(self))
        chosen = _chosen(inputs, self.parameters, "inputs", self) | _chosen(
            outputs, self.output_names, "outputs", self
        )
        chosen -= set(exclude or ())
        return self._rename_names({n: scoped(scope, n) for n in chosen})

    def _rename_names(self, mapping: Mapping[str, str]) -> Func:
        """A copy with pipeline names renamed (``{now: new}``) everywhere it holds them."""
        inverse = {new: old for old, new in self.renames.items()}
        renames = dict(self.renames)
        for now, new in mapping.items():
            renames[inverse.get(now, now)] = new
        spec = self.mapspec
        return self.replace(
            renames={old: new for old, new in renames.items() if old != new},
            mapspec=None if spec is None else spec.rename(mapping),
            defaults={mapping.get(k, k): v for k, v in self._defaults.items()},
            bound={mapping.get(k, k): v for k, v in self.bound.items()},
        )

    def copy(self, **changes: Any) -> Func:
        """The same as `replace`: a new func with some constructor arguments changed."""
        return self.replace(**changes)

    def replace(self, **changes: Any) -> Func:
        """A copy with some constructor arguments changed (the original is untouched)."""
        inverse = {new: old for old, new in self.renames.items()}
        out = self.output_name
        if isinstance(out, tuple):
            orig_out: str | tuple[str, ...] = tuple(inverse.get(o, o) for o in out)
        else:
            orig_out = inverse.get(out, out)
        args: dict[str, Any] = {
            "function": self.function,
            "output_name": orig_out,
            "mapspec": self.mapspec,
            "resources": self.resources,
            "internal_shape": self.internal_shape,
            "renames": dict(self.renames),
            "defaults": dict(self._defaults),
            "bound": dict(self.bound),
            "retry": self.retry,
            "element_time": self.element_time,
            "post_execution_hook": self.post_execution_hook,
            "output_picker": self.output_picker,
        }
        args.update(changes)
        return Func(**args)


def _chosen(
    which: Iterable[str] | Literal["*"] | None, names: tuple[str, ...], label: str, f: Func
) -> set[str]:
    """The names ``which`` selects among ``names``; unknown ones are a `SpecError`."""
    if which is None:
        return set()
    if which == "*":
        return set(names)
    chosen = {which} if isinstance(which, str) else set(which)
    unknown = sorted(chosen - set(names))
    if unknown:
        raise SpecError(
            f"update_scope of {f!r}: {label} {unknown} are not among its {label} "
            f"{list(names)} (use the names as they are now, or '*' for all)"
        )
    return chosen


def _element_time(value: Any, name: str) -> float | None:
    """Seconds per element, from a number or a duration string (`parse_walltime`)."""
    if value is None:
        return None
    if isinstance(value, str):
        return float(parse_walltime(value))
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise SpecError(
            f"element_time={value!r} of {name!r} must be a number of seconds > 0 or a "
            "duration such as '2:00'"
        )
    if value == float("inf"):
        raise SpecError(f"element_time={value!r} of {name!r} must be finite")
    return float(value)


def _normalize_output_name(output_name: Any, name: str) -> tuple[str, ...]:
    outs = (output_name,) if isinstance(output_name, str) else output_name
    if not isinstance(outs, tuple) or not outs:
        raise SpecError(f"output_name of {name!r} must be a str or a non-empty tuple of str")
    for o in outs:
        if not is_name(o):
            raise SpecError(
                f"output name {o!r} of {name!r} must be a Python identifier or a scoped "
                "name such as 'foo.x'"
            )
    if len(set(outs)) != len(outs):
        raise SpecError(f"output_name {outs} of {name!r} repeats a name")
    return tuple(outs)


def _signature(function: Callable[..., Any], name: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    try:
        sig = inspect.signature(function)
    except (TypeError, ValueError) as e:
        raise SpecError(f"cannot read the signature of {name!r}: {e}") from None
    params: list[str] = []
    defaults: dict[str, Any] = {}
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL or p.kind is p.POSITIONAL_ONLY:
            raise SpecError(
                f"{name!r} takes {p.name!r} positionally only; pipeline functions are called "
                "with keyword arguments"
            )
        if p.kind is p.VAR_KEYWORD:
            continue
        params.append(p.name)
        if p.default is not p.empty:
            defaults[p.name] = p.default
    return tuple(params), defaults


def func(
    output_name: str | tuple[str, ...],
    *,
    mapspec: str | MapSpec | None = None,
    resources: ResourcesLike | None = None,
    internal_shape: int | str | tuple[int | str, ...] | None = None,
    renames: Mapping[str, str] | None = None,
    defaults: Mapping[str, Any] | None = None,
    bound: Mapping[str, Any] | None = None,
    retry: RetryLike | None = None,
    element_time: float | str | None = None,
    post_execution_hook: Callable[[Func, Any, dict[str, Any]], Any] | None = None,
    output_picker: Callable[[Any, str], Any] | None = None,
    scope: str | None = None,
) -> Callable[[Callable[..., Any]], Func]:
    """Decorate a function to make it a `Func`.

    Examples
    --------
    >>> @func("y", mapspec="x[i] -> y[i]")
    ... def double(x):
    ...     return 2 * x
    >>> double(x=3)
    6
    """

    def wrap(function: Callable[..., Any]) -> Func:
        return Func(
            function,
            output_name,
            mapspec=mapspec,
            resources=resources,
            internal_shape=internal_shape,
            renames=renames,
            defaults=defaults,
            bound=bound,
            retry=retry,
            element_time=element_time,
            post_execution_hook=post_execution_hook,
            output_picker=output_picker,
            scope=scope,
        )

    return wrap
