"""``Pipeline`` -> ``hpcflow.Pipeline``, with pipefunc's constructor and ``map`` keywords."""

from __future__ import annotations

import os
from typing import Any

import hpcflow
from pipefunc._missing import refuse_options

# pipefunc edits a pipeline in place where hpcflow returns a new one; with --in-place the
# shim rebinds the pipeline to hpcflow's result (a calling convention, not a feature)
IN_PLACE = os.environ.get("HPCFLOW_SHIM_IN_PLACE") == "1"

# pipefunc-only options with their defaults; ``debug`` and ``print_error`` only print,
# so they are accepted and dropped
_PIPELINE_ONLY = {
    "lazy": False,
    "profile": None,
    "cache_type": None,
    "cache_kwargs": None,
    "name": None,
    "description": None,
}


def map_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """pipefunc's ``map``/``map_async`` keywords as hpcflow's."""
    kw = dict(kwargs)
    refuse_options("Pipeline.map", kw, {"scheduling_strategy": "generation"})
    kw.pop("scheduling_strategy", None)
    # persists memory storages into the run folder; hpcflow has no such switch
    kw.pop("persist_memory", None)
    # a notebook display option
    kw.pop("display_widgets", None)
    cleanup = kw.pop("cleanup", None)
    if cleanup is not None:  # pipefunc's deprecated spelling of resume
        kw["resume"] = not cleanup
    names = kw.get("output_names")
    if isinstance(names, str | tuple):  # one output name
        kw["output_names"] = [names]
    return kw


class Pipeline(hpcflow.Pipeline):
    """pipefunc's ``Pipeline(functions, ...)``: an ``hpcflow.Pipeline``."""

    def __init__(self, functions: list[Any], **kwargs: Any) -> None:
        refuse_options("Pipeline", kwargs, _PIPELINE_ONLY)
        # pipefunc accepts (func, mapspec) pairs
        funcs = [
            f[0].replace(mapspec=f[1]) if isinstance(f, tuple) else f
            for f in functions
        ]  # fmt: skip
        keep = ("validate_type_annotations", "scope", "default_resources")
        super().__init__(funcs, **{k: v for k, v in kwargs.items() if k in keep})

    def map(
        self, inputs: dict[str, Any], run_folder: Any = None, internal_shapes: Any = None, **kw: Any
    ) -> Any:
        """``hpcflow.Pipeline.map`` with pipefunc's keywords."""
        return super().map(inputs, run_folder, internal_shapes, **map_kwargs(kw))

    def map_async(
        self, inputs: dict[str, Any], run_folder: Any = None, internal_shapes: Any = None, **kw: Any
    ) -> Any:
        """``hpcflow.Pipeline.map_async`` with pipefunc's keywords."""
        return super().map_async(inputs, run_folder, internal_shapes, **map_kwargs(kw))

    # pipefunc's names for hpcflow's
    @property
    def mapspecs_as_strings(self) -> list[str]:
        """pipefunc's ``mapspecs_as_strings``: ``[str(s) for s in self.mapspecs]``."""
        return [str(s) for s in self.mapspecs]

    @property
    def functions(self) -> list[hpcflow.Func]:
        """pipefunc's ``functions``: hpcflow's ``funcs``."""
        return list(self.funcs)

    def __getitem__(self, output_name: str | tuple[str, ...]) -> hpcflow.Func:
        """pipefunc's ``pipeline[output_name]``: hpcflow's ``func_for``."""
        return self.func_for(output_name)

    def _adopt(self, new: hpcflow.Pipeline) -> Any:
        if not IN_PLACE:
            return new
        self.__dict__.clear()
        self.__dict__.update(new.__dict__)
        return None

    def add_mapspec_axis(self, *names: str, axis: str) -> Any:
        """hpcflow's ``add_mapspec_axis``; in place with ``--in-place``."""
        return self._adopt(super().add_mapspec_axis(*names, axis=axis))

    def update_mapspec_axes(self, renames: dict[str, str]) -> Any:
        """hpcflow's ``update_mapspec_axes``; in place with ``--in-place``."""
        return self._adopt(super().update_mapspec_axes(renames))

    def update_scope(self, *args: Any, **kwargs: Any) -> Any:
        """hpcflow's ``update_scope``; in place with ``--in-place``."""
        return self._adopt(super().update_scope(*args, **kwargs))
