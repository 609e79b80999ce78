"""Local campaigns (`hpcflow.adaptive.run`): every learner type, failures, the results."""

from __future__ import annotations

import json
import math
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import cloudpickle
import pytest

import hpcflow
from hpcflow import Pipeline, func
from hpcflow.errors import InputError, RunFolderError

adaptive = pytest.importorskip("adaptive")
import hpcflow.adaptive as ha  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@func("y")
def tanh(x: float, c: float) -> float:
    return math.tanh(c * x)


@func("z")
def ring(x: float, y: float) -> float:
    return math.exp(-((x**2 + y**2 - 0.5) ** 2) / 0.01)


@func("y")
def fragile(x: float) -> float:
    if 0.2 < x < 0.4:
        raise ValueError(f"bad x={x}")
    return x * x


def _rounds(folder: Path) -> list[dict[str, Any]]:
    return list(json.loads((folder / "campaign.json").read_text())["rounds"])


def test_learner1d_reaches_the_loss_goal_in_rounds(tmp_path: Path) -> None:
    folder = tmp_path / "camp"
    learner = ha.run(
        Pipeline([tanh]), folder, learner=adaptive.Learner1D(None, bounds=(-1, 1)),
        learn={"x": "y"}, inputs={"c": 20.0}, points_per_round=12, loss_goal=0.05,
    )  # fmt: skip
    assert learner.loss() <= 0.05
    rounds = _rounds(folder)
    assert len(rounds) >= 3 and all(r["told"] for r in rounds)
    assert sum(r["n_told"] for r in rounds) == learner.npoints
    assert all(v == math.tanh(20.0 * x) for x, v in learner.data.items())
    stored = ha.load(folder)
    assert stored.data == learner.data and stored.loss() == learner.loss()
    df = ha.load_dataframe(folder)
    assert len(df) == learner.npoints
    assert set(df["round"]) == set(range(len(rounds)))
    assert all(y == math.tanh(20.0 * x) for x, y in zip(df["x"], df["y"], strict=True))
    assert json.loads((folder / "campaign.json").read_text())["state"] == "done"


def test_the_callers_learner_is_not_told(tmp_path: Path) -> None:
    mine = adaptive.Learner1D(None, bounds=(-1, 1))
    out = ha.run(Pipeline([tanh]), learner=mine, learn={"x": "y"}, inputs={"c": 1.0}, max_points=10)
    assert out.npoints == 10 and mine.npoints == 0


@pytest.mark.parametrize("kind", ["Learner2D", "LearnerND"])
def test_two_dimensional_learners(kind: str, tmp_path: Path) -> None:
    learner = ha.run(
        Pipeline([ring]), tmp_path / "camp",
        learner=getattr(adaptive, kind)(None, bounds=[(-1, 1), (-1, 1)]),
        learn={("x", "y"): "z"}, points_per_round=10, max_points=40,
    )  # fmt: skip
    assert learner.npoints == 40
    for (x, y), z in learner.data.items():
        assert z == math.exp(-((x**2 + y**2 - 0.5) ** 2) / 0.01)
    df = ha.load_dataframe(tmp_path / "camp")
    assert list(df.columns[:2]) == ["x", "y"] and len(df) == 40
    assert len(_rounds(tmp_path / "camp")) == 4


def test_sequence_learner_runs_until_the_sequence_is_done() -> None:
    seq = [0.5 * i for i in range(7)]
    learner = ha.run(
        Pipeline([tanh]), learner=adaptive.SequenceLearner(None, seq), learn={"x": "y"},
        inputs={"c": 2.0}, points_per_round=3,
    )  # fmt: skip
    assert learner.done()
    assert learner.result() == [math.tanh(2.0 * x) for x in seq]


def test_balancing_learner_with_inputs_per_learner(tmp_path: Path) -> None:
    learners = [adaptive.Learner1D(None, bounds=(-1, 1)) for _ in range(2)]
    out = ha.run(
        Pipeline([tanh]), tmp_path / "camp", learner=adaptive.BalancingLearner(learners),
        learn={"x": "y"}, inputs=[{"c": 1.0}, {"c": 30.0}], points_per_round=8,
        max_points=48,
    )  # fmt: skip
    assert out.npoints == 48
    for sub, c in zip(out.learners, (1.0, 30.0), strict=True):
        assert sub.npoints > 0
        assert all(v == math.tanh(c * x) for x, v in sub.data.items())
    # the steep one needs more points: the balancing learner gave it more
    assert out.learners[1].npoints > out.learners[0].npoints
    df = ha.load_dataframe(tmp_path / "camp")
    assert sorted(set(df["learner"])) == [0, 1]
    assert all(y == math.tanh(c * x) for x, y, c in zip(df["x"], df["y"], df["c"], strict=True))


