"""``pipefunc.map.xarray`` -> ``hpcflow.map``."""

from hpcflow.map import load_xarray_dataset, xarray_dataset_from_results

__all__ = ["load_xarray_dataset", "xarray_dataset_from_results"]
