"""Shapes of arrays and lengths of axes, checked pipeline-wide."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from hpcflow.errors import InputError, PipelineError
from hpcflow.spec.mapspec import MapSpec
from hpcflow.storage.base import StorageBase

__all__ = ["AxisLengths", "as_input_array", "distinct_dims", "external_shape"]


def as_input_array(value: Any, ndim: int, name: str) -> Any:
    """A mapped input as something indexable with ``ndim`` leading axes.

    NumPy arrays and storage arrays are used as they are; lists and tuples become
    object arrays whose first ``ndim`` axes follow the nesting.
    """
    if isinstance(value, StorageBase | np.ndarray):
        shape = value.shape
    elif isinstance(value, list | tuple | range):
        arr = np.empty(_nested_shape(value, ndim, name), dtype=object)
        _fill(arr, value)
        return arr
    else:
        raise InputError(
            f"input {name!r} is mapped over {ndim} axes, so it must be a list, tuple or "
            f"numpy array, got {type(value).__name__}: {value!r:.80}"
        )
    if len(shape) < ndim:
        raise InputError(f"input {name!r} is mapped over {ndim} axes but has shape {shape}")
    return value


def _nested_shape(value: Any, ndim: int, name: str) -> tuple[int, ...]:
    shape: list[int] = []
    level = [value]
    for depth in range(ndim):
        lengths = set()
        nxt: list[Any] = []
        for v in level:
            if not isinstance(v, list | tuple | range | np.ndarray):
                raise InputError(
                    f"input {name!r} is mapped over {ndim} axes, but at depth {depth} it holds "
                    f"{type(v).__name__} {v!r:.60} instead of a sequence"
                )
            lengths.add(len(v))
            nxt.extend(v)
        if len(lengths) > 1:
            raise InputError(
                f"input {name!r} is ragged at depth {depth}: lengths {sorted(lengths)}; "
                "mapped axes need equal lengths"
            )
        shape.append(lengths.pop() if lengths else 0)
        level = nxt
    return tuple(shape)


def _fill(arr: np.ndarray, value: Any) -> None:
    if arr.ndim == 1:
        for i, v in enumerate(value):
            arr[i] = v
        return
    for i, v in enumerate(value):
        _fill(arr[i], v)


#: One axis of one array: its name and the position of the axis in it.
AxisNode = tuple[str, int]


class AxisLengths:
    """Lengths of axes, one per axis *identity*.

    An axis is identified by the arrays it runs along: ``(array, position)`` pairs
    that mapspecs connect. In one mapspec every array indexed by the same axis name
    shares that axis; across mapspecs the same array at the same position is the same
    axis. A ``:`` (a full reduction) or a func that takes the whole array connects
    nothing, so an axis name used again after one names a new axis with a length of
    its own: ``x[i] -> y[i]`` then ``y[:] -> s[i]`` lets ``s`` have another length
    than ``x``.

    Parameters
    ----------
    mapspecs
        The pipeline's mapspecs; each one passed later (to `learn`, `length`, ...) is
        connected too.

    Examples
    --------
    >>> specs = [MapSpec.from_string("x[i] -> y[i]"), MapSpec.from_string("y[:] -> s[i]")]
    >>> lengths = AxisLengths(specs)
    >>> lengths.learn(specs[0], {"x": (2,)})
    >>> lengths.length(specs[0], "i"), lengths.length(specs[1], "i")
    (2, None)
    >>> lengths.set(specs[1], "i", 3, "the internal shape of 's'")
    >>> sorted(lengths.lengths_of("i"))
    [2, 3]
    """

    def __init__(self, mapspecs: Iterable[MapSpec] = ()) -> None:
        self._parent: dict[AxisNode, AxisNode] = {}
        self._len: dict[AxisNode, tuple[int, str, str]] = {}  # root -> length, source, name
        self._linked: set[MapSpec] = set()
        for spec in mapspecs:
            self._link(spec)

    # ------------------------------------------------------------ identity
    def _root(self, node: AxisNode) -> AxisNode:
        parent = self._parent.setdefault(node, node)
        while parent != node:
            grand = self._parent[parent]
            self._parent[node] = grand  # path halving keeps the chains short
            node, parent = parent, grand
        return node

    def _union(self, a: AxisNode, b: AxisNode, axis: str) -> None:
        ra, rb = self._root(a), self._root(b)
        if ra == rb:
            return
        self._parent[rb] = ra
        moved = self._len.pop(rb, None)
        if moved is not None:
            self._record(ra, axis, moved[0], moved[1])

    def _link(self, spec: MapSpec) -> None:
        """Connect the arrays that ``spec`` indexes with the same axis name."""
        if spec in self._linked:
            return
        self._linked.add(spec)
        for arr in (*spec.inputs, *spec.outputs):
            for pos, axis in enumerate(arr.axes):
                if axis is not None:  # ':' connects nothing: a reduction ends the axis
                    self._union(self._node(spec, axis), (arr.name, pos), axis)

    @staticmethod
    def _node(spec: MapSpec, axis: str) -> AxisNode:
        # every axis of a mapspec is an axis of its (first) output
        first = spec.outputs[0]
        return (first.name, first.axes.index(axis))

    # ------------------------------------------------------------- lengths
    def _record(self, root: AxisNode, axis: str, length: int, source: str) -> None:
        old = self._len.get(root)
        if old is None:
            self._len[root] = (int(length), source, axis)
        elif old[0] != length:
            raise InputError(
                f"axis {axis!r} has length {old[0]} in {old[1]} but {length} in {source}; "
                "arrays that share an axis must have equal lengths along it (to start a "
                "new axis after a reduction, reduce with ':' or take the whole array)"
            )

    def length(self, spec: MapSpec, axis: str) -> int | None:
        """The length of ``axis`` as ``spec`` uses it; None if not known yet."""
        self._link(spec)
        entry = self._len.get(self._root(self._node(spec, axis)))
        return None if entry is None else entry[0]

    def set(self, spec: MapSpec, axis: str, length: int, source: str) -> None:
        """Record ``axis`` of ``spec`` as ``length`` (from ``source``).

        Raises
        ------
        InputError
            The axis has another length already, naming both sources.
        """
        self._link(spec)
        self._record(self._root(self._node(spec, axis)), axis, length, source)

    def lengths_of(self, axis: str) -> frozenset[int]:
        """Every known length of the axes named ``axis`` (several after a reduction)."""
        return frozenset(n for n, _, name in self._len.values() if name == axis)

    def learn(self, spec: MapSpec, shapes: Mapping[str, tuple[int, ...]]) -> None:
        """Learn lengths from the shapes of ``spec``'s inputs (checks zipped axes)."""
        self._link(spec)
        for inp in spec.inputs:
            shape = shapes[inp.name]
            if len(shape) < len(inp.axes):
                raise InputError(
                    f"{inp} needs {len(inp.axes)} axes but {inp.name!r} has shape {shape}"
                )
            for axis, n in zip(inp.axes, shape, strict=False):
                if axis is not None:
                    self.set(spec, axis, n, f"{inp.name!r} (shape {shape})")


