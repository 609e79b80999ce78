"""``StorageBase``, ``storage_registry`` -> ``hpcflow.storage``."""

from hpcflow.storage import StorageBase, register_storage, storage_registry

__all__ = ["StorageBase", "register_storage", "storage_registry"]
