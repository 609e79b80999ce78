"""``pipefunc.map._mapspec`` -> ``hpcflow.spec.mapspec``; helpers hpcflow lacks are placeholders."""

from hpcflow.spec.mapspec import ArraySpec, MapSpec, trace_dependencies
from pipefunc._missing import missing_function

# module-level helpers of pipefunc's mapspec module, no public hpcflow counterpart
array_mask = missing_function("pipefunc.map._mapspec.array_mask")
array_shape = missing_function("pipefunc.map._mapspec.array_shape")
shape_to_strides = missing_function("pipefunc.map._mapspec.shape_to_strides")
validate_consistent_axes = missing_function("pipefunc.map._mapspec.validate_consistent_axes")
mapspec_dimensions = missing_function("pipefunc.map._mapspec.mapspec_dimensions")
mapspec_axes = missing_function("pipefunc.map._mapspec.mapspec_axes")
_parse_index_string = missing_function("pipefunc.map._mapspec._parse_index_string")
_parse_indexed_arrays = missing_function("pipefunc.map._mapspec._parse_indexed_arrays")

__all__ = [
    "ArraySpec",
    "MapSpec",
    "array_mask",
    "array_shape",
    "mapspec_axes",
    "mapspec_dimensions",
    "shape_to_strides",
    "trace_dependencies",
    "validate_consistent_axes",
]
