"""The public API is curated: ``__all__`` lists exactly the public names, and no more."""

from __future__ import annotations

import types

import pytest

import hpcflow
import hpcflow.map

EXPECTED_TOP = {
    "ErrorSnapshot", "Func", "HpcflowError", "InputError", "MapSpec", "Pipeline",
    "PipelineError", "PropagatedErrorSnapshot", "Resources", "ResumeError", "Retry",
    "Run", "RunFolderError", "RunStatus", "SchedulerError", "SpecError", "StorageError",
    "__version__", "func", "map",
}  # fmt: skip

EXPECTED_MAP = {
    "AsyncMap", "ChunkedFileArray", "DictArray", "ErrorSnapshot", "FileArray", "MapSpec",
    "PropagatedErrorSnapshot", "Result", "ResultDict", "StorageBase", "load_all_outputs",
    "load_outputs", "register_storage", "run_map", "run_map_async", "storage_registry",
    "SharedMemoryDictArray", "load_dataframe", "load_xarray_dataset",
    "ZarrFileArray", "ZarrMemoryArray", "ZarrSharedMemoryArray",
}  # fmt: skip


@pytest.mark.parametrize(
    ("module", "expected"), [(hpcflow, EXPECTED_TOP), (hpcflow.map, EXPECTED_MAP)]
)
def test_all_is_locked(module: types.ModuleType, expected: set[str]) -> None:
    assert set(module.__all__) == expected
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize("module", [hpcflow, hpcflow.map])
def test_public_names_are_all_exported(module: types.ModuleType) -> None:
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(module.__all__)
