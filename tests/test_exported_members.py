"""The public API is curated: ``__all__`` lists exactly the public names, and no more."""

from __future__ import annotations

import types

import pytest

import hpcflow
import hpcflow.adaptive
import hpcflow.map

EXPECTED_TOP = {
    "CorruptDataError", "ErrorSnapshot", "Func", "HpcflowError", "InputError", "MapSpec", "NothingToRerunError",
    "Pipeline", "PipelineError", "PropagatedErrorSnapshot", "Resources", "ResumeError",
    "Retry", "Run", "RunFolderError", "RunLockedError", "RunStatus", "SchedulerError",
    "SpecError", "StorageError", "UnknownStorageError", "__version__", "func",
}  # fmt: skip

EXPECTED_MAP = {
    "AsyncMap", "ChunkedFileArray", "DictArray", "ErrorSnapshot", "FileArray", "MapSpec",
    "PropagatedErrorSnapshot", "Result", "ResultDict", "StorageBase", "load_all_outputs",
    "load_outputs", "register_storage", "run_map", "run_map_async", "storage_registry",
    "SharedMemoryDictArray", "load_dataframe", "load_xarray_dataset",
    "ZarrFileArray", "ZarrMemoryArray", "ZarrSharedMemoryArray",
    "dataframe_from_results", "xarray_dataset_from_results", "MapShapes", "map_shapes",
}  # fmt: skip

EXPECTED_ADAPTIVE = {
    "AdaptiveSchedulerSetup", "Campaign", "CampaignStatus", "for_adaptive_scheduler", "load",
    "load_dataframe", "resume", "run", "submit",
}  # fmt: skip


@pytest.mark.parametrize(
    ("module", "expected"),
    [(hpcflow, EXPECTED_TOP), (hpcflow.map, EXPECTED_MAP), (hpcflow.adaptive, EXPECTED_ADAPTIVE)],
)
def test_all_is_locked(module: types.ModuleType, expected: set[str]) -> None:
    assert set(module.__all__) == expected
    for name in module.__all__:
        assert hasattr(module, name), name


@pytest.mark.parametrize("module", [hpcflow, hpcflow.map, hpcflow.adaptive])
def test_public_names_are_all_exported(module: types.ModuleType) -> None:
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public <= set(module.__all__)


def test_star_import_does_not_shadow_the_builtin_map() -> None:
    namespace: dict[str, object] = {}
    exec("from hpcflow import *", namespace)
    assert "map" not in namespace
    assert namespace["Run"] is hpcflow.Run
    assert hpcflow.map.run_map is not None  # still importable as hpcflow.map


def test_every_exception_belongs_to_the_tree() -> None:
    import hpcflow.errors

    for name in hpcflow.errors.__all__:
        assert issubclass(getattr(hpcflow.errors, name), hpcflow.HpcflowError), name
        assert name in hpcflow.errors.__doc__, f"{name} is not drawn in the tree"
