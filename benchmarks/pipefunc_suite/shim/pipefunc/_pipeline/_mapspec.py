"""pipefunc's pipeline mapspec internals: no public hpcflow counterpart."""

from pipefunc._missing import missing_function

replace_none_in_axes = missing_function("pipefunc._pipeline._mapspec.replace_none_in_axes")
