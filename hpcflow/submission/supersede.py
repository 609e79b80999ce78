"""``resume(retry_failed=True)``: set stored errors aside so that they are computed again.

An element whose function raised holds an `hpcflow.ErrorSnapshot`, and everything that
received it a propagated error; both count as done, so a plain ``resume`` leaves them.
After the function is fixed, retrying them means making them missing again: their
values (and the chunk markers listing them) move to ``RUN/superseded/<k>/``, where
``k`` is the submission that recomputes them. Nothing is deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from hpcflow._atomic import atomic_write_json, atomic_write_pickle, read_pickle
from hpcflow.element.openrun import OpenRun
from hpcflow.element.snapshots import is_error
from hpcflow.errors import InputError, StorageError
from hpcflow.runfolder.layout import MARKERS, OUTPUTS, RunFolder
from hpcflow.runfolder.markers import read_marked_errors
from hpcflow.spec.pipeline import Pipeline
from hpcflow.spec.scopes import disk_name
from hpcflow.storage.base import StorageBase

__all__ = ["replace_pipeline", "retire_errors"]


def retire_errors(orun: OpenRun, folder: RunFolder, to: Path) -> dict[str, int]:
    """Move every stored error (own or propagated) into ``to``; elements moved per output."""
    todo: list[tuple[Any, np.ndarray, list[Path]]] = []
    for f in orun.pipeline.sorted_funcs:
        if f.mapspec is None:
            continue
        marker_dir = folder.marker_folder(tuple(f.output_names))
        marked = read_marked_errors(marker_dir)
        bad, markers = marked.any, marked.paths
        if not len(bad):
            continue
        for o in f.output_names:
            st = orun.arrays[o]
            if not isinstance(st, StorageBase) or type(st).retire is StorageBase.retire:
                raise StorageError(
                    f"output {o!r} has {len(bad)} failed elements, but its storage "
                    f"{orun.storage_ids[o]!r} cannot set elements aside; retry_failed needs "
                    "'chunked_file_array' or 'file_array' storage"
                )
        todo.append((f, bad, markers))
    moved: dict[str, int] = {}
    for f, bad, markers in todo:
        for o in f.output_names:
            st = orun.arrays[o]
            assert isinstance(st, StorageBase)
            st.retire(bad, to / OUTPUTS / disk_name(o))
            moved[o] = len(bad)
        for path in markers:
            _drop_from_marker(path, bad, to / MARKERS / path.parent.name)
    for f in orun.pipeline.sorted_funcs:
        if f.mapspec is not None:
            continue
        for o in f.output_names:
            path = folder.single_output_path(o)
            if path.exists() and is_error(read_pickle(path)):
                (to / OUTPUTS).mkdir(parents=True, exist_ok=True)
                os.replace(path, to / OUTPUTS / path.name)
                moved[o] = 1
    return moved


def _drop_from_marker(path: Path, bad: np.ndarray, aside: Path) -> None:
    aside.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, aside / path.name)
    m = json.loads(path.read_text())
    gone = set(bad.tolist())
    m["failed"] = [i for i in m.get("failed", []) if i not in gone]
    m["propagated"] = [i for i in m.get("propagated", []) if i not in gone]
    atomic_write_json(path, m)


def replace_pipeline(folder: RunFolder, pipeline: Pipeline, to: Path) -> None:
    """Use ``pipeline`` (with fixed functions) from now on; the old one moves to ``to``.

    Raises
    ------
    InputError
        If ``pipeline`` does not have the same funcs, outputs and mapspecs as the run's,
        whose stored outputs would then mean something else.
    """
    path = folder.pipeline_path
    saved = read_pickle(path)
    old: Pipeline = saved["pipeline"]
    before, after = _shape_of(old), _shape_of(pipeline)
    if before != after:
        diff = sorted(set(before) ^ set(after))
        raise InputError(
            f"pipeline= must have the run's funcs, outputs and mapspecs; these differ: {diff}. "
            "Only the functions' code may change (submit a new run otherwise)"
        )
    to.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, to / path.name)
    atomic_write_pickle(path, {**saved, "pipeline": pipeline})


def _shape_of(p: Pipeline) -> list[tuple[tuple[str, ...], str, tuple[str, ...]]]:
    return sorted(
        (f.output_names, str(f.mapspec) if f.mapspec else "", tuple(sorted(f.parameters)))
        for f in p.funcs
    )
