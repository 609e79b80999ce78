"""Loading a run's outputs as an xarray Dataset or a pandas/polars DataFrame."""

from __future__ import annotations

import importlib
import numbers
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np

from hpcflow._atomic import read_pickle
from hpcflow.errors import InputError, RunFolderError
from hpcflow.plan.shapes import as_input_array
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.results import open_storage

__all__ = ["load_dataframe", "load_xarray_dataset"]


def _require(module: str, extra: str, what: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ImportError(
            f"{what} needs {module}, which is not installed; install it with "
            f"pip install 'hpcflow[{extra}]' (or pip install {module})"
        ) from None


def _select(meta: dict[str, Any], names: tuple[str, ...], load_intermediate: bool) -> list[str]:
    outputs = meta.get("outputs", [])
    unknown = [n for n in names if n not in outputs]
    if unknown:
        raise RunFolderError(f"the run has no outputs {unknown}; its outputs are {outputs}")
    if names:
        return list(names)
    return list(outputs) if load_intermediate else list(meta.get("leaves", outputs))


def _numeric(arr: np.ndarray) -> np.ndarray:
    """An object array as a numeric one where every present value is a number.

    Missing (masked) numbers become NaN; anything else stays an object array with
    missing elements as None.
    """
    mask = np.ma.getmaskarray(arr)
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


def _arrays(
    folder: RunFolder, meta: dict[str, Any], names: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(mapped outputs as (dims, values)), (single outputs as values)."""
    mapped: dict[str, Any] = {}
    singles: dict[str, Any] = {}
    for name in names:
        info = meta.get("arrays", {}).get(name)
        if info is not None:
            values = _numeric(open_storage(folder, name, meta).to_array())
            mapped[name] = (tuple(info["axes"]), values)
        elif folder.single_output_path(name).exists():
            singles[name] = read_pickle(folder.single_output_path(name))
    return mapped, singles


def _coords(folder: RunFolder, meta: dict[str, Any], sizes: dict[str, int]) -> dict[str, Any]:
    """Inputs that index axes used here become coordinates along those axes."""
    coords: dict[str, Any] = {}
    for name, axes in meta.get("input_axes", {}).items():
        if not axes or any(a not in sizes for a in axes):
            continue
        arr = as_input_array(folder.load_input(name), len(axes), name)
        arr = np.asarray(arr, dtype=object) if not isinstance(arr, np.ndarray) else arr
        if tuple(arr.shape) == tuple(sizes[a] for a in axes):
            coords[name] = (tuple(axes), _numeric(np.asarray(arr, dtype=object)))
    return coords


def load_xarray_dataset(
    *output_name: str, run_folder: str | Path, load_intermediate: bool = True
) -> Any:
    """The outputs of a run as an ``xarray.Dataset``.

    Dimensions are the mapspec axes; inputs that define an axis (``x[i]``) become
    coordinates along it. Outputs without axes become 0-d variables. Missing elements
    are NaN (numbers) or None (objects), so partial runs load too.

    Parameters
    ----------
    output_name
        Outputs to load; none means all (or only final ones, see below).
    run_folder
        The run folder.
    load_intermediate
        With no names given: ``True`` loads every output, ``False`` only those no
        function consumes.
    """
    xr = _require("xarray", "xarray", "load_xarray_dataset")
    folder = RunFolder(run_folder)
    meta = folder.read_meta()
    names = _select(meta, output_name, load_intermediate)
    mapped, singles = _arrays(folder, meta, names)
    sizes = {a: n for dims, v in mapped.values() for a, n in zip(dims, v.shape, strict=True)}
    data_vars: dict[str, Any] = dict(mapped)
    for name, value in singles.items():
        data_vars[name] = (
            (),
            np.array(value) if isinstance(value, numbers.Number) else _obj0(value),
        )
    return xr.Dataset(data_vars, coords=_coords(folder, meta, sizes))


def _obj0(value: Any) -> np.ndarray:
    out = np.empty((), dtype=object)
    out[()] = value
    return out


def load_dataframe(
    *output_name: str,
    run_folder: str | Path,
    load_intermediate: bool = True,
    backend: Literal["pandas", "polars"] = "pandas",
) -> Any:
    """The mapped outputs of a run as one long-format DataFrame.

    One row per combination of all the axes involved, one column per axis (the index
    along it), per coordinate input and per output; an output with fewer axes repeats
    along the others. Outputs without axes are left out (read them with
    ``load_outputs``).
    """
    if backend not in ("pandas", "polars"):
        raise InputError(f"backend={backend!r} is not valid; use 'pandas' or 'polars'")
    lib = _require(backend, "pandas" if backend == "pandas" else "polars", "load_dataframe")
    folder = RunFolder(run_folder)
    meta = folder.read_meta()
    names = _select(meta, output_name, load_intermediate)
    mapped, _ = _arrays(folder, meta, names)
    dims: list[str] = []
    sizes: dict[str, int] = {}
    for axes, values in mapped.values():
        for a, n in zip(axes, values.shape, strict=True):
            if a not in sizes:
                dims.append(a)
                sizes[a] = n
    shape = tuple(sizes[a] for a in dims)
    grid = np.indices(shape).reshape(len(dims), -1) if dims else np.zeros((0, 1), dtype=int)
    columns: dict[str, Any] = {a: grid[n] for n, a in enumerate(dims)}
    for name, (axes, values) in (*_coords(folder, meta, sizes).items(), *mapped.items()):
        columns[name] = values[tuple(grid[dims.index(a)] for a in axes)]
    if backend == "polars":
        return lib.DataFrame(
            {k: list(v) if v.dtype == object else v for k, v in columns.items()}, strict=False
        )
    return lib.DataFrame(columns)
