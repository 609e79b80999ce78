"""Span helpers of the chunked backends: which indices a set of chunk files holds."""

from __future__ import annotations

import numpy as np

from hpcflow.storage._spans import in_spans


def _reference(idx: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> list[bool]:
    inside = (starts[:, None] <= idx[None, :]) & (idx[None, :] < stops[:, None])
    return inside.any(axis=0).tolist()


def test_in_spans_of_many_indices_agrees_with_a_scan_of_every_span() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        edges = np.sort(rng.choice(np.arange(-50, 20_050), size=2 * 40, replace=False))
        starts, stops = edges[0::2], edges[1::2]  # sorted, disjoint, with gaps
        # dense (a coverage mask of the range) and sparse (a binary search) indices
        for idx in (
            rng.integers(-100, 20_100, 10_000),
            np.arange(0, 20_000),
            rng.integers(-(10**9), 10**9, 5_000),
        ):
            got = in_spans(idx, starts, stops)
            assert got.dtype == bool
            assert got.tolist() == _reference(idx, starts, stops)


def test_in_spans_without_spans_holds_nothing() -> None:
    empty = np.zeros(0, dtype=np.int64)
    assert in_spans(np.arange(10_000), empty, empty).tolist() == [False] * 10_000
