"""pipefunc's shape helpers: ``map_shapes`` -> ``hpcflow.map.map_shapes``; the rest internal."""

from hpcflow.map import map_shapes
from pipefunc._missing import missing_function

shape_is_resolved = missing_function("pipefunc.map._shapes.shape_is_resolved")

__all__ = ["map_shapes", "shape_is_resolved"]