def external_shape(spec: MapSpec, lengths: AxisLengths) -> tuple[int, ...]:
    """Lengths of ``spec``'s external axes."""
    out = []
    for axis in spec.external_indices:
        n = lengths.length(spec, axis)
        if n is None:
            raise PipelineError(f"length of axis {axis!r} of '{spec}' is not known yet")
        out.append(n)
    return tuple(out)


def distinct_dims(mapspecs: Sequence[MapSpec]) -> dict[str, tuple[str, ...]]:
    """Dimension names per array, distinct for distinct axes that share a name.

    Datasets and tables need one length per dimension name, but an axis name reused
    after a full reduction names a new axis (see `AxisLengths`). The first axis of a
    name (in ``mapspecs`` order) keeps it; a later one with the same name becomes
    ``<name>_1`` (``_2``, ...; never a name a mapspec uses). Arrays indexed with ``:``
    somewhere get the names of their named uses.

    Examples
    --------
    >>> specs = [MapSpec.from_string("x[i] -> y[i]"), MapSpec.from_string("y[:] -> s[i]")]
    >>> distinct_dims(specs)
    {'x': ('i',), 'y': ('i',), 's': ('i_1',)}
    """
    lengths = AxisLengths(mapspecs)
    taken = {a for s in mapspecs for arr in (*s.inputs, *s.outputs) for a in arr.indices}
    used: set[str] = set()
    dim_of: dict[AxisNode, str] = {}
    named: dict[str, dict[int, str]] = {}
    ndim: dict[str, int] = {}
    for spec in mapspecs:
        for arr in (*spec.inputs, *spec.outputs):
            ndim.setdefault(arr.name, len(arr.axes))
            for pos, axis in enumerate(arr.axes):
                if axis is None:
                    continue
                root = lengths._root((arr.name, pos))
                if root not in dim_of:
                    dim, k = axis, 0
                    # a user's own 'i_1' stays theirs
                    while dim in used or (k > 0 and dim in taken):
                        k += 1
                        dim = f"{axis}_{k}"
                    used.add(dim)
                    dim_of[root] = dim
                named.setdefault(arr.name, {})[pos] = dim_of[root]
    return {
        name: tuple(pos_dims[p] for p in range(ndim[name]))
        for name, pos_dims in named.items()
        if len(pos_dims) == ndim[name]
    }
