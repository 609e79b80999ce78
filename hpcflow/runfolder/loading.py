"""Loading a run's outputs as an xarray Dataset or a pandas/polars DataFrame.

The run folder is one `OutputSource` of `hpcflow.runfolder.frames`, which builds the
Dataset and the DataFrame (the in-memory results of ``map`` are the other).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from hpcflow._atomic import read_pickle
from hpcflow.errors import RunFolderError
from hpcflow.plan.shapes import distinct_dims
from hpcflow.runfolder.frames import Backend, OutputSource, to_dataframe, to_dataset
from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.results import open_storage
from hpcflow.spec.mapspec import MapSpec

__all__ = ["load_dataframe", "load_xarray_dataset"]


def folder_source(run_folder: str | Path) -> OutputSource:
    """An `OutputSource` over the outputs stored in ``run_folder``."""
    folder = RunFolder(run_folder)
    meta = folder.read_meta()
    arrays: dict[str, Any] = meta.get("arrays", {})
    outputs = tuple(meta.get("outputs", []))
    # an axis name reused after a full reduction is another dimension; run.json's keys
    # may be sorted, so take the mapspecs in the topological order of "outputs"
    specs = meta.get("mapspecs", {})
    dims = distinct_dims([MapSpec.from_string(specs[o]) for o in outputs if specs.get(o)])

    def read(name: str) -> Any:
        if name in arrays:
            return open_storage(folder, name, meta).to_array()
        return read_pickle(folder.single_output_path(name))

    return OutputSource(
        outputs=outputs,
        leaves=tuple(meta.get("leaves", outputs)),
        axes={name: dims.get(name, tuple(info["axes"])) for name, info in arrays.items()},
        read=read,
        inputs={
            name: (dims.get(name, tuple(axes)), partial(folder.load_input, name))
            for name, axes in meta.get("input_axes", {}).items()
        },
        computed=lambda name: folder.single_output_path(name).exists(),
        where=f"the run in {folder.path}",
        unknown_error=RunFolderError,
    )


def load_xarray_dataset(
    *output_name: str, run_folder: str | Path, load_intermediate: bool = True
) -> Any:
    """The outputs of a run as an ``xarray.Dataset``.

    Dimensions are the mapspec axes; inputs that define an axis (``x[i]``) become
    coordinates along it, and so do mapped intermediate outputs that are not loaded as
    data variables (with ``load_intermediate``). Outputs without axes become 0-d
    variables. Missing elements are NaN (numbers) or None (objects), so partial runs
    load too.

    Parameters
    ----------
    output_name
        Outputs to load; none means all (or only final ones, see below).
    run_folder
        The run folder.
    load_intermediate
        With no names given: ``True`` loads every output, ``False`` only those no
        function consumes. ``False`` also keeps intermediate outputs out of the
        coordinates.
    """
    source = folder_source(run_folder)
    return to_dataset(source, output_name, load_intermediate=load_intermediate)


def load_dataframe(
    *output_name: str,
    run_folder: str | Path,
    load_intermediate: bool = True,
    backend: Backend = "pandas",
) -> Any:
    """The mapped outputs of a run as one long-format DataFrame.

    One row per combination of all the axes involved, one column per axis (the index
    along it), per coordinate and per output; an output with fewer axes repeats along
    the others. Outputs without axes are left out (read them with ``load_outputs``),
    unless no selected output has axes: then it is one row of the single values.
    """
    source = folder_source(run_folder)
    return to_dataframe(source, output_name, load_intermediate=load_intermediate, backend=backend)
