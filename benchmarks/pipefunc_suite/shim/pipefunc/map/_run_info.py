"""pipefunc's ``RunInfo`` (run-folder internals): no public hpcflow counterpart."""

from pipefunc._missing import missing_class, missing_function

RunInfo = missing_class("pipefunc.map._run_info.RunInfo")
map_shapes = missing_function("pipefunc.map._run_info.map_shapes")
_legacy_fix = missing_function("pipefunc.map._run_info._legacy_fix")
