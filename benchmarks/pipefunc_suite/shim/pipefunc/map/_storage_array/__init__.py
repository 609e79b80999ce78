"""``pipefunc.map._storage_array`` -> ``hpcflow.storage``."""
