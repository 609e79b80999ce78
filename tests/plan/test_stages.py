"""Planning stages, tasks, arrays and dependencies (pure; no scheduler)."""

from __future__ import annotations

import numpy as np
import pytest

from hpcflow import Func, InputError, MapSpec, Pipeline, Resources
from hpcflow.plan.stages import build_plan, default_chunksize


def sweep() -> Pipeline:
    return Pipeline(
        [
            Func(lambda x: x, "a", mapspec="x[i] -> a[i]", resources={"cpus": 2}),
            Func(lambda a: a, "b", mapspec="a[i] -> b[i]"),
            Func(lambda b: sum(b), "total"),  # noqa: PLW0108 (sum is positional-only)
        ],
        default_resources={"partition": "debug"},
    )


def test_element_wise_chain_is_aligned_and_reduction_waits_whole() -> None:
    plan = build_plan(
        sweep(), {"a": (10,), "b": (10,), "total": ()}, max_array_size=4, chunksizes=3
    )
    a, b, total = plan.stages
    assert a.n_tasks == 4 and [x.tolist() for x in map(a.task_elements, range(4))] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [9],
    ]
    assert [(j.first_task, j.n_tasks) for j in a.arrays] == [(0, 4)]
    assert b.dependencies[0].kind == "aligned"
    assert total.n_tasks == 1 and total.dependencies[0].kind == "whole"
    assert a.resources.cpus == 2 and a.resources.partition == "debug"
    assert b.resources.cpus is None and b.resources.partition == "debug"


def test_arrays_split_at_max_array_size_each_from_zero() -> None:
    plan = build_plan(
        sweep(), {"a": (250,), "b": (250,), "total": ()}, max_array_size=100, chunksizes=1
    )
    assert [(j.index, j.first_task, j.n_tasks) for j in plan.stage("a").arrays] == [
        (0, 0, 100),
        (1, 100, 100),
        (2, 200, 50),
    ]
    assert plan.n_arrays == 3 + 3 + 1


def test_different_chunking_breaks_alignment() -> None:
    plan = build_plan(
        sweep(),
        {"a": (10,), "b": (10,), "total": ()},
        max_array_size=50,
        chunksizes={"a": 2, "": 5},
    )
    assert plan.stage("b").dependencies[0].kind == "whole"


@pytest.mark.parametrize(
    ("spec_a", "spec_b", "shape_a", "shape_b", "aligned"),
    [
        ("x[i] -> a[i]", "a[i] -> b[i]", (3,), (3,), True),
        ("x[i], y[j] -> a[i, j]", "a[i, j] -> b[i, j]", (3, 2), (3, 2), True),
        ("x[i], y[j] -> a[i, j]", "a[i, :] -> b[i]", (3, 2), (3,), False),  # reduction
        ("x[i] -> a[i]", "a[i], y[j] -> b[i, j]", (3,), (3, 2), False),  # outer product
        ("x[i] -> a[i, k]", "a[i, k] -> b[i, k]", (3,), (3, 2), False),  # internal axis
    ],
)
def test_alignment_rules(
    spec_a: str, spec_b: str, shape_a: tuple[int, ...], shape_b: tuple[int, ...], aligned: bool
) -> None:
    fa = Func(
        _params(MapSpec.from_string(spec_a).input_names), "a", mapspec=spec_a,
        internal_shape=2 if "k" in spec_a else None,
    )  # fmt: skip
    fb = Func(_params(MapSpec.from_string(spec_b).input_names), "b", mapspec=spec_b)
    plan = build_plan(
        Pipeline([fa, fb]), {"a": shape_a, "b": shape_b}, max_array_size=50, chunksizes=1
    )
    assert (plan.stage("b").dependencies[0].kind == "aligned") is aligned


def _params(names: tuple[str, ...]):  # type: ignore[no-untyped-def]
    src = f"lambda {', '.join(names)}: 0"
    return eval(src)


