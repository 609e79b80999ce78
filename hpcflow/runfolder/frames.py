"""Outputs as an xarray Dataset or a pandas/polars DataFrame, from any source.

One builder serves both sources: a run folder (`hpcflow.runfolder.loading`) and the
in-memory `ResultDict` of `Pipeline.map` (`xarray_dataset_from_results`,
`dataframe_from_results` here). A source only says which outputs there are, how to read
each one, and which arrays may index an axis; dims, coordinates, NaN for missing
numbers and the long-format table are decided once, here.

Coordinates: the pipeline inputs mapped over known axes (``x`` of ``x[i]``) and, with
``load_intermediate=True``, the mapped intermediate outputs (outputs another func
consumes) that are not themselves selected as data variables. Each becomes a coordinate
only where all its axes are dims of the dataset with the same lengths. A name is a data
variable or a coordinate, never both.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hpcflow.errors import HpcflowError, InputError
from hpcflow.plan.shapes import as_input_array, distinct_dims
from hpcflow.storage.base import StorageBase

if TYPE_CHECKING:
    from hpcflow.runfolder.results import ResultDict
    from hpcflow.spec.pipeline import Pipeline

__all__ = [
    "OutputSource",
    "dataframe_from_results",
    "to_dataframe",
    "to_dataset",
    "xarray_dataset_from_results",
]

Backend = Literal["pandas", "polars"]
Axes = tuple[str, ...]
_NOT_COMPUTED = object()


@dataclass(frozen=True)
class OutputSource:
    """Where a run's outputs come from, as the builders need it.

    Parameters
    ----------
    outputs
        Every output of the run, in topological order.
    leaves
        The outputs no func consumes (loaded alone with ``load_intermediate=False``).
    axes
        ``{output: axes}`` of the mapped outputs.
    read
        ``read(name)`` returns the output's value: an (object or masked) array for a
        mapped output; for a single value, the value or ``None`` if not computed.
    inputs
        ``{input: (axes, read)}``: pipeline inputs mapped over known axes.
    computed
        ``computed(name)`` for a single-value output: whether it has a value.
    where
        The source, for messages (``"the results"``, a run folder's path).
    unknown_error
        What asking for an output the source does not have raises.
    """

    outputs: tuple[str, ...]
    leaves: tuple[str, ...]
    axes: Mapping[str, Axes]
    read: Callable[[str], Any]
    inputs: Mapping[str, tuple[Axes, Callable[[], Any]]]
    computed: Callable[[str], bool]
    where: str
    unknown_error: type[HpcflowError] = InputError

    def select(self, names: tuple[str, ...], load_intermediate: bool) -> list[str]:
        """The outputs to load: ``names``, or all (or only the leaves) when empty."""
        unknown = [n for n in names if n not in self.outputs]
        if unknown:
            raise self.unknown_error(
                f"{self.where} has no outputs {unknown}; its outputs are {list(self.outputs)}"
            )
        if names:
            return list(names)
        return list(self.outputs) if load_intermediate else list(self.leaves)


@dataclass(frozen=True)
class _Tables:
    mapped: dict[str, tuple[Axes, np.ndarray]]
    singles: dict[str, Any]
    coords: dict[str, tuple[Axes, np.ndarray]]

    @property
    def sizes(self) -> dict[str, int]:
        return {
            a: n for dims, v in self.mapped.values() for a, n in zip(dims, v.shape, strict=True)
        }


def _require(module: str, extra: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{what} needs {module}, which is not installed; install it with "
            f"pip install {module} (hpcflow's {extra!r} extra)"
        ) from None


def _numeric(arr: np.ndarray) -> np.ndarray:
    """An object array as a numeric one where every present value is a number.

    Missing (masked) numbers become NaN; anything else stays an object array with
    missing elements as None.
    """
    mask = np.ma.getmaskarray(arr)
    if arr.dtype.kind in "biufc":  # already numeric (e.g. type_cast): keep its dtype
        data = np.ma.getdata(arr)
        if not mask.any():
            return data
        out = np.full(data.shape, np.nan, dtype=np.result_type(data.dtype, np.float64))
        out[~mask] = data[~mask]
        return out
    data = np.asarray(np.ma.getdata(arr), dtype=object)
    present = data[~mask]
    if present.size and all(isinstance(v, numbers.Number) for v in present):
        try:
            values = np.array(present.tolist())
        except (TypeError, ValueError):
            values = None
        if values is not None and values.dtype.kind in "biufc":
            if not mask.any():
                return values.reshape(data.shape)
            out = np.full(data.shape, np.nan, dtype=np.result_type(values.dtype, np.float64))
            out[~mask] = values
            return out
    out = data.copy()
    out[mask] = None
    return out


def _tables(source: OutputSource, names: list[str], load_intermediate: bool) -> _Tables:
    mapped: dict[str, tuple[Axes, np.ndarray]] = {}
    singles: dict[str, Any] = {}
    for name in names:
        if name in source.axes:
            mapped[name] = (source.axes[name], _numeric(source.read(name)))
        elif source.computed(name):
            singles[name] = source.read(name)
    tables = _Tables(mapped, singles, {})
    sizes = tables.sizes
    candidates: dict[str, tuple[Axes, Callable[[], Any]]] = dict(source.inputs)
    if load_intermediate:
        for name in source.outputs:
            if name in source.axes and name not in source.leaves:
                candidates.setdefault(name, (source.axes[name], partial(source.read, name)))
    for name, (axes, read) in candidates.items():
        if name in mapped or name in singles or not axes or any(a not in sizes for a in axes):
            continue
        arr = as_input_array(read(), len(axes), name)
        arr = arr.to_array() if isinstance(arr, StorageBase) else arr
        arr = arr if isinstance(arr, np.ndarray) else np.asarray(arr, dtype=object)
        if tuple(arr.shape) == tuple(sizes[a] for a in axes):
            tables.coords[name] = (axes, _numeric(arr))
    return tables


def _obj0(value: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def to_dataset(
    source: OutputSource, names: tuple[str, ...] = (), *, load_intermediate: bool = True
) -> Any:
    """The selected outputs of ``source`` as an ``xarray.Dataset`` (see the module doc)."""
    xr = _require("xarray", "xarray", "an xarray Dataset")
    tables = _tables(source, source.select(names, load_intermediate), load_intermediate)
    data_vars: dict[str, Any] = dict(tables.mapped)
    for name, value in tables.singles.items():
        data_vars[name] = (
            (),
            np.array(value) if isinstance(value, numbers.Number) else _obj0(value),
        )
    return xr.Dataset(data_vars, coords=tables.coords)


def to_dataframe(
    source: OutputSource,
    names: tuple[str, ...] = (),
    *,
    load_intermediate: bool = True,
    backend: Backend = "pandas",
) -> Any:
    """The selected mapped outputs of ``source`` as one long-format DataFrame.

    One row per combination of all the axes involved, one column per axis (the index
    along it), per coordinate and per output; an output with fewer axes repeats along
    the others. Outputs without axes are left out, unless no selected output has axes:
    then the table is one row, one column per computed single value, each cell the
    value as the func returned it.
    """
    if backend not in ("pandas", "polars"):
        raise InputError(f"backend={backend!r} is not valid; use 'pandas' or 'polars'")
    lib = _require(backend, backend, "a DataFrame")
    tables = _tables(source, source.select(names, load_intermediate), load_intermediate)
    if not tables.mapped and tables.singles:
        return _one_row(lib, backend, tables.singles)
    dims: list[str] = []
    sizes: dict[str, int] = {}
    for axes, values in tables.mapped.values():
        for a, n in zip(axes, values.shape, strict=True):
            if a not in sizes:
                dims.append(a)
                sizes[a] = n
    shape = tuple(sizes[a] for a in dims)
    grid = np.indices(shape).reshape(len(dims), -1) if dims else np.zeros((0, 1), dtype=int)
    columns: dict[str, Any] = {a: grid[n] for n, a in enumerate(dims)}
    for name, (axes, values) in (*tables.coords.items(), *tables.mapped.items()):
        columns[name] = values[tuple(grid[dims.index(a)] for a in axes)]
    if backend == "polars":
        return lib.DataFrame(
            {k: list(v) if v.dtype == object else v for k, v in columns.items()}, strict=False
        )
    return lib.DataFrame(columns)


def _one_row(lib: ModuleType, backend: Backend, singles: Mapping[str, Any]) -> Any:
    """Single values as a one-row table; a cell holds its value unchanged (a list stays
    a list, not split into rows or columns)."""
    if backend == "polars":
        # an Object column keeps the value as it is; inferring a dtype would convert it
        return lib.DataFrame(
            [lib.Series(name, [value], dtype=lib.Object) for name, value in singles.items()]
        )
    cells = {}
    for name, value in singles.items():
        cell = np.empty(1, dtype=object)
        cell[0] = value  # a list or array value is one cell, not one row per item
        cells[name] = cell
    return lib.DataFrame(cells)


# ------------------------------------------------------------------ in memory
def results_source(
    inputs: Mapping[str, Any], results: ResultDict, pipeline: Pipeline
) -> OutputSource:
    """An `OutputSource` over the in-memory results of ``pipeline.map(inputs)``."""
    if not isinstance(inputs, Mapping):
        raise InputError(f"inputs must be the dict given to map, got {type(inputs).__name__}")
    consumed = {p for f in pipeline.funcs for p in f.parameters}
    dims = distinct_dims(pipeline.mapspecs)  # an axis name reused after a reduction
    axes: dict[str, Axes] = {}
    for name in results:
        f = pipeline.output_to_func.get(name)
        if f is None:
            raise InputError(
                f"results hold output {name!r}, which no func of {pipeline!r} produces; pass "
                "the pipeline that computed these results"
            )
        if f.mapspec is not None:
            axes[name] = dims.get(name, f.mapspec.output_indices)
    mapped_inputs = {
        name: (dims.get(name, tuple(ax)), partial(inputs.__getitem__, name))
        for name, ax in pipeline.array_axes.items()
        if name in inputs
    }
    return OutputSource(
        outputs=tuple(results),
        leaves=tuple(n for n in results if n not in consumed),
        axes=axes,
        read=lambda n: results[n].output,
        inputs=mapped_inputs,
        computed=lambda n: n in results,
        where="the results",
    )


def xarray_dataset_from_results(
    inputs: Mapping[str, Any],
    results: ResultDict,
    pipeline: Pipeline,
    *output_name: str,
    load_intermediate: bool = True,
) -> Any:
    """The in-memory results of ``pipeline.map(inputs)`` as an ``xarray.Dataset``.

    The same Dataset `hpcflow.map.load_xarray_dataset` builds from the run folder, but
    without one (for ``storage="dict"`` or ``return_results`` kept in memory). Also
    ``results.to_xarray()``.

    Parameters
    ----------
    inputs
        The inputs given to ``map``.
    results
        What ``map`` returned.
    pipeline
        The pipeline that was mapped.
    output_name
        Outputs to load as data variables; none means all (or only the final ones).
    load_intermediate
        With no names: ``True`` loads every output, ``False`` only those no func
        consumes. Mapped intermediate outputs that are not data variables become
        coordinates along their axes when this is ``True``.

    Examples
    --------
    >>> from hpcflow import Pipeline, func
    >>> @func("y", mapspec="x[i] -> y[i]")
    ... def double(x):
    ...     return 2 * x
    >>> inputs = {"x": [1, 2, 3]}
    >>> p = Pipeline([double])
    >>> ds = xarray_dataset_from_results(inputs, p.map(inputs, parallel=False), p)
    >>> ds["y"].dims, ds["y"].values.tolist(), ds["x"].values.tolist()
    (('i',), [2, 4, 6], [1, 2, 3])
    """
    source = results_source(inputs, results, pipeline)
    return to_dataset(source, output_name, load_intermediate=load_intermediate)


def dataframe_from_results(
    inputs: Mapping[str, Any],
    results: ResultDict,
    pipeline: Pipeline,
    *output_name: str,
    load_intermediate: bool = True,
    backend: Backend = "pandas",
) -> Any:
    """The in-memory mapped results of ``pipeline.map(inputs)`` as a long DataFrame.

    The same table as `hpcflow.map.load_dataframe`, without a run folder; also
    ``results.to_dataframe()``. Parameters as `xarray_dataset_from_results`, plus
    ``backend`` (``"pandas"`` or ``"polars"``).

    Examples
    --------
    >>> from hpcflow import Pipeline, func
    >>> @func("z", mapspec="x[i], y[j] -> z[i, j]")
    ... def mul(x, y):
    ...     return x * y
    >>> inputs = {"x": [1, 2], "y": [10, 20]}
    >>> p = Pipeline([mul])
    >>> df = dataframe_from_results(inputs, p.map(inputs, parallel=False), p)
    >>> df[["x", "y", "z"]].values.tolist()
    [[1, 10, 10], [1, 20, 20], [2, 10, 20], [2, 20, 40]]
    """
    source = results_source(inputs, results, pipeline)
    return to_dataframe(source, output_name, load_intermediate=load_intermediate, backend=backend)
