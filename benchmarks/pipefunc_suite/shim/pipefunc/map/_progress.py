"""pipefunc's progress internals: no public hpcflow counterpart."""

from pipefunc._missing import missing_class

Status = missing_class("pipefunc.map._progress.Status")
