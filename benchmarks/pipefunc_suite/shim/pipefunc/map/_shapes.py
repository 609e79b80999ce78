"""pipefunc's shape internals: no public hpcflow counterpart."""

from pipefunc._missing import missing_function

shape_is_resolved = missing_function("pipefunc.map._shapes.shape_is_resolved")
