"""``pipefunc.map._result`` -> ``hpcflow.map``."""

from hpcflow.map import Result, ResultDict

__all__ = ["Result", "ResultDict"]
