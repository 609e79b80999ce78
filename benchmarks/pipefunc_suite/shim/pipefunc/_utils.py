"""pipefunc's small helpers that the tests import."""

from math import prod

__all__ = ["prod"]
