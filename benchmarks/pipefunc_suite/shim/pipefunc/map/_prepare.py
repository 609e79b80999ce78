"""pipefunc's map preparation internals: no public hpcflow counterpart."""

from pipefunc._missing import missing_function

_reduced_axes = missing_function("pipefunc.map._prepare._reduced_axes")
