"""Nested funcs: several funcs as one node with one mapspec and one resource set."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow import Func, Pipeline, PipelineError, Resources, SpecError
from hpcflow.spec.nested import nested_func
from hpcflow.testing import FakeScheduler


def chain() -> list[Func]:
    return [
        Func(lambda x: x + 1, "y", mapspec="x[i] -> y[i]", resources={"cpus": 2}),
        Func(lambda y, c=10: c * y, "z", mapspec="y[i] -> z[i]"),
        Func(lambda z: sum(z), "total"),  # noqa: PLW0108 (its parameter name wires it)
    ]


def test_a_nested_func_is_one_func_with_one_mapspec_and_the_inner_resources() -> None:
    f = nested_func(chain()[:2])
    assert str(f.mapspec) == "x[i] -> z[i]"
    assert f.parameters == ("x", "c") and f.defaults == {"c": 10}
    assert f.resources == Resources(cpus=2)
    assert f(x=1) == 20 and f(x=1, c=1) == 2


def test_nest_funcs_gives_a_new_pipeline_with_the_same_results_in_a_process_pool() -> None:
    p = Pipeline(chain())
    q = p.nest_funcs(["y", "z"])
    assert len(q.funcs) == 2 and len(p.funcs) == 3  # p is unchanged
    expected = p.map({"x": [1, 2, 3]}, parallel=False)["total"].output
    assert q.map({"x": [1, 2, 3]}, parallel=True)["total"].output == expected == 90


def test_nest_funcs_keeps_intermediates_that_outside_funcs_consume() -> None:
    funcs = [*chain(), Func(lambda y: max(y), "top")]  # noqa: PLW0108
    q = Pipeline(funcs).nest_funcs(["y", "z"])
    assert q.func_for("y") is q.func_for("z")
    assert q.func_for("y").output_name == ("y", "z")
    r = q.map({"x": [1, 2]}, parallel=False)
    assert (r["top"].output, r["total"].output) == (3, 50)
    with pytest.raises(PipelineError, match="'y'"):
        Pipeline(funcs).nest_funcs(["y", "z"], "z")


def test_a_nested_func_is_one_array_job_when_submitted(tmp_path: Path) -> None:
    fake = FakeScheduler()
    q = Pipeline(chain()).nest_funcs(["y", "z"])
    run = q.submit({"x": [1, 2]}, tmp_path / "run", scheduler=fake)
    fake.run_all()
    assert run.status().complete
    assert run.load_outputs("total") == 50
    # one array for the nested node (named by its output), one for the reduction
    assert [r.name.rsplit("-", 1)[1] for r in fake.requests.values()] == ["z", "total"]


def test_nesting_refuses_what_one_node_cannot_mean() -> None:
    a = Func(lambda x: x, "y", mapspec="x[i] -> y[i]", resources={"cpus": 2})
    b = Func(lambda y: y, "z", mapspec="y[i] -> z[i]", resources={"cpus": 4})
    with pytest.raises(SpecError, match="resources="):
        nested_func([a, b])
    assert nested_func([a, b], resources={"cpus": 4}).resources == Resources(cpus=4)
    c = Func(lambda y: y, "z", mapspec="y[j] -> z[j]")
    with pytest.raises(SpecError, match="different output axes"):
        nested_func([a.replace(resources=None), c.replace(mapspec="y[j] -> z[j]")])
    red = Func(lambda y: sum(y), "z")  # noqa: PLW0108
    with pytest.raises(SpecError, match="mapped and unmapped"):
        nested_func([a, red])
    assert str(nested_func([a, red], mapspec="x[i] -> z[i]").mapspec) == "x[i] -> z[i]"
    with pytest.raises(SpecError, match="at least two"):
        nested_func([a])


def test_unmapped_funcs_nest_and_run_directly() -> None:
    p = Pipeline([Func(lambda x: x + 1, "y"), Func(lambda y: 3 * y, "z")])
    q = p.nest_funcs(["y", "z"])
    assert q("z", x=1) == p("z", x=1) == 6
