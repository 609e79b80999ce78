"""pipefunc's ``RunInfo`` (run-folder internals): no public hpcflow counterpart.

``map_shapes`` is hpcflow's public shape preview, ``hpcflow.map.map_shapes``.
"""

from hpcflow.map import map_shapes
from pipefunc._missing import missing_class, missing_function

RunInfo = missing_class("pipefunc.map._run_info.RunInfo")
_legacy_fix = missing_function("pipefunc.map._run_info._legacy_fix")

__all__ = ["RunInfo", "_legacy_fix", "map_shapes"]
