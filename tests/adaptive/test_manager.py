"""`for_adaptive_scheduler`: pipeline points as adaptive-scheduler learners' functions.

The SLURM run through adaptive-scheduler's RunManager is in
cluster_tests/test_adaptive_slurm.py; here the learners run with adaptive's own
in-process runner, which calls the same functions.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import cloudpickle
import pytest

from hpcflow import Pipeline, func
from hpcflow.errors import InputError

adaptive = pytest.importorskip("adaptive")
from hpcflow.adaptive import for_adaptive_scheduler  # noqa: E402

cloudpickle.register_pickle_by_value(sys.modules[__name__])


@func("y")
def tanh(x: float, c: float) -> float:
    return math.tanh(c * x)


@func("z")
def plane(x: float, y: float) -> float:
    return 2 * x + y


def test_learners_compute_the_pipeline_and_reach_the_goal(tmp_path: Path) -> None:
    s = for_adaptive_scheduler(
        Pipeline([tanh]), tmp_path, learners=[adaptive.Learner1D(None, bounds=(-1, 1))] * 2,
        learn={"x": "y"}, inputs=[{"c": 1.0}, {"c": 20.0}], loss_goal=0.05,
    )  # fmt: skip
    assert [p.parent for p in s.fnames] == [tmp_path, tmp_path]
    assert s.run_manager_kwargs["db_fname"].startswith(str(tmp_path))
    goal = s.run_manager_kwargs["goal"]
    for learner, c in zip(s.learners, (1.0, 20.0), strict=True):
        adaptive.runner.simple(learner, goal=goal)
        assert learner.loss() <= 0.05
        assert all(v == math.tanh(c * x) for x, v in learner.data.items())
    # the function survives the trip to a job (adaptive-scheduler cloudpickles learners)
    again = cloudpickle.loads(cloudpickle.dumps(s.learners[1]))
    assert again.function(0.1) == math.tanh(2.0)


def test_two_dimensional_and_sequence_learners(tmp_path: Path) -> None:
    s = for_adaptive_scheduler(
        Pipeline([plane]), tmp_path,
        learners=adaptive.Learner2D(None, bounds=[(0, 1), (0, 1)]),
        learn={("x", "y"): "z"}, max_points=20,
    )  # fmt: skip
    adaptive.runner.simple(s.learners[0], goal=s.run_manager_kwargs["goal"])
    assert s.learners[0].npoints >= 20
    assert all(z == 2 * x + y for (x, y), z in s.learners[0].data.items())
    seq = for_adaptive_scheduler(
        Pipeline([tanh]), tmp_path, learners=adaptive.SequenceLearner(None, [0.1, 0.2]),
        learn={"x": "y"}, inputs={"c": 3.0}, max_points=2,
    )  # fmt: skip
    adaptive.runner.simple(seq.learners[0], goal=lambda learner: learner.done())
    assert seq.learners[0].result() == [math.tanh(3.0 * 0.1), math.tanh(3.0 * 0.2)]


def test_no_goal_and_missing_adaptive_scheduler_name_the_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    learner = adaptive.Learner1D(None, bounds=(-1, 1))
    with pytest.raises(InputError, match="give loss_goal or max_points"):
        for_adaptive_scheduler(
            Pipeline([tanh]), tmp_path, learners=learner, learn={"x": "y"}, inputs={"c": 1.0}
        )
    s = for_adaptive_scheduler(
        Pipeline([tanh]), tmp_path, learners=learner, learn={"x": "y"}, inputs={"c": 1.0},
        max_points=3,
    )  # fmt: skip
    monkeypatch.setitem(sys.modules, "adaptive_scheduler", None)
    with pytest.raises(InputError, match=r"adaptive-scheduler>=2,<3"):
        s.run_manager()
