"""The chunking policy: a pure function of ChunkInputs (properties + concrete clusters)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcflow.errors import InputError
from hpcflow.plan.policy import (
    DEFAULT_WAVES,
    SHORT_TASK_FACTOR,
    TASK_START_MARGIN,
    ChunkDecision,
    ChunkInputs,
    choose_chunksize,
    measured_element_seconds,
    task_walltime,
)

costs = st.one_of(st.none(), st.floats(min_value=0.0, max_value=1e5, allow_nan=False))


@st.composite
def chunk_inputs(draw: st.DrawFn) -> ChunkInputs:
    cost = draw(costs)
    walltime = draw(st.one_of(st.none(), st.floats(min_value=1e-3, max_value=1e5)))
    per_element = walltime if walltime is not None else cost
    limit = None
    if draw(st.booleans()):
        # a limit that always fits one element (the error case is tested separately)
        low = TASK_START_MARGIN + (per_element or 0.0) + 1.0
        limit = draw(st.floats(min_value=low, max_value=low * 1000))
    return ChunkInputs(
        n_elements=draw(st.integers(0, 10**8)),
        slots=draw(st.integers(1, 200_000)),
        element_seconds=cost,
        max_array_size=draw(st.integers(1, 4_000_001)),
        max_task_seconds=limit,
        element_walltime=walltime,
        min_task_seconds=draw(st.floats(min_value=0.0, max_value=7200.0)),
        waves=draw(st.integers(1, 10)),
        task_start_seconds=draw(st.floats(min_value=0.0, max_value=30.0)),
        launch_rate=draw(st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e4))),
        max_tasks=draw(st.one_of(st.none(), st.integers(1, 10**6))),
    )


def _forced_tasks(i: ChunkInputs) -> int:
    per_element = i.element_walltime if i.element_walltime is not None else i.element_seconds
    if i.max_task_seconds is None or not per_element:
        return 1
    k_max = (i.max_task_seconds - TASK_START_MARGIN) / per_element
    return 1 if k_max >= i.n_elements else math.ceil(i.n_elements / math.floor(k_max))


@given(chunk_inputs())
@settings(max_examples=500, deadline=None)
def test_chunks_cover_every_element_with_at_most_one_task_each(i: ChunkInputs) -> None:
    d = choose_chunksize(i)
    assert d.chunksize >= 1
    assert d.n_tasks == math.ceil(i.n_elements / d.chunksize)
    assert d.chunksize * d.n_tasks >= i.n_elements
    assert d.n_tasks <= i.n_elements
    assert (d.n_tasks - 1) * d.chunksize < max(i.n_elements, 1)  # no empty task
    assert d.reason and "\n" not in d.reason


@given(chunk_inputs())
@settings(max_examples=500, deadline=None)
def test_known_cost_tasks_are_never_shorter_than_the_minimum_beyond_one_wave(
    i: ChunkInputs,
) -> None:
    d = choose_chunksize(i)
    c = i.element_seconds
    if c is None or d.n_tasks <= 1 or d.n_tasks <= _forced_tasks(i):
        return  # unknown cost, a single task, or the walltime decided
    task = d.chunksize * c
    average = i.n_elements * c / d.n_tasks
    if d.n_tasks > i.slots:
        assert task >= i.min_task_seconds * (1 - 1e-9)
        assert average >= i.min_task_seconds * (1 - 1e-9)
    else:
        # one wave: shorter tasks only if each still does 10x its start cost of work
        floor = min(i.min_task_seconds, SHORT_TASK_FACTOR * i.task_start_seconds)
        assert task >= floor * (1 - 1e-9)


@given(chunk_inputs())
@settings(max_examples=500, deadline=None)
def test_walltime_cap_is_respected(i: ChunkInputs) -> None:
    d = choose_chunksize(i)
    w = i.element_walltime if i.element_walltime is not None else i.element_seconds
    if i.max_task_seconds is not None and w and i.n_elements:
        assert task_walltime(d.chunksize, w) <= i.max_task_seconds * (1 + 1e-12)


@given(chunk_inputs())
@settings(max_examples=500, deadline=None)
def test_no_split_at_max_array_size_or_over_max_tasks_unless_forced(i: ChunkInputs) -> None:
    d = choose_chunksize(i)
    forced = _forced_tasks(i)
    if d.n_tasks > i.max_array_size or (i.max_tasks is not None and d.n_tasks > i.max_tasks):
        assert d.n_tasks == forced
        assert "forcing" in d.reason


@given(chunk_inputs())
@settings(max_examples=300, deadline=None)
def test_never_more_tasks_than_the_target(i: ChunkInputs) -> None:
    d = choose_chunksize(i)
    assert d.n_tasks <= max(i.waves * i.slots, _forced_tasks(i))


@given(chunk_inputs(), st.floats(min_value=0.01, max_value=1e4))
@settings(max_examples=300, deadline=None)
def test_a_known_launch_rate_never_adds_tasks_beyond_what_the_walltime_forces(
    i: ChunkInputs, rate: float
) -> None:
    without = choose_chunksize(ChunkInputs(**{**vars(i), "launch_rate": None}))
    with_rate = choose_chunksize(ChunkInputs(**{**vars(i), "launch_rate": rate}))
    assert with_rate.n_tasks <= max(without.n_tasks, _forced_tasks(i))


@given(
    st.integers(1, 10**7),
    st.integers(1, 100_000),
    st.floats(min_value=0.0, max_value=3600.0),
)
@settings(max_examples=200, deadline=None)
def test_unknown_cost_uses_the_target_and_more_cost_never_means_fewer_tasks(
    n: int, slots: int, cost: float
) -> None:
    unknown = choose_chunksize(ChunkInputs(n, slots, max_array_size=4_000_001))
    assert unknown.n_tasks == math.ceil(n / math.ceil(n / min(n, DEFAULT_WAVES * slots)))
    cheap = choose_chunksize(ChunkInputs(n, slots, element_seconds=cost, max_array_size=10**7))
    dear = choose_chunksize(ChunkInputs(n, slots, element_seconds=2 * cost, max_array_size=10**7))
    assert dear.chunksize <= cheap.chunksize


def test_one_element_longer_than_the_task_limit_is_an_input_error() -> None:
    with pytest.raises(InputError, match=r"3600 s of walltime.*limit of 3000 s") as e:
        choose_chunksize(ChunkInputs(10, 6, element_walltime=3600, max_task_seconds=3000))
    assert "MaxTime" in str(e.value)
    with pytest.raises(InputError, match="estimated time"):
        choose_chunksize(ChunkInputs(10, 6, element_seconds=3000, max_task_seconds=3000))


@pytest.mark.parametrize(
    "bad",
    [
        {"n_elements": -1},
        {"slots": 0},
        {"max_array_size": 0},
        {"element_seconds": float("nan")},
        {"element_seconds": -1.0},
        {"max_task_seconds": 0},
        {"waves": True},
    ],
)
def test_bad_inputs_are_input_errors(bad: dict[str, object]) -> None:
    kwargs: dict[str, object] = {"n_elements": 10, "slots": 6, **bad}
    with pytest.raises(InputError):
        ChunkInputs(**kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------
# The concrete cases


def test_mini_cluster_3000_elements_of_20ms_on_6_slots() -> None:
    d = choose_chunksize(ChunkInputs(3000, 6, element_seconds=0.02, max_array_size=101))
    # the hand-tuned chunksizes=500 that measured 1.18x the ideal (not 1,000 tasks)
    assert (d.chunksize, d.n_tasks) == (500, 6)
    assert "one wave" in d.reason


def test_mini_cluster_3000_elements_of_unknown_cost_on_6_slots() -> None:
    d = choose_chunksize(ChunkInputs(3000, 6, max_array_size=101))
    assert (d.chunksize, d.n_tasks) == (250, 12)
    assert "unknown" in d.reason


def test_mini_cluster_48_elements_of_2_5s_on_6_slots() -> None:
    d = choose_chunksize(ChunkInputs(48, 6, element_seconds=2.5, max_array_size=101))
    assert (d.chunksize, d.n_tasks) == (8, 6)  # one wave of 20 s tasks


def test_million_elements_of_unknown_cost_on_6_slots() -> None:
    d = choose_chunksize(ChunkInputs(10**6, 6, max_array_size=101))
    assert (d.chunksize, d.n_tasks) == (83334, 12)


def test_long_known_elements_use_the_full_target() -> None:
    # 10^6 x 1 s on 6 slots: tasks of 23 h, 2 per slot, no walltime given
    d = choose_chunksize(ChunkInputs(10**6, 6, element_seconds=1.0, max_array_size=101))
    assert (d.chunksize, d.n_tasks) == (83334, 12)


def test_ten_million_elements_on_100000_slots() -> None:
    # unknown cost: the target (200,000 tasks), within a large MaxArraySize ...
    d = choose_chunksize(ChunkInputs(10**7, 100_000, max_array_size=4_000_001))
    assert (d.chunksize, d.n_tasks) == (50, 200_000)
    # ... capped at the array size and at a MaxJobCount-sized queue limit when given
    d = choose_chunksize(ChunkInputs(10**7, 100_000, max_array_size=100_001, max_tasks=10_000))
    assert (d.chunksize, d.n_tasks) == (1000, 10_000)
    assert "MaxArraySize" in d.reason and "max_tasks" in d.reason
    # 10 ms elements known: 100,000 s of work, tasks of >= 60 s allow 1,666 of them
    d = choose_chunksize(ChunkInputs(10**7, 100_000, element_seconds=0.01, max_array_size=100_001))
    assert d.n_tasks == 14_266  # one wave of 7 s tasks (10 x the 0.7 s start): 14,285 -> 701 each
    assert d.chunksize == 701
    slow = choose_chunksize(
        ChunkInputs(10**7, 100_000, element_seconds=0.01, max_array_size=100_001, launch_rate=10.0)
    )
    # launched at 10/s, k tasks take k/10 s to start: k = sqrt(work * rate) = 1,000
    # tasks of 100 s finish first (fewer, longer tasks than the 1,666 of 60 s)
    assert (slow.chunksize, slow.n_tasks) == (10_000, 1000)
    assert "launching 10 tasks/s caps at 1,000" in slow.reason


def test_launch_rate_caps_tasks_at_the_slots_share_of_the_work_over_several_waves() -> None:
    # 10^6 x 60 s on 100 slots at 10/s: 6e7 s of work, 6e6 s per slot: launching
    # 200 tasks (the target) takes 20 s, far less, so the launch rate changes nothing
    i = ChunkInputs(10**6, 100, element_seconds=60.0, max_array_size=1001)
    fast = choose_chunksize(i)
    slow = choose_chunksize(ChunkInputs(**{**vars(i), "launch_rate": 10.0}))
    assert fast == slow
    assert fast.n_tasks == 200
    # 10^6 x 1 s on 10,000 slots at 10/s: work x rate = 10^7 <= slots^2 = 10^8, so one
    # wave of sqrt(10^7) = 3,162 tasks (not the 16,666 tasks of 60 s)
    d = choose_chunksize(
        ChunkInputs(10**6, 10_000, element_seconds=1.0, launch_rate=10.0, max_array_size=100_001)
    )
    assert d.n_tasks == math.ceil(10**6 / math.ceil(10**6 / 3162))


def test_walltime_forces_a_split_past_max_array_size() -> None:
    # 1 h elements asking 2 h each, 48 h partitions: 23 per task
    i = ChunkInputs(
        10**4, 6, element_seconds=3600, element_walltime=7200,
        max_array_size=101, max_task_seconds=48 * 3600,
    )  # fmt: skip
    d = choose_chunksize(i)
    assert d.chunksize == 23
    assert d.n_tasks == math.ceil(10**4 / 23) > 101
    assert task_walltime(d.chunksize, 7200) == 23 * 7200 + TASK_START_MARGIN <= 48 * 3600


def test_no_elements_no_tasks() -> None:
    assert choose_chunksize(ChunkInputs(0, 6)) == ChunkDecision(1, 0, "no elements -> no tasks")


def test_task_walltime() -> None:
    assert task_walltime(1, 10.0) == 10.0 + TASK_START_MARGIN
    assert task_walltime(3, 10.0, margin=5.0) == 35.0
    with pytest.raises(InputError):
        task_walltime(0, 10.0)
    with pytest.raises(InputError):
        task_walltime(1, 0.0)


# ---------------------------------------------------------------------------------------
# The cost measured from chunk markers

markers = st.lists(
    st.fixed_dictionaries(
        {
            "ok": st.integers(0, 1000),
            "failed": st.lists(st.integers(0, 10**6), max_size=5),
            "propagated": st.lists(st.integers(0, 10**6), max_size=5),
            "skipped": st.integers(0, 1000),
            "elapsed": st.floats(min_value=0.0, max_value=1e6),
        }
    ),
    max_size=20,
)


@given(markers)
@settings(max_examples=300, deadline=None)
def test_measured_cost_is_elapsed_over_elements_that_ran(ms: list[dict[str, Any]]) -> None:
    got = measured_element_seconds(ms)
    ran = sum(m["ok"] + len(m["failed"]) for m in ms)
    if ran == 0:
        assert got is None
    else:
        assert got is not None
        assert got == pytest.approx(sum(m["elapsed"] for m in ms) / ran)
        assert got >= 0


def test_measured_cost_ignores_skipped_propagated_and_unusable_markers() -> None:
    ms = [
        {"ok": 4, "failed": [], "propagated": [1, 2, 3], "skipped": 50, "elapsed": 2.0},
        {"ok": 3, "failed": [9], "propagated": [], "skipped": 0, "elapsed": 2.0},
        {"ok": 5, "failed": [], "propagated": [], "skipped": 0, "elapsed": float("nan")},
        {"ok": 5, "failed": [], "propagated": [], "skipped": 0},  # an old marker
        {"ok": 0, "failed": [], "propagated": [7], "skipped": 9, "elapsed": 0.0},
    ]
    assert measured_element_seconds(ms) == pytest.approx(0.5)
    assert measured_element_seconds(iter(ms)) == pytest.approx(0.5)  # any iterable
    assert measured_element_seconds([{"ok": 0, "skipped": 5, "elapsed": 1.0}]) is None


def test_measured_cost_feeds_the_policy() -> None:
    ms = [{"ok": 500, "failed": [], "propagated": [], "skipped": 0, "elapsed": 10.0}] * 6
    c = measured_element_seconds(ms)
    assert c == pytest.approx(0.02)
    assert choose_chunksize(ChunkInputs(3000, 6, element_seconds=c)).chunksize == 500
