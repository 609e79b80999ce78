"""Validation of what ``map`` and ``submit`` are given, before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hpcflow.errors import FixedIndexError, InputError
from hpcflow.plan.shapes import AxisLengths
from hpcflow.spec.func import normalize_internal_shape
from hpcflow.spec.pipeline import Pipeline
from hpcflow.storage.base import get_storage_class

__all__ = [
    "check_choice",
    "check_fixed",
    "check_fixed_range",
    "check_inputs",
    "check_saved_to_folder",
    "internal_shapes",
    "storage_ids",
]


def check_inputs(
    pipeline: Pipeline, inputs: Mapping[str, Any], *, stored: bool = False
) -> Mapping[str, Any]:
    """The root inputs with the pipeline's defaults; unknown or missing ones refused.

    ``stored``: a run folder's inputs (defaults merged in already), returned as they are,
    so that a lazily loading mapping stays lazy.
    """
    p = pipeline
    roots = set(p.root_args())
    unknown = sorted(set(inputs) - roots)
    if unknown:
        raise InputError(
            f"unexpected inputs {unknown}; the pipeline's inputs are {sorted(roots)}"
            + (
                ""
                if not set(unknown) & set(p.output_to_func)
                else " (to give intermediate outputs, pass auto_subpipeline=True)"
            )
        )
    defaults = p.defaults
    missing = sorted(roots - set(inputs) - set(defaults))
    if missing:
        raise InputError(f"missing inputs {missing}; the pipeline needs {sorted(roots)}")
    if stored:
        return inputs
    return {**{k: v for k, v in defaults.items() if k in roots}, **inputs}


def internal_shapes(
    pipeline: Pipeline, given: Mapping[str, Any] | None
) -> dict[str, tuple[Any, ...]]:
    """Each output's internal shape: the func's own, overridden by ``internal_shapes``."""
    out: dict[str, tuple[Any, ...]] = {}
    for f in pipeline.funcs:
        for o in f.output_names:
            if f.internal_shape is not None:
                out[o] = f.internal_shape
    if given is not None and not isinstance(given, Mapping):
        raise InputError(
            f"internal_shapes={given!r} must be a dict of output name -> shape, e.g. "
            "{'y': 3} or {'y': (3, '?')}"
        )
    for name, value in (given or {}).items():
        if value is None:
            continue  # as if not given: the func's own internal_shape, or learned
        if name not in pipeline.output_to_func:
            raise InputError(
                f"internal_shapes names {name!r}, which is not an output; outputs are "
                f"{sorted(pipeline.output_to_func)}"
            )
        shape = normalize_internal_shape(value, f"internal_shapes[{name!r}]")
        assert shape is not None
        # a func's outputs share their axes, and the run reads the first output's entry:
        # an entry for any of them is the shape of all of them
        f = pipeline.output_to_func[name]
        for o in f.output_names:
            other = given.get(o) if given is not None else None
            if (
                o != name
                and other is not None
                and normalize_internal_shape(other, f"internal_shapes[{o!r}]") != shape
            ):
                raise InputError(
                    f"internal_shapes gives the outputs {f.output_names} of {f.name!r} "
                    f"different shapes ({name!r}: {value!r}, {o!r}: {other!r}); they share "
                    "their axes, so give one of them, or the same shape to each"
                )
            out[o] = shape
    return out


def storage_ids(pipeline: Pipeline, storage: Any, run_folder: Any) -> dict[str, str]:
    """Each output's storage backend name; an unknown name is refused."""
    default = "file_array" if run_folder is not None else "dict"
    out: dict[str, str] = {}
    for f in pipeline.funcs:
        for o in f.output_names:
            if isinstance(storage, Mapping):
                name = storage.get(o, storage.get(f.output_names, storage.get("", default)))
            else:
                name = storage or default
            get_storage_class(name)  # unknown names fail here, before anything runs
            out[o] = name
    return out


def check_fixed(
    pipeline: Pipeline, lengths: AxisLengths, fixed: Mapping[str, int | slice]
) -> dict[str, int | slice]:
    """``fixed_indices`` validated: known axes, ints or slices, in range, and no reduction
    or whole-array consumer of an axis that would be only partly computed.
    """
    if not fixed:
        return {}
    axes = {a for s in pipeline.mapspecs for a in s.output_indices}
    for axis, value in fixed.items():
        if axis not in axes:
            raise InputError(
                f"fixed_indices names axis {axis!r}, which no mapspec has; axes are {sorted(axes)}"
            )
        if isinstance(value, bool) or not isinstance(value, int | slice | np.integer):
            raise InputError(f"fixed_indices[{axis!r}]={value!r} must be an int or a slice")
        for f in pipeline.funcs:
            for inp in f.mapspec.inputs if f.mapspec else ():
                full = pipeline.array_axes.get(inp.name, ())
                for a, b in zip(inp.axes, full, strict=False):
                    if a is None and b == axis:
                        raise InputError(
                            f"fixed_indices fixes axis {axis!r}, but {f.name!r} reduces over it "
                            f"({inp}); a reduction over a partial axis would be wrong"
                        )
            mapped = f.mapspec.input_names if f.mapspec else ()
            for p in f.parameters:
                whole = p in pipeline.output_to_func and p not in mapped
                if whole and axis in pipeline.array_axes.get(p, ()):
                    raise InputError(
                        f"fixed_indices fixes axis {axis!r}, but {f.name!r} takes the whole "
                        f"of {p!r} (axes {list(pipeline.array_axes[p])}), which would "
                        f"then be only partly computed; drop fixed_indices[{axis!r}], or "
                        f"leave {f.name!r} out with output_names=[{p!r}, ...]"
                    )
        # an axis name reused after a reduction may name several axes: check each
        for n in sorted(lengths.lengths_of(axis)):
            check_fixed_range(axis, value, n)
    return dict(fixed)


def check_saved_to_folder(storage_ids: Mapping[str, str]) -> None:
    """Refuse backends whose values would not end up in the run folder."""
    for name, sid in storage_ids.items():
        if not get_storage_class(sid).saves_to_folder:
            raise InputError(
                f"output {name!r} uses storage {sid!r}, which keeps its values in memory "
                "only: they would be missing from the run folder; with a run_folder use "
                "'zarr_file_array', 'file_array' or 'chunked_file_array' for it (or run "
                "without a run_folder)"
            )


def check_fixed_range(axis: str, value: int | slice, n: int) -> None:
    """Raise `InputError` if ``fixed_indices[axis]=value`` selects nothing of ``n``.

    An int outside the axis raises `FixedIndexError` (also an `IndexError`).
    """
    if isinstance(value, slice):
        if len(range(*value.indices(n))) == 0:
            raise InputError(f"fixed_indices[{axis!r}]={value} selects nothing of axis length {n}")
    elif not -n <= int(value) < n:
        way_out = f"use an index from {-n} to {n - 1}, or a slice" if n else "drop it"
        raise FixedIndexError(
            f"fixed_indices[{axis!r}]={value} is out of range for axis {axis!r} of length {n}; "
            f"{way_out}"
        )


def check_choice(name: str, value: Any, valid: tuple[str, ...]) -> None:
    """Raise `InputError` unless ``value`` is one of ``valid``."""
    if value not in valid:
        raise InputError(f"{name}={value!r} is not valid; use one of {list(valid)}")
