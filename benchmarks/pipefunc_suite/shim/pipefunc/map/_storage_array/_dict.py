"""``DictArray``, ``SharedMemoryDictArray`` -> ``hpcflow.storage``."""

from hpcflow.storage import DictArray, SharedMemoryDictArray

__all__ = ["DictArray", "SharedMemoryDictArray"]