def test_per_element_resources_give_one_stage_per_resource_set() -> None:
    f = Func(
        lambda n: n, "y", mapspec="n[i] -> y[i]", resources=lambda n: Resources(memory=f"{n}GB")
    )
    g = Func(lambda y: y, "z", mapspec="y[i] -> z[i]")
    sizes = [1, 2, 1, 2, 2]

    def per_element(func: Func, idx: np.ndarray) -> list[Resources]:
        return [func.resources_for({"n": sizes[i]}, None) for i in idx]

    plan = build_plan(
        Pipeline([f, g]),
        {"y": (5,), "z": (5,)},
        max_array_size=10,
        chunksizes=1,
        element_resources=per_element,
    )
    small, big = plan.stage("y.0"), plan.stage("y.1")
    assert small.elements.tolist() == [0, 2] and small.resources.memory == 1024**3
    assert big.elements.tolist() == [1, 3, 4] and big.resources.memory == 2 * 1024**3
    # the consumer cannot follow two upstream arrays task by task
    assert {d.kind for d in plan.stage("z").dependencies} == {"whole"}
    assert {d.upstream for d in plan.stage("z").dependencies} == {"y.0", "y.1"}


def test_bad_input() -> None:
    with pytest.raises(InputError, match="max_array_size"):
        build_plan(sweep(), {"a": (1,), "b": (1,), "total": ()}, max_array_size=0)
    with pytest.raises(InputError, match="no external shape"):
        build_plan(sweep(), {"a": (1,)}, max_array_size=10)
    with pytest.raises(InputError, match="chunksizes"):
        build_plan(sweep(), {"a": (1,), "b": (1,), "total": ()}, max_array_size=10, chunksizes=0)
    f = Func(lambda n: n, "y", mapspec="n[i] -> y[i]", resources=lambda n: Resources())
    with pytest.raises(InputError, match="element_resources"):
        build_plan(Pipeline([f]), {"y": (2,)}, max_array_size=10)


def test_default_chunksize_bounds_tasks_per_stage() -> None:
    assert default_chunksize(1) == 1
    assert default_chunksize(1000) == 1
    assert default_chunksize(1001) == 2
    n = 10**7
    assert -(-n // default_chunksize(n)) <= 1000


def test_million_element_plan() -> None:
    plan = build_plan(sweep(), {"a": (10**6,), "b": (10**6,), "total": ()}, max_array_size=1001)
    assert plan.stage("a").n_tasks == 1000
    assert plan.stage("b").dependencies[0].kind == "aligned"


def test_resource_overrides_group_shared_and_equal_resources_in_first_seen_order() -> None:
    # a retry passes per-element lists of a few shared objects ([res] * n); objects
    # that are equal once the defaults are filled in make one stage
    f = Func(lambda n: n, "y", mapspec="n[i] -> y[i]")
    pipeline = Pipeline([f], default_resources=Resources(memory="1GB"))
    more, default, same = Resources(memory="4GB"), Resources(), Resources(memory="1GB")
    subset = np.array([2, 3, 5, 8, 13, 21, 34], dtype=np.int64)
    per = [more, default, more, same, default, more, Resources(memory="4GB")]
    plan = build_plan(
        pipeline,
        {"y": (40,)},
        max_array_size=10,
        chunksizes=2,
        elements={"y": subset},
        overrides={"y": lambda idx: per if len(idx) == len(per) else []},
    )
    assert [(s.name, s.resources.memory, s.elements.tolist()) for s in plan.stages] == [
        ("y.0", 4 * 1024**3, [2, 5, 21, 34]),
        ("y.1", 1024**3, [3, 8, 13]),
    ]


def test_funcs_of_one_shape_share_one_read_only_index_array() -> None:
    # at 10^7 elements each 0..n-1 is 80 MB: the stages of one plan hold one
    plan = build_plan(sweep(), {"a": (6,), "b": (6,), "total": ()}, max_array_size=10)
    a, b = plan.stage("a").elements, plan.stage("b").elements
    assert a is b and a.tolist() == list(range(6))
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 5
