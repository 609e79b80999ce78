"""Pipeline: a DAG of `Func` objects joined by parameter and output names."""

from __future__ import annotations

import graphlib
import inspect
import keyword
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from hpcflow.errors import PipelineError
from hpcflow.spec.axes import (
    check_axis_renames,
    independent_axes,
    parse_axes,
    rename_func_axes,
)
from hpcflow.spec.func import Func
from hpcflow.spec.mapspec import ArraySpec, MapSpec
from hpcflow.spec.resources import Resources
from hpcflow.spec.scopes import check_disk_names, check_scope, scoped

if TYPE_CHECKING:
    from pathlib import Path

    from hpcflow.element.local import AsyncMap
    from hpcflow.element.preview import MapShapes
    from hpcflow.element.snapshots import ErrorSnapshot
    from hpcflow.report.svg import SvgImage
    from hpcflow.runfolder.results import ResultDict
    from hpcflow.spec.pipeline_func import PipelineFunc
    from hpcflow.submission.handle import Run
    from hpcflow.submission.submit import SubmissionPlan

__all__ = ["Pipeline"]

_NO_DEFAULT = object()


class Pipeline:
    """A pipeline of functions, wired by name: an output feeds every parameter of that name.

    The pipeline itself is never modified after construction; methods that change it
    (`add_mapspec_axis`, `subpipeline`) return a new pipeline. That new pipeline is of
    the same class: a subclass keeps its own methods, and is made as
    ``cls(funcs, default_resources=..., validate_type_annotations=...)``.

    Parameters
    ----------
    funcs
        The `Func` objects (made with :func:`hpcflow.func`). A plain named function
        ``def f(...)`` is taken as ``Func(f, "f")``: its output is named after it.
    default_resources
        Resources every func gets unless it sets the field itself.
    validate_type_annotations
        Check that the type annotations of connected funcs fit, when the pipeline is
        built (`hpcflow.spec.typecheck`); ``False`` skips the checks.
    post_execution_hook
        ``hook(func, result, kwargs)`` for every func that has no hook of its own (see
        `Func`): called after each element, in `map`, direct calls and on compute nodes.
    scope
        Put every parameter and output of every func in this scope (``x`` ->
        ``foo.x``), as `update_scope` with ``inputs="*", outputs="*"`` on each func.

    Examples
    --------
    >>> from hpcflow import func
    >>> @func("y", mapspec="x[i] -> y[i]")
    ... def double(x):
    ...     return 2 * x
    >>> @func("total")
    ... def add(y):
    ...     return sum(y)
    >>> p = Pipeline([double, add])
    >>> p.root_args(), [f.name for f in p.sorted_funcs]
    (('x',), ['double', 'add'])

    A plain function is a func whose output is named after it:

    >>> def total_squared(total):
    ...     return total**2
    >>> Pipeline([double, add, total_squared]).output_name
    'total_squared'
    """

    def __init__(
        self,
        funcs: Sequence[Func],
        *,
        default_resources: Any = None,
        validate_type_annotations: bool = True,
        post_execution_hook: Callable[[Func, Any, dict[str, Any]], Any] | None = None,
        scope: str | None = None,
    ) -> None:
        funcs = [_as_func(f) for f in funcs]
        if not funcs:
            raise PipelineError("a Pipeline needs at least one func")
        if check_scope(scope, "Pipeline") is not None:
            funcs = [f.update_scope(scope, inputs="*", outputs="*") for f in funcs]
        if post_execution_hook is not None:
            if not callable(post_execution_hook):
                raise PipelineError(
                    f"post_execution_hook must be a callable or None, got {post_execution_hook!r}"
                )
            # stored on the funcs, so it travels with them to pool workers and compute nodes
            funcs = [
                f if f.post_execution_hook is not None
                else f.replace(post_execution_hook=post_execution_hook)
                for f in funcs
            ]  # fmt: skip
        self.default_resources: Resources | None = (
            None if default_resources is None else Resources.from_value(default_resources)
        )
        self.output_to_func: dict[str, Func] = {}
        for f in funcs:
            for o in f.output_names:
                if o in self.output_to_func:
                    other = self.output_to_func[o]
                    raise PipelineError(
                        f"output {o!r} is produced by both {other.name!r} and {f.name!r}; "
                        "each output name must be unique (use renames=...)"
                    )
                self.output_to_func[o] = f
        # a scoped name becomes 'foo__x' in a run folder: refuse names it could collide with
        check_disk_names({n for f in funcs for n in (*f.parameters, *f.output_names)})
        self.funcs: tuple[Func, ...] = tuple(self._autogen_mapspecs(funcs))
        self.output_to_func = {o: f for f in self.funcs for o in f.output_names}
        self._order = self._toposort()
        self.array_axes: dict[str, tuple[str, ...]] = self._check_axes()
        self._check_defaults()
        self.validate_type_annotations = bool(validate_type_annotations)
        if self.validate_type_annotations:
            # imported here: a compute node unpickles pipelines and never builds one
            from hpcflow.spec.typecheck import check_type_annotations

            check_type_annotations(self._order, self.output_to_func)
        self._error_snapshot: ErrorSnapshot | None = None

    def _derive(self, funcs: Sequence[Func]) -> Pipeline:
        """A pipeline of other ``funcs`` with this one's options, of this one's class."""
        return type(self)(
            funcs,
            default_resources=self.default_resources,
            validate_type_annotations=self.validate_type_annotations,
        )

    def copy(self, **changes: Any) -> Pipeline:
        """A new pipeline with the same funcs and options, except those in ``changes``.

        ``changes`` are constructor arguments: ``funcs``, ``default_resources``,
        ``validate_type_annotations``, ``post_execution_hook``, ``scope``. This one is
        left as it is. A pipeline's ``post_execution_hook`` and ``scope`` were applied
        to its funcs when it was built, so new ``funcs=`` get neither unless they are
        passed again.

        Examples
        --------
        >>> from hpcflow import Func
        >>> p = Pipeline([Func(lambda x: 2 * x, "y")])
        >>> q = p.copy(default_resources={"cpus": 2})
        >>> q.default_resources.cpus, p.default_resources
        (2, None)
        """
        known = ("funcs", "default_resources", "validate_type_annotations",
                 "post_execution_hook", "scope")  # fmt: skip
        unknown = sorted(set(changes) - set(known))
        if unknown:
            raise PipelineError(
                f"Pipeline.copy() got {unknown}, which are not Pipeline options; "
                f"it takes {list(known)}"
            )
        args: dict[str, Any] = {
            "funcs": self.funcs,
            "default_resources": self.default_resources,
            "validate_type_annotations": self.validate_type_annotations,
            **changes,
        }
        return type(self)(args.pop("funcs"), **args)

    # ------------------------------------------------------------ structure
    def _deps(self, f: Func) -> set[Func]:
        return {self.output_to_func[p] for p in f.parameters if p in self.output_to_func}

    def _toposort(self) -> list[Func]:
        ts: graphlib.TopologicalSorter[Func] = graphlib.TopologicalSorter()
        for f in self.funcs:
            ts.add(f, *self._deps(f))
        try:
            return list(ts.static_order())
        except graphlib.CycleError as e:
            cycle = " -> ".join(f.name for f in e.args[1])
            raise PipelineError(f"the pipeline has a cycle: {cycle}") from None

    @property
    def sorted_funcs(self) -> list[Func]:
        """Funcs in an order where every func comes after the ones it depends on."""
        return list(self._order)

    def topological_generations(self) -> list[list[Func]]:
        """Funcs grouped so that each group depends only on earlier groups."""
        level: dict[Func, int] = {}
        for f in self._order:
            level[f] = 1 + max((level[d] for d in self._deps(f)), default=-1)
        gens: list[list[Func]] = [[] for _ in range(1 + max(level.values()))]
        for f in self._order:
            gens[level[f]].append(f)
        return gens

    def func_for(self, output_name: str | tuple[str, ...]) -> Func:
        """The func producing ``output_name`` (a name, or the tuple of a multi-output func)."""
        key = output_name[0] if isinstance(output_name, tuple) else output_name
        try:
            return self.output_to_func[key]
        except KeyError:
            raise PipelineError(
                f"no func produces {output_name!r}; outputs are {sorted(self.output_to_func)}"
            ) from None

    @property
    def final_outputs(self) -> tuple[str, ...]:
        """Outputs that no func of the pipeline consumes, in topological order.

        Examples
        --------
        >>> from hpcflow import Func
        >>> p = Pipeline([Func(lambda x: (x, -x), ("lo", "hi")), Func(lambda lo: 2 * lo, "z")])
        >>> p.final_outputs
        ('hi', 'z')
        """
        consumed = {p for f in self.funcs for p in f.parameters}
        return tuple(o for f in self._order for o in f.output_names if o not in consumed)

    @property
    def output_name(self) -> str:
        """The pipeline's one final output: what ``pipeline()``, ``pipeline.run()`` and
        ``pipeline.func()`` compute when no output is named.

        Raises
        ------
        PipelineError
            If the pipeline has several `final_outputs`, naming them.

        Examples
        --------
        >>> from hpcflow import Func
        >>> Pipeline([Func(lambda x: x + 1, "y"), Func(lambda y: 2 * y, "z")]).output_name
        'z'
        """
        leaves = self.final_outputs
        if len(leaves) != 1:
            raise PipelineError(
                f"the pipeline has {len(leaves)} final outputs {list(leaves)}, so it has no "
                f"single output_name; name the one to compute, e.g. pipeline({leaves[0]!r}, "
                f"...) or pipeline.func({leaves[0]!r})"
            )
        return leaves[0]

    def func(self, output_name: str | tuple[str, ...] | None = None) -> PipelineFunc:
        """A function computing ``output_name`` from its root inputs (`PipelineFunc`).

        ``None`` is the pipeline's one final output (`output_name`).

        Examples
        --------
        >>> from hpcflow import Func
        >>> p = Pipeline([Func(lambda x: x + 1, "y"), Func(lambda y: 2 * y, "z")])
        >>> p.func("z")(x=1), p.func("y").root_args, p.func()(x=1)
        (4, ('x',), 4)
        """
        from hpcflow.spec.pipeline_func import PipelineFunc

        return PipelineFunc(self, self.output_name if output_name is None else output_name)

    def split_disconnected(self) -> list[Pipeline]:
        """The pipeline's independent parts: one pipeline per connected component.

        Two funcs are connected when one consumes the other's output or when both take
        the same root input (so their sweeps share that input's axes). A connected
        pipeline gives a list of itself alone. The parts keep this pipeline's options;
        they come in the order of their first func in `funcs`.

        Examples
        --------
        >>> from hpcflow import Func
        >>> p = Pipeline([
        ...     Func(lambda a: a + 1, "b", mapspec="a[i] -> b[i]"),
        ...     Func(lambda x: 2 * x, "y", mapspec="x[i] -> y[i]"),
        ...     Func(lambda b: sum(b), "total"),
        ... ])
        >>> [q.final_outputs for q in p.split_disconnected()]
        [('total',), ('y',)]
        """
        groups = _connected_groups(self.funcs)
        if len(groups) == 1:
            return [self]
        return [self._derive(g) for g in groups]

    def ancestors(self, output_names: Iterable[str]) -> list[Func]:
        """Funcs needed to compute ``output_names``, in topological order."""
        needed: set[Func] = set()
        stack = [self.func_for(o) for o in output_names]
        while stack:
            f = stack.pop()
            if f not in needed:
                needed.add(f)
                stack.extend(self._deps(f))
        return [f for f in self._order if f in needed]

    def root_args(self, output_names: Iterable[str] | None = None) -> tuple[str, ...]:
        """Parameters no func produces: the pipeline's inputs (sorted)."""
        funcs = self._order if output_names is None else self.ancestors(output_names)
        return tuple(
            sorted({p for f in funcs for p in f.parameters if p not in self.output_to_func})
        )

    @property
    def defaults(self) -> dict[str, Any]:
        """Default values of root inputs, from the funcs' signatures and ``defaults``."""
        out: dict[str, Any] = {}
        for f in self._order:
            for k, v in f.defaults.items():
                if k not in self.output_to_func:
                    out.setdefault(k, v)
        return out

    @property
    def mapspecs(self) -> list[MapSpec]:
        """Mapspecs of all funcs that have one, in topological order."""
        return [f.mapspec for f in self._order if f.mapspec is not None]

    def resources_for(self, f: Func, kwargs: dict[str, Any] | None = None) -> Resources:
        """Resources of one element of ``f`` (``kwargs``: its inputs, for callables)."""
        return f.resources_for(kwargs or {}, self.default_resources)

    # ------------------------------------------------------------ validation
    def _autogen_mapspecs(self, funcs: list[Func]) -> list[Func]:
        """Give a mapspec to non-mapspec producers whose output is consumed element-wise."""
        wanted: dict[str, tuple[str | None, ...]] = {}
        for f in funcs:
            if f.mapspec is None:
                continue
            for inp in f.mapspec.inputs:
                producer = self.output_to_func.get(inp.name)
                if producer is not None and producer.mapspec is None:
                    wanted.setdefault(inp.name, inp.axes)
        out: list[Func] = []
        for f in funcs:
            axes_options = [wanted[o] for o in f.output_names if o in wanted]
            if f.mapspec is not None or not axes_options:
                out.append(f)
                continue
            axes = axes_options[0]
            differ = [o for o in f.output_names if o in wanted and wanted[o] != axes]
            if differ:
                # one func computes one grid of elements, so its outputs share their axes
                first = next(o for o in f.output_names if o in wanted)
                raise PipelineError(
                    f"{f.name!r} has no mapspec and its outputs are consumed with different "
                    f"axes ({ArraySpec(first, axes)} but {ArraySpec(differ[0], wanted[differ[0]])}); "
                    "all outputs of one func share their axes, so return them as one output "
                    f"and add one func per shape that picks its part, e.g. "
                    f"Func(lambda r: r[1], {differ[0]!r}, mapspec='... -> {ArraySpec(differ[0], wanted[differ[0]])}')"
                )
            if None in axes:
                raise PipelineError(
                    f"{f.name!r} has no mapspec, but its output is consumed with ':' "
                    f"({ArraySpec(f.output_names[0], axes)}); give {f.name!r} a mapspec such as "
                    f"'... -> {f.output_names[0]}[i, j]'"
                )
            named = tuple(a for a in axes if a is not None)
            spec = MapSpec(
                (), tuple(ArraySpec(o, named) for o in f.output_names), is_generated=True
            )
            shape = f.internal_shape or ("?",) * len(named)
            out.append(f.replace(mapspec=spec, internal_shape=shape))
        return out

    def _check_axes(self) -> dict[str, tuple[str, ...]]:
        """Every array must be indexed with the same axis names wherever it appears."""
        seen: dict[str, tuple[tuple[str | None, ...], Func]] = {}
        for f in self._order:
            if f.mapspec is None:
                continue
            for arr in (*f.mapspec.outputs, *f.mapspec.inputs):
                if arr.name not in seen:
                    seen[arr.name] = (arr.axes, f)
                    continue
                axes, g = seen[arr.name]
                clash = len(axes) != len(arr.axes) or any(
                    a is not None and b is not None and a != b
                    for a, b in zip(axes, arr.axes, strict=False)
                )
                if clash:
                    raise PipelineError(
                        f"array {arr.name!r} is indexed as {ArraySpec(arr.name, axes)} in "
                        f"{g.name!r} but as {arr} in {f.name!r}; use the same axes everywhere"
                    )
                if None in axes:  # fill in names learned from a later, named use
                    merged = tuple(
                        a if a is not None else b for a, b in zip(axes, arr.axes, strict=True)
                    )
                    seen[arr.name] = (merged, g)
        return {
            name: tuple(a for a in axes if a is not None)
            for name, (axes, _) in seen.items()
            if None not in axes
        }

    def _check_defaults(self) -> None:
        by_name: dict[str, tuple[Any, Func]] = {}
        for f in self._order:
            for k, v in f.defaults.items():
                if k in by_name and by_name[k][0] is not v:
                    other = by_name[k][1]
                    try:
                        same = bool(by_name[k][0] == v)
                    except Exception:
                        same = False
                    if not same:
                        raise PipelineError(
                            f"parameter {k!r} has default {by_name[k][0]!r} in {other.name!r} "
                            f"but {v!r} in {f.name!r}; give them the same default"
                        )
                by_name.setdefault(k, (v, f))

    # ------------------------------------------------------------ derivation
    def subpipeline(
        self, inputs: Iterable[str] = (), output_names: Iterable[str] | None = None
    ) -> Pipeline:
        """The funcs needed for ``output_names`` when ``inputs`` are given directly.

        Funcs whose outputs are all among ``inputs`` are dropped, and so is whatever only
        they needed.
        """
        given = set(inputs)
        targets = list(output_names) if output_names is not None else list(self.output_to_func)
        keep: list[Func] = []
        stack = [self.func_for(o) for o in targets if o not in given]
        seen: set[Func] = set()
        while stack:
            f = stack.pop()
            if f in seen:
                continue
            seen.add(f)
            keep.append(f)
            for p in f.parameters:
                if p in self.output_to_func and p not in given:
                    stack.append(self.output_to_func[p])
        if not keep:
            raise PipelineError(f"nothing to compute: {targets} are all given as inputs")
        return self._derive([f for f in self.funcs if f in seen])

    def nest_funcs(
        self,
        output_names: Iterable[str],
        new_output_name: str | tuple[str, ...] | None = None,
        *,
        mapspec: str | MapSpec | None = None,
        resources: Any = None,
    ) -> Pipeline:
        """A new pipeline in which the funcs producing ``output_names`` are one node.

        See `hpcflow.spec.nested.nested_func`: one mapspec, one resource set, each
        element calls the funcs in turn. By default the nested func keeps every output
        that a func outside the nest consumes or that no func consumes.

        Examples
        --------
        >>> from hpcflow import Func
        >>> p = Pipeline([
        ...     Func(lambda x: x + 1, "y", mapspec="x[i] -> y[i]"),
        ...     Func(lambda y: 2 * y, "z", mapspec="y[i] -> z[i]"),
        ...     Func(lambda z: sum(z), "total"),
        ... ])
        >>> q = p.nest_funcs(["y", "z"])
        >>> [str(f.mapspec) for f in q.sorted_funcs], q.map({"x": [1, 2]}, parallel=False)["total"].output
        (['x[i] -> z[i]', 'None'], 10)
        """
        group = {self.func_for(o) for o in output_names}
        rest = [f for f in self.funcs if f not in group]
        needed_outside = {p for f in rest for p in f.parameters}
        if new_output_name is None:
            produced = [o for f in self._order if f in group for o in f.output_names]
            inside = {p for f in group for p in f.parameters}
            new_output_name = tuple(o for o in produced if o in needed_outside or o not in inside)
        from hpcflow.spec.nested import nested_func

        nested = nested_func(
            [f for f in self._order if f in group], new_output_name,
            mapspec=mapspec, resources=resources,
        )  # fmt: skip
        missing = sorted(
            o for f in group for o in f.output_names
            if o in needed_outside and o not in nested.output_names
        )  # fmt: skip
        if missing:
            raise PipelineError(
                f"nesting drops {missing}, which funcs outside the nest consume; add them to "
                "new_output_name"
            )
        return self._derive([*rest, nested])

    def add_mapspec_axis(self, *names: str, axis: str) -> Pipeline:
        """A new pipeline in which parameters ``names`` are swept over a new ``axis``.

        Every func that takes one of ``names`` maps over it, and the axis propagates to
        everything downstream. Downstream funcs that received a whole array now receive
        it per element of the new axis (its other axes passed with ``:``). An axis the
        pipeline already has zips ``names`` with it. ``axis="k, l"`` adds several axes
        at once, in that order (as adding ``k``, then ``l``).

        Examples
        --------
        >>> from hpcflow import func
        >>> @func("y")
        ... def f(x):
        ...     return x
        >>> @func("z")
        ... def g(y):
        ...     return y
        >>> p = Pipeline([f, g]).add_mapspec_axis("x", axis="i")
        >>> [str(f.mapspec) for f in p.sorted_funcs]
        ['x[i] -> y[i]', 'y[i] -> z[i]']
        >>> str(p.add_mapspec_axis("x", axis="k, l").func_for("z").mapspec)
        'y[i, k, l] -> z[i, k, l]'
        """
        funcs = {f: f for f in self.funcs}  # original -> current version
        for one in parse_axes(axis, "add_mapspec_axis"):
            pending = list(names)
            done: set[str] = set()
            while pending:
                name = pending.pop(0)
                if name in done:
                    continue
                done.add(name)
                for orig in self._order:
                    f = funcs[orig]
                    if name not in f.parameters:
                        continue
                    new = _add_axis(f, name, one, self._known_axes(funcs, name))
                    funcs[orig] = new
                    pending.extend(new.output_names)
        return self._derive([funcs[f] for f in self.funcs])

    @property
    def mapspec_axes(self) -> dict[str, tuple[str, ...]]:
        """``{array: axes}`` of every input and output that a mapspec indexes.

        Examples
        --------
        >>> from hpcflow import Func
        >>> Pipeline([Func(lambda x, y: x * y, "z", mapspec="x[i], y[j] -> z[i, j]")]).mapspec_axes
        {'z': ('i', 'j'), 'x': ('i',), 'y': ('j',)}
        """
        return dict(self.array_axes)

    @property
    def mapspec_names(self) -> set[str]:
        """The names of every input and output that some mapspec indexes.

        Examples
        --------
        >>> from hpcflow import Func
        >>> sorted(Pipeline([Func(lambda x, n: x * n, "z", mapspec="x[i] -> z[i]")]).mapspec_names)
        ['x', 'z']
        """
        return set(self.array_axes)

    @property
    def mapspec_dimensions(self) -> dict[str, int]:
        """``{array: number of axes}`` for the arrays of `mapspec_axes`."""
        return {name: len(axes) for name, axes in self.array_axes.items()}

    def independent_axes_in_mapspecs(self, output_name: str) -> set[str]:
        """Axes of ``output_name`` that some pipeline input is mapped over.

        Axes a func generates (``... -> x[i]``) are not independent: their length is
        known only once that func has run.

        Examples
        --------
        >>> from hpcflow import Func
        >>> gen = Func(lambda n: list(range(n)), "x", mapspec="... -> x[i]")
        >>> mul = Func(lambda x, y: x * y, "z", mapspec="x[i], y[j] -> z[i, j]")
        >>> sorted(Pipeline([gen, mul]).independent_axes_in_mapspecs("z"))
        ['j']
        """
        return independent_axes(self, output_name)

    def update_mapspec_axes(self, renames: dict[str, str]) -> Pipeline:
        """A new pipeline with mapspec axes renamed in every func (``{old: new}``).

        Examples
        --------
        >>> from hpcflow import Func
        >>> p = Pipeline([Func(lambda x: x, "y", mapspec="x[i] -> y[i]")])
        >>> str(p.update_mapspec_axes({"i": "sample"}).funcs[0].mapspec)
        'x[sample] -> y[sample]'
        >>> str(p.funcs[0].mapspec)
        'x[i] -> y[i]'
        """
        known = {a for axes in self.array_axes.values() for a in axes}
        known |= {
            a for f in self.funcs if f.mapspec for arr in f.mapspec.inputs for a in arr.indices
        }
        check_axis_renames(renames, known, repr(self))
        funcs = [rename_func_axes(f, renames) for f in self.funcs]
        return self._derive(funcs)

    def update_scope(
        self,
        scope: str | None,
        inputs: Iterable[str] | Literal["*"] | None = None,
        outputs: Iterable[str] | Literal["*"] | None = None,
        exclude: Iterable[str] | None = None,
    ) -> Pipeline:
        """A new pipeline with some root inputs and outputs put in ``scope``.

        A name is changed in every func that has it, so a renamed output still feeds its
        consumers. The names are the pipeline's names as they are now.

        Parameters
        ----------
        scope
            The new scope, an identifier (``x`` -> ``foo.x``, ``bar.x`` -> ``foo.x``);
            ``None`` removes the scope of those names.
        inputs
            ``"*"`` for every root input (`root_args`), or the names to change.
        outputs
            ``"*"`` for every output, or the names to change.
        exclude
            Names to leave as they are.

        Examples
        --------
        >>> from hpcflow import Func
        >>> p = Pipeline([Func(lambda x: x + 1, "y", mapspec="x[i] -> y[i]")])
        >>> q = p.update_scope("foo", inputs="*", outputs="*")
        >>> q.root_args(), str(q.funcs[0].mapspec)
        (('foo.x',), 'foo.x[i] -> foo.y[i]')
        >>> p.root_args()
        ('x',)
        """
        check_scope(scope, repr(self))
        chosen = _chosen(inputs, self.root_args(), "inputs") | _chosen(
            outputs, tuple(self.output_to_func), "outputs"
        )
        chosen -= set(exclude or ())
        mapping = {n: scoped(scope, n) for n in chosen}
        funcs = [
            f._rename_names(
                {n: mapping[n] for n in (*f.parameters, *f.output_names) if n in mapping}
            )
            for f in self.funcs
        ]
        return self._derive(funcs)

    def _known_axes(self, funcs: dict[Func, Func], name: str) -> tuple[str | None, ...]:
        producer = self.output_to_func.get(name)
        if producer is None:
            return ()
        spec = funcs[producer].mapspec
        return spec.output_indices if spec is not None else ()

    # ---------------------------------------------------------------- running
    def run(
        self,
        output_name: str | tuple[str, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        *,
        full_output: bool = False,
        allow_unused: bool = False,
    ) -> Any:
        """Compute one output for one set of inputs, in this process (no run folder).

        Each func the output needs is called once with plain values; intermediate
        outputs in ``kwargs`` are used as given. Funcs that map over inputs are refused
        (that is `map`). See `hpcflow.element.direct.run_direct` for the parameters.

        Examples
        --------
        >>> from hpcflow import func
        >>> @func("y")
        ... def f(x, b=1):
        ...     return x + b
        >>> Pipeline([f]).run("y", {"x": 1}), Pipeline([f])("y", x=1, b=2)
        (2, 3)
        """
        from hpcflow.element.direct import run_direct

        return run_direct(
            self, output_name, kwargs or {}, full_output=full_output, allow_unused=allow_unused
        )

    def shapes(self, inputs: dict[str, Any], internal_shapes: Any = None) -> MapShapes:
        """Preview the shapes `map` would give these inputs, without running anything.

        ``(shapes, masks)``: each mapped input's and mapspec output's full shape
        (``"?"`` for a length only a run learns) and, per axis, ``True`` if the inputs
        map over it, ``False`` if the func generates it. See
        `hpcflow.element.preview.map_shapes`.

        Examples
        --------
        >>> from hpcflow import Func
        >>> p = Pipeline([Func(lambda x: [x, x], "y", mapspec="x[i] -> y[i, j]")])
        >>> p.shapes({"x": [1, 2, 3]}, {"y": 2})
        MapShapes(shapes={'x': (3,), 'y': (3, 2)}, masks={'x': (True,), 'y': (True, False)})
        """
        from hpcflow.element.preview import map_shapes

        return map_shapes(self, inputs, internal_shapes)

    def __call__(self, output_name: str | tuple[str, ...] | None = None, /, **kwargs: Any) -> Any:
        """``pipeline("y", x=1)``: `run` with keyword arguments as the inputs."""
        return self.run(output_name, kwargs)

    @property
    def error_snapshot(self) -> ErrorSnapshot | None:
        """The `ErrorSnapshot` of the last failure of a direct call or a ``map`` (with
        ``error_handling="raise"``) of this pipeline in this process; ``None`` if none.

        The one piece of state a pipeline keeps: a record of its last failure, so
        ``pipeline.error_snapshot.reproduce()`` reruns the failing call.
        """
        return self._error_snapshot

    def _record_error(self, snapshot: ErrorSnapshot) -> None:
        self._error_snapshot = snapshot

    def map(
        self, inputs: dict[str, Any], run_folder: Any = None, internal_shapes: Any = None, **kw: Any
    ) -> ResultDict:
        """Run the pipeline locally; see `hpcflow.map.run_map` for the parameters.

        A ``run_folder`` whose submitted run still has jobs queued or running is refused
        (`hpcflow.errors.LiveRunError`): the two runs would mix. A failure
        (``error_handling="raise"``) leaves its `ErrorSnapshot` as `error_snapshot`; with
        ``"continue"`` the snapshots are the failed elements of the results.
        """
        from hpcflow.element.local import run_map
        from hpcflow.submission.liveness import refuse_if_live

        if run_folder is not None:
            refuse_if_live(run_folder)
        try:
            return run_map(self, inputs, run_folder, internal_shapes, **kw)
        except Exception as e:
            snapshot = getattr(e, "error_snapshot", None)
            if snapshot is not None:
                self._record_error(snapshot)
            raise

    def map_async(
        self, inputs: dict[str, Any], run_folder: Any = None, internal_shapes: Any = None, **kw: Any
    ) -> AsyncMap:
        """Run the pipeline in the background; see `hpcflow.map.run_map_async`.

        A ``run_folder`` whose submitted run is live is refused, as by `map`.
        """
        from hpcflow.element.local import run_map_async
        from hpcflow.submission.liveness import refuse_if_live

        if run_folder is not None:
            refuse_if_live(run_folder)
        return run_map_async(self, inputs, run_folder, internal_shapes, **kw)

    def submit(self, inputs: dict[str, Any], run_folder: Any, **kw: Any) -> Run:
        """Submit the pipeline as scheduler job arrays and return a `hpcflow.Run` at once.

        See `hpcflow.submission.submit.submit` for the parameters; ``scheduler="slurm"`` by
        default, ``"local"`` runs the same arrays on this machine, detached.
        """
        from hpcflow.submission.submit import submit

        return submit(self, inputs, run_folder, **kw)

    def plan(self, inputs: dict[str, Any], run_folder: Any, **kw: Any) -> SubmissionPlan:
        """What `submit` with the same arguments would submit, as a printable plan.

        Nothing is written or submitted; see `hpcflow.submission.submit.plan_submission`.
        """
        from hpcflow.submission.submit import plan_submission

        return plan_submission(self, inputs, run_folder, **kw)

    def visualize(self, path: str | Path | None = None) -> SvgImage:
        """The pipeline's graph (funcs, outputs, mapspec axes, resources) as an SVG
        string, shown as a picture in a notebook; also written to ``path`` (``.svg``)."""
        from hpcflow.report.graph import visualize

        return visualize(self, path)

    def __repr__(self) -> str:
        return f"Pipeline([{', '.join(f.name for f in self._order)}])"


def _as_func(f: Any) -> Func:
    """``f`` as a `Func`: a plain named function's output is named after the function."""
    if isinstance(f, Func):
        return f
    name = getattr(f, "__name__", None)
    if (
        callable(f)
        and isinstance(name, str)
        and name.isidentifier()
        and not keyword.iskeyword(name)
        and inspect.isroutine(f)
    ):
        return Func(f, name)
    # a lambda, a partial or a callable object has no name to give its output
    raise PipelineError(
        f"Pipeline takes hpcflow.Func objects or named functions; got {f!r}, which has no "
        "name for its output. Decorate it with @hpcflow.func('output_name') or wrap it "
        "as hpcflow.Func(fn, 'output_name')"
    )


def _connected_groups(funcs: Sequence[Func]) -> list[list[Func]]:
    """``funcs`` grouped by the names (parameters, outputs) that link them, in order."""
    parent = list(range(len(funcs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_with: dict[str, int] = {}
    for i, f in enumerate(funcs):
        for name in (*f.parameters, *f.output_names):
            j = first_with.setdefault(name, i)
            parent[root(i)] = root(j)
    groups: dict[int, list[Func]] = {}
    for i, f in enumerate(funcs):
        groups.setdefault(root(i), []).append(f)
    return list(groups.values())


def _chosen(
    which: Iterable[str] | Literal["*"] | None, names: Iterable[str], label: str
) -> set[str]:
    """The names ``which`` selects among ``names``; unknown ones are a `PipelineError`."""
    names = set(names)
    if which is None:
        return set()
    if which == "*":
        return names
    chosen = {which} if isinstance(which, str) else set(which)
    unknown = sorted(chosen - names)
    if unknown:
        raise PipelineError(
            f"update_scope: {label} {unknown} are not among the pipeline's {label} "
            f"{sorted(names)} (use the names as they are now, or '*' for all)"
        )
    return chosen


def _add_axis(f: Func, name: str, axis: str, producer_axes: tuple[str | None, ...]) -> Func:
    spec = f.mapspec
    if spec is not None and name in spec.input_names:
        current = next(a.axes for a in spec.inputs if a.name == name)
    else:
        # the func used to take the whole array: keep passing its old axes whole
        current = tuple(None for a in producer_axes if a != axis)
    if axis in current:
        return f
    in_axes = (*current, axis)
    if spec is None:
        outs = tuple(ArraySpec(o, (axis,)) for o in f.output_names)
        return f.replace(mapspec=MapSpec((ArraySpec(name, in_axes),), outs))
    new_in = ArraySpec(name, in_axes)
    inputs = [new_in if a.name == name else a for a in spec.inputs]
    if name not in spec.input_names:
        inputs.append(new_in)
    out_axes = spec.output_indices if axis in spec.output_indices else (*spec.output_indices, axis)
    outs = tuple(ArraySpec(o.name, out_axes) for o in spec.outputs)
    return f.replace(mapspec=MapSpec(tuple(inputs), outs))
