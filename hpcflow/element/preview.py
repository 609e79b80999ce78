"""A run's array shapes, previewed from its inputs before anything runs (no I/O)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from hpcflow.element import checks
from hpcflow.errors import InputError
from hpcflow.plan.shapes import AxisLengths, as_input_array
from hpcflow.spec.func import ShapeDim
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.scopes import flatten_scoped_inputs

__all__ = ["MapShapes", "map_shapes"]

#: A key of `MapShapes`: an array's name, or the tuple of a multi-output func's names.
ShapeKey = str | tuple[str, ...]


class MapShapes(NamedTuple):
    """The shapes `map_shapes` previews, and which of their axes are mapped.

    It unpacks as ``shapes, masks = map_shapes(...)``.

    Attributes
    ----------
    shapes
        ``{array: full shape}`` for every mapped input and every output of a func with
        a mapspec; a length not known before running (a generated axis whose
        ``internal_shapes`` entry is missing or ``"?"``, and every axis that follows
        it) is ``"?"``. A func with several outputs is also listed under the tuple of
        its output names, as `Pipeline.func_for` accepts.
    masks
        ``{array: one bool per axis}``: ``True`` for an axis the func's inputs map over
        (one element per index), ``False`` for an axis the func generates itself (its
        internal shape). Mapped inputs are all ``True``.
    """

    shapes: dict[ShapeKey, tuple[ShapeDim, ...]]
    masks: dict[ShapeKey, tuple[bool, ...]]


def map_shapes(
    pipeline: Pipeline, inputs: Mapping[str, Any], internal_shapes: Any = None
) -> MapShapes:
    """Preview the shapes ``pipeline.map(inputs, internal_shapes=...)`` would give.

    Nothing runs and nothing is written: the lengths come from the mapped inputs and
    ``internal_shapes``, connected through the mapspecs as `map` connects them, and
    the same inputs are refused (missing or unknown names, a mapped input that is no
    sequence, axes of unequal length).

    Parameters
    ----------
    pipeline
        The pipeline.
    inputs
        Root-parameter values, as for `Pipeline.map` (defaults fill the missing ones).
    internal_shapes
        ``{output: shape}`` of generated axes, as for `Pipeline.map`; ``"?"`` (or a
        missing entry) for a length only a run learns.

    Returns
    -------
    MapShapes
        ``(shapes, masks)``; see `MapShapes`.

    Raises
    ------
    hpcflow.errors.InputError
        An input is missing or unknown, a mapped input is not a sequence or array, or
        two arrays give one axis different lengths.

    Examples
    --------
    >>> from hpcflow import Func, Pipeline
    >>> p = Pipeline([
    ...     Func(lambda n: list(range(n)), "x", mapspec="... -> x[i]"),
    ...     Func(lambda x, y: x * y, "z", mapspec="x[i], y[j] -> z[i, j]"),
    ... ])
    >>> shapes, masks = map_shapes(p, {"n": 3, "y": [1, 2]}, {"x": 3})
    >>> shapes
    {'x': (3,), 'y': (2,), 'z': (3, 2)}
    >>> masks
    {'x': (False,), 'y': (True,), 'z': (True, True)}
    >>> map_shapes(p, {"n": 3, "y": [1, 2]}).shapes["z"]
    ('?', 2)
    """
    if not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be a dict of name -> value, got {type(inputs).__name__}")
    values = checks.check_inputs(pipeline, flatten_scoped_inputs(inputs, pipeline.root_args()))
    internal = checks.internal_shapes(pipeline, internal_shapes)
    lengths = AxisLengths(pipeline.mapspecs)
    shapes: dict[ShapeKey, tuple[ShapeDim, ...]] = {}
    masks: dict[ShapeKey, tuple[bool, ...]] = {}
    for f in pipeline.sorted_funcs:
        spec = f.mapspec
        if spec is None:
            continue
        for inp in spec.inputs:
            if inp.name in values and inp.name not in shapes:
                arr = as_input_array(values[inp.name], inp.ndim, inp.name)
                # only the axes a mapspec indexes: deeper ones are inside each element
                shapes[inp.name] = tuple(int(n) for n in arr.shape[: inp.ndim])
                masks[inp.name] = (True,) * inp.ndim
        for inp in spec.inputs:
            shape = shapes.get(inp.name, ())
            for axis, n in zip(inp.axes, shape, strict=False):
                if axis is not None and n != "?":
                    lengths.set(spec, axis, int(n), f"{inp.name!r} (shape {shape})")
        first = f.output_names[0]
        generated = internal.get(first, ("?",) * len(spec.internal_indices))
        if len(generated) != len(spec.internal_indices):
            raise InputError(
                f"internal shape {generated} of {first!r} has {len(generated)} dims but "
                f"'{spec}' generates {len(spec.internal_indices)} axes; give "
                f"internal_shapes={{{first!r}: <{len(spec.internal_indices)} lengths>}}"
            )
        for axis, n in zip(spec.internal_indices, generated, strict=True):
            if n != "?":
                lengths.set(spec, axis, int(n), f"the internal shape of {first!r}")
        known = [lengths.length(spec, a) for a in spec.output_indices]
        out: tuple[ShapeDim, ...] = tuple("?" if n is None else n for n in known)
        external = set(spec.external_indices)
        mask = tuple(a in external for a in spec.output_indices)
        keys: list[ShapeKey] = list(f.output_names)
        if len(f.output_names) > 1:
            keys.insert(0, tuple(f.output_names))
        for key in keys:
            shapes[key] = out
            masks[key] = mask
    return MapShapes(shapes, masks)
