"""``ZarrFileArray`` and friends -> ``hpcflow.storage``."""

from hpcflow.storage import ZarrFileArray, ZarrMemoryArray, ZarrSharedMemoryArray

__all__ = ["ZarrFileArray", "ZarrMemoryArray", "ZarrSharedMemoryArray"]