def test_balancing_learner_of_sequence_learners() -> None:
    seqs = [[1.0, 2.0], [3.0, 4.0, 5.0]]
    out = ha.run(
        Pipeline([tanh]),
        learner=adaptive.BalancingLearner([adaptive.SequenceLearner(None, s) for s in seqs]),
        learn={"x": "y"}, inputs={"c": 0.1}, points_per_round=2, max_rounds=10,
    )  # fmt: skip
    assert [sub.result() for sub in out.learners] == [[math.tanh(0.1 * x) for x in s] for s in seqs]


def test_failed_elements_are_skipped_and_the_campaign_goes_on(tmp_path: Path) -> None:
    folder = tmp_path / "camp"
    learner = ha.run(
        Pipeline([fragile]), folder, learner=adaptive.Learner1D(None, bounds=(0, 1)),
        learn={"x": "y"}, points_per_round=5, max_points=30, max_rounds=8,
    )  # fmt: skip
    failed = [x for x in learner.pending_points if 0.2 < x < 0.4]
    assert failed, "some points fell in the failing interval"
    assert all(not 0.2 < x < 0.4 for x in learner.data)
    record = json.loads((folder / "campaign.json").read_text())
    assert record["n_failed"] == len(failed) and record["state"] == "done"
    df = ha.load_dataframe(folder)
    bad = df[df["failed"]]
    assert len(bad) == len(failed)
    assert all(isinstance(v, hpcflow.ErrorSnapshot) for v in bad["y"])
    # no point was asked twice: every round's points are new
    xs = [x for r in range(len(record["rounds"])) for x in df[df["round"] == r]["x"]]
    assert len(xs) == len(set(xs))


def test_a_pipeline_mapped_over_the_learned_input_is_used_as_is() -> None:
    mapped = Pipeline([func("y", mapspec="x[k] -> y[k]")(lambda x: 3 * x)])
    learner = ha.run(
        mapped, learner=adaptive.Learner1D(None, bounds=(0, 1)), learn={"x": "y"}, max_points=9
    )
    assert learner.npoints == 9 and all(v == 3 * x for x, v in learner.data.items())


def test_an_executor_evaluates_the_points() -> None:
    with ThreadPoolExecutor(2) as ex:
        learner = ha.run(
            Pipeline([tanh]), learner=adaptive.Learner1D(None, bounds=(-1, 1)),
            learn={"x": "y"}, inputs={"c": 3.0}, max_points=20, executor=ex,
        )  # fmt: skip
    assert learner.npoints == 20


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"learn": {"x": "nope"}}, "output 'nope'"),
        ({"learn": {("x", "y"): "y"}}, "Learner1D learns 1"),
        ({"learn": "x"}, "must be a dict of one entry"),
        ({"inputs": {"c": 1.0, "x": 2.0}}, "which the learner chooses"),
        ({"max_points": None}, "never runs out of points"),
        ({"points_per_round": 0}, "points_per_round=0"),
        ({"loss_goal": -1}, "loss_goal=-1"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {
        "learner": adaptive.Learner1D(None, bounds=(-1, 1)), "learn": {"x": "y"},
        "inputs": {"c": 1.0}, "max_points": 5, **kwargs,
    }  # fmt: skip
    with pytest.raises(InputError, match=message):
        ha.run(Pipeline([tanh]), **args)


def test_a_grid_pipeline_is_refused() -> None:
    grid = Pipeline([func("z", mapspec="x[i], y[j] -> z[i, j]")(lambda x, y: x + y)])
    with pytest.raises(InputError, match="must share one mapspec axis"):
        ha.run(
            grid, learner=adaptive.Learner2D(None, bounds=[(0, 1), (0, 1)]),
            learn={("x", "y"): "z"}, max_points=4,
        )  # fmt: skip


def test_a_used_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "camp").mkdir()
    (tmp_path / "camp" / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not empty"):
        ha.run(
            Pipeline([tanh]), tmp_path / "camp", learner=adaptive.Learner1D(None, bounds=(0, 1)),
            learn={"x": "y"}, inputs={"c": 1.0}, max_points=3,
        )  # fmt: skip
    assert (tmp_path / "camp" / "notes.txt").read_text() == "mine"


def test_without_adaptive_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "adaptive", None)  # import adaptive now fails
    with pytest.raises(InputError, match=r"pip install 'adaptive>=1,<2'"):
        ha.run(Pipeline([tanh]), learner=object(), learn={"x": "y"}, max_points=3)
