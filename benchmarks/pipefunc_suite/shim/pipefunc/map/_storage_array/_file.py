"""``FileArray`` -> ``hpcflow.storage``."""

from hpcflow.storage import FileArray

__all__ = ["FileArray"]
