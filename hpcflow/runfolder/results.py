"""Results of a run and loading outputs from a run folder."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from hpcflow._atomic import read_pickle
from hpcflow.errors import InputError, RunFolderError
from hpcflow.runfolder.layout import RunFolder
from hpcflow.storage.base import StorageBase, get_storage_class

if TYPE_CHECKING:
    from hpcflow.spec.pipeline import Pipeline

__all__ = ["Result", "ResultDict", "array_output", "load_all_outputs", "load_outputs"]

# a repr longer than this (characters) is cut, with a warning that says how to see it all
MAX_REPR_LENGTH = 10_000


@dataclass
class Result:
    """One output: its name, its value, and the storage it came from (if mapped)."""

    output_name: str
    output: Any
    store: StorageBase | None = None


class ResultDict(dict[str, Result]):
    """Output name -> `Result`.

    The ``ResultDict`` that ``map`` returns also knows the run's ``inputs`` and
    ``pipeline``, so `to_xarray`, `to_dataframe` and `type_cast` need no run folder.
    """

    inputs: dict[str, Any] | None = None
    pipeline: Pipeline | None = None

    def __repr__(self) -> str:
        text = super().__repr__()
        if len(text) <= MAX_REPR_LENGTH:
            return text
        warnings.warn(
            f"the repr of this ResultDict has {len(text):,} characters; showing the first "
            f"{MAX_REPR_LENGTH:,}. See one output whole with results[name].output, or "
            "everything with print(dict(results))",
            UserWarning,
            stacklevel=2,
        )
        return text[:MAX_REPR_LENGTH] + "..."

    def type_cast(self, *, inplace: bool = True) -> ResultDict:
        """Cast mapped outputs to their annotated dtype, here or in a new ``ResultDict``.

        A mapped output is an object array. When its function is annotated to return
        ``int``, ``float``, ``bool``, ``complex`` or a numpy scalar type (one element's
        type; ``list[T]`` for a generated axis), it becomes an array of that dtype
        (``int`` -> ``int64``, ``float`` -> ``float64``); missing elements stay masked.
        Other outputs are unchanged.

        Parameters
        ----------
        inplace
            True (the default, as in pipefunc): cast the outputs of this ``ResultDict``
            and return it. False: return a new ``ResultDict`` and leave this one as it
            is (what `to_xarray` and `to_dataframe` do).

        Warns
        -----
        UserWarning
            An output's values do not fit its annotation (e.g. a tuple where ``int`` is
            annotated, or ``2**40`` for ``np.int32``); it stays an object array.

        Raises
        ------
        InputError
            This ``ResultDict`` does not know the pipeline of its run (it was not
            returned by ``map``).

        Examples
        --------
        >>> from hpcflow import Pipeline, func
        >>> @func("y", mapspec="x[i] -> y[i]")
        ... def half(x: int) -> float:
        ...     return x / 2
        >>> results = Pipeline([half]).map({"x": [1, 2]}, parallel=False)
        >>> results.type_cast(inplace=False)["y"].output.dtype, results["y"].output.dtype
        (dtype('float64'), dtype('O'))
        >>> results.type_cast() is results, results["y"].output.dtype
        (True, dtype('float64'))
        """
        from hpcflow._warn import warn_user
        from hpcflow.runfolder.typecast import annotation_dtype, cast_to_dtype
        from hpcflow.spec.typecheck import output_annotations

        if self.pipeline is None:
            raise InputError(
                "this ResultDict does not know the pipeline of its run, so type_cast() "
                "cannot read the annotations; call it on the ResultDict that map returns"
            )
        if not isinstance(inplace, bool):
            raise InputError(f"type_cast(inplace={inplace!r}): inplace must be True or False")
        if inplace:
            out = self
        else:
            out = type(self)(self)
            out.inputs, out.pipeline = self.inputs, self.pipeline
        for f in self.pipeline.funcs:
            if f.mapspec is None:
                continue
            for name, annotation in output_annotations(f).items():
                result = self.get(name)
                dtype = annotation_dtype(annotation)
                if result is None or dtype is None:
                    continue
                value = result.output
                if not isinstance(value, np.ndarray) or value.dtype != object:
                    continue
                cast, problem = cast_to_dtype(value, dtype)
                if cast is None:
                    shown = annotation.__name__ if isinstance(annotation, type) else annotation
                    # to_xarray/to_dataframe call this: name the caller's line, not theirs
                    warn_user(
                        f"output {name!r} stays an object array: {problem}, but "
                        f"{f.name!r} is annotated to return {shown} (a {dtype} "
                        "array); fix the annotation or the function, or pass "
                        "type_cast=False to to_xarray/to_dataframe"
                    )
                    continue
                out[name] = dataclasses.replace(result, output=cast)
        return out

    def _cast_for(self, method: str, type_cast: bool) -> ResultDict:
        if not isinstance(type_cast, bool):
            raise InputError(f"{method}(type_cast={type_cast!r}): type_cast must be True or False")
        return self.type_cast(inplace=False) if type_cast else self

    def _run(self, method: str, function: str) -> tuple[dict[str, Any], Pipeline]:
        if self.inputs is None or self.pipeline is None:
            raise InputError(
                f"this ResultDict does not know the inputs and pipeline of its run, so "
                f"{method}() cannot build coordinates; use "
                f"hpcflow.map.{function}(inputs, results, pipeline)"
            )
        return self.inputs, self.pipeline

    def to_xarray(
        self, *output_name: str, load_intermediate: bool = True, type_cast: bool = True
    ) -> Any:
        """These results as an ``xarray.Dataset`` (see `xarray_dataset_from_results`).

        With ``type_cast`` (the default) mapped outputs have their annotated dtype
        (see `type_cast`); with ``type_cast=False`` they are object arrays.

        Examples
        --------
        >>> from hpcflow import Pipeline, func
        >>> add = func("s", mapspec="p[i], q[j] -> s[i, j]")(lambda p, q: p + q)
        >>> ds = Pipeline([add]).map({"p": [1, 2], "q": [2]}, parallel=False).to_xarray()
        >>> ds["s"].dims, ds["s"].values.tolist()
        (('i', 'j'), [[3], [4]])
        """
        from hpcflow.runfolder.frames import xarray_dataset_from_results

        inputs, pipeline = self._run("to_xarray", "xarray_dataset_from_results")
        results = self._cast_for("to_xarray", type_cast)
        return xarray_dataset_from_results(
            inputs, results, pipeline, *output_name, load_intermediate=load_intermediate
        )

    def to_dataframe(
        self,
        *output_name: str,
        load_intermediate: bool = True,
        backend: Literal["pandas", "polars"] = "pandas",
        type_cast: bool = True,
    ) -> Any:
        """These results as a long-format DataFrame (see `dataframe_from_results`).

        ``type_cast`` as for `to_xarray`.

        Examples
        --------
        >>> from hpcflow import Pipeline, func
        >>> negate = func("b", mapspec="a[k] -> b[k]")(lambda a: -a)
        >>> df = Pipeline([negate]).map({"a": [1, 2]}, parallel=False).to_dataframe()
        >>> df.columns.tolist(), df["b"].tolist()
        (['k', 'a', 'b'], [-1, -2])
        """
        from hpcflow.runfolder.frames import dataframe_from_results

        inputs, pipeline = self._run("to_dataframe", "dataframe_from_results")
        results = self._cast_for("to_dataframe", type_cast)
        return dataframe_from_results(
            inputs, results, pipeline, *output_name, load_intermediate=load_intermediate,
            backend=backend,
        )  # fmt: skip


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
