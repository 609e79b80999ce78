"""Shapes of arrays and lengths of axes, checked pipeline-wide."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hpcflow.errors import InputError, PipelineError
from hpcflow.spec.mapspec import MapSpec
from hpcflow.storage.base import StorageBase

__all__ = ["AxisLengths", "as_input_array", "external_shape"]


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


class AxisLengths:
    """Lengths of named axes, one value per axis name for the whole pipeline."""

    def __init__(self) -> None:
        self._len: dict[str, tuple[int, str]] = {}

    def get(self, axis: str) -> int | None:
        entry = self._len.get(axis)
        return None if entry is None else entry[0]

    def set(self, axis: str, length: int, source: str) -> None:
        """Record ``axis`` as ``length`` (from ``source``); a different length is an error."""
        old = self._len.get(axis)
        if old is None:
            self._len[axis] = (int(length), source)
        elif old[0] != length:
            raise InputError(
                f"axis {axis!r} has length {old[0]} in {old[1]} but {length} in {source}; "
                "arrays that share an axis must have equal lengths along it"
            )

    def as_dict(self) -> dict[str, int]:
        return {k: v for k, (v, _) in self._len.items()}

    def learn(self, spec: MapSpec, shapes: Mapping[str, tuple[int, ...]]) -> None:
        """Learn lengths from the shapes of ``spec``'s inputs (checks zipped axes)."""
        for inp in spec.inputs:
            shape = shapes[inp.name]
            if len(shape) < len(inp.axes):
                raise InputError(
                    f"{inp} needs {len(inp.axes)} axes but {inp.name!r} has shape {shape}"
                )
            for axis, n in zip(inp.axes, shape, strict=False):
                if axis is not None:
                    self.set(axis, n, f"{inp.name!r} (shape {shape})")


def external_shape(spec: MapSpec, lengths: AxisLengths) -> tuple[int, ...]:
    """Lengths of ``spec``'s external axes."""
    out = []
    for axis in spec.external_indices:
        n = lengths.get(axis)
        if n is None:
            raise PipelineError(f"length of axis {axis!r} of '{spec}' is not known yet")
        out.append(n)
    return tuple(out)
