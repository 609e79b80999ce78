"""``run_map``/``run_map_async`` -> hpcflow's, with pipefunc's keywords."""

from __future__ import annotations

from typing import Any

import hpcflow.map
from pipefunc._pipeline_cls import map_kwargs


def run_map(
    pipeline: Any, inputs: Any, run_folder: Any = None, internal_shapes: Any = None, **kw: Any
) -> Any:
    """``hpcflow.map.run_map`` with pipefunc's keywords."""
    return hpcflow.map.run_map(pipeline, inputs, run_folder, internal_shapes, **map_kwargs(kw))


def run_map_async(
    pipeline: Any, inputs: Any, run_folder: Any = None, internal_shapes: Any = None, **kw: Any
) -> Any:
    """``hpcflow.map.run_map_async`` with pipefunc's keywords."""
    return hpcflow.map.run_map_async(
        pipeline, inputs, run_folder, internal_shapes, **map_kwargs(kw)
    )
