"""Results of a run and loading outputs from a run folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hpcflow._atomic import read_pickle
from hpcflow.errors import RunFolderError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.storage.base import StorageBase, get_storage_class

__all__ = ["Result", "ResultDict", "array_output", "load_all_outputs", "load_outputs"]


@dataclass
class Result:
    """One output: its name, its value, and the storage it came from (if mapped)."""

    output_name: str
    output: Any
    store: StorageBase | None = None


class ResultDict(dict[str, Result]):
    """Output name -> `Result`."""


def array_output(store: StorageBase) -> Any:
    """A mapped output's value: an object array, masked where elements are missing."""
    arr = store.to_array()
    if not np.ma.getmaskarray(arr).any():
        return arr.data
    return arr


def open_storage(folder: RunFolder, name: str, meta: dict[str, Any]) -> StorageBase:
    info = meta["arrays"][name]
    cls = get_storage_class(info["storage"])
    if not cls.saves_to_folder:
        raise RunFolderError(
            f"output {name!r} of {folder.path} was stored with {info['storage']!r}, which "
            "keeps values in memory only: the run folder holds none of them; run again with "
            "storage 'zarr_file_array', 'file_array' or 'chunked_file_array'"
        )
    return cls(
        folder.output_folder(name),
        tuple(info["shape"]),
        tuple(info["internal_shape"]),
        tuple(info["shape_mask"]),
    )


def load_outputs(*output_names: str, run_folder: str | Path) -> Any:
    """Load outputs of a run (also partial or failed runs: missing elements are masked).

    One name returns its value; several return a tuple.
    """
    folder = RunFolder(run_folder)
    meta = folder.read_meta()
    values = []
    for name in output_names:
        if name in meta.get("arrays", {}):
            values.append(array_output(open_storage(folder, name, meta)))
        elif name in meta.get("outputs", []):
            path = folder.single_output_path(name)
            if not path.exists():
                raise RunFolderError(f"output {name!r} has not been computed in {folder.path}")
            values.append(read_pickle(path))
        else:
            raise RunFolderError(
                f"{folder.path} has no output {name!r}; its outputs are {meta.get('outputs')}"
            )
    return values[0] if len(values) == 1 else tuple(values)


def load_all_outputs(run_folder: str | Path) -> dict[str, Any]:
    """Every output of a run that has any computed value, by name."""
    folder = RunFolder(run_folder)
    meta = folder.read_meta()
    out: dict[str, Any] = {}
    for name in meta.get("outputs", []):
        if name in meta.get("arrays", {}):
            out[name] = array_output(open_storage(folder, name, meta))
        elif folder.single_output_path(name).exists():
            out[name] = read_pickle(folder.single_output_path(name))
    return out
