"""``pipefunc.map._load`` -> ``hpcflow.map``'s loaders (same signatures)."""

from hpcflow.map import load_all_outputs, load_dataframe, load_outputs, load_xarray_dataset

__all__ = ["load_all_outputs", "load_dataframe", "load_outputs", "load_xarray_dataset"]
