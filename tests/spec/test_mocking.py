"""Replacing a func with a mock in tests, the documented way (Func.replace)."""

from __future__ import annotations

from unittest import mock

from hpcflow import Func, Pipeline


def slow_simulation(x: int) -> int:
    raise AssertionError("the real function must not run in this test")


def test_a_func_replaced_by_an_autospec_mock_runs_in_map_and_direct_calls() -> None:
    p = Pipeline([
        Func(slow_simulation, "y", mapspec="x[i] -> y[i]"),
        Func(lambda y: sum(y), "total"),  # noqa: PLW0108 (its parameter name wires it)
    ])  # fmt: skip
    fake = mock.create_autospec(slow_simulation, side_effect=lambda x: 10 * x)
    mocked = Pipeline(
        [f.replace(function=fake) if f.name == "slow_simulation" else f for f in p.funcs]
    )
    assert mocked.map({"x": [1, 2]}, parallel=False)["total"].output == 30
    assert fake.call_args_list == [mock.call(x=1), mock.call(x=2)]
    assert p.func_for("y").function is slow_simulation  # the original is untouched
