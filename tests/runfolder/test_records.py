"""Run-folder records: which stage owns an element (status, resume, retries)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcflow.runfolder.layout import RunFolder
from hpcflow.runfolder.records import StageRecord, SubmissionRecord, latest_owners


def _stage(name: str, n: int, submission: int = 0) -> StageRecord:
    return StageRecord(name, ["y"], n, n, 10, -(-n // 10), {}, submission=submission)


def test_latest_owners_of_a_whole_stage_never_materialises_its_elements(tmp_path: Path) -> None:
    # a stage over 0..n-1 holds element i at position i: 10^12 elements (8 TB as an
    # index array) are answered without making one
    stage = _stage("y", 10**12)
    missing = np.array([5, 10**12 - 1, 7], dtype=np.int64)
    [(owner, positions)] = latest_owners(RunFolder(tmp_path), [stage], missing)
    assert owner is stage
    assert positions.tolist() == [5, 10**12 - 1, 7]
    assert latest_owners(RunFolder(tmp_path), [stage], np.array([10**12])) == []


def test_latest_owners_prefers_the_latest_stage_holding_each_element(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    first = _stage("y", 100)
    resumed = _stage("y@1", 100, submission=1)
    record = SubmissionRecord(1, [resumed])
    record.save_elements(folder, resumed, np.array([3, 40, 41, 99], dtype=np.int64))
    resumed.size = 4
    missing = np.array([99, 2, 41, 3, 3, 50], dtype=np.int64)  # any order, repeats kept
    owners = latest_owners(folder, [first, resumed], missing)
    assert [(s.name, p.tolist()) for s, p in owners] == [
        ("y@1", [3, 2, 0, 0]),  # positions of 99, 41, 3, 3 in [3, 40, 41, 99]
        ("y", [2, 50]),
    ]
