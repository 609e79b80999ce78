"""An hpcflow pipeline as adaptive-scheduler learners, for its live run manager.

`for_adaptive_scheduler` gives each learner a function that computes one point with
`hpcflow.Pipeline.run` (in the job, in-process: no run folder, no arrays), and returns
what ``adaptive_scheduler.RunManager`` and its ``SLURM``/``PBS`` scheduler take. Use it
when you prefer adaptive-scheduler's model: one long job per learner, a manager process
that stays alive, points asked as soon as a worker is free. `hpcflow.adaptive.submit`
is the submit-and-exit alternative (docs/adaptive.md compares them). Needs the
``adaptive-scheduler`` extra.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hpcflow.adaptive._extra import require_adaptive
from hpcflow.adaptive._learn import Goals, LearnSpec, check_learner
from hpcflow.errors import InputError
from hpcflow.spec.pipeline import Pipeline

__all__ = ["AdaptiveSchedulerSetup", "PointFunction", "for_adaptive_scheduler"]


class PointFunction:
    """``f(point) -> output``: one learner point through the pipeline (`Pipeline.run`).

    Picklable (cloudpickle), so adaptive-scheduler can ship it to its jobs.
    """

    def __init__(
        self, pipeline: Pipeline, spec: LearnSpec, inputs: Mapping[str, Any], sequence: bool
    ) -> None:
        self.pipeline = pipeline
        self.spec = spec
        self.inputs = dict(inputs)
        self.sequence = sequence

    def __call__(self, point: Any) -> Any:
        n = len(self.spec.coords)
        if self.sequence:
            values = (point,) if n == 1 else tuple(point)
        elif n == 1:
            values = (float(point),)
        else:
            values = tuple(float(v) for v in point)
        kwargs = {**self.inputs, **dict(zip(self.spec.coords, values, strict=True))}
        return self.pipeline.run(self.spec.output, kwargs)


@dataclass
class AdaptiveSchedulerSetup:
    """What `for_adaptive_scheduler` made: learners, fnames, and the keyword arguments.

    ``run_manager(**scheduler_kwargs)`` builds the ``adaptive_scheduler.RunManager``
    (with a ``SLURM`` scheduler; ``scheduler_cls`` for another).
    """

    learners: list[Any]
    fnames: list[Path]
    run_manager_kwargs: dict[str, Any] = field(default_factory=dict)
    scheduler_kwargs: dict[str, Any] = field(default_factory=dict)

    def run_manager(self, scheduler_cls: Any = None, **scheduler_kwargs: Any) -> Any:
        """An ``adaptive_scheduler.RunManager`` for these learners (not started)."""
        try:
            asched = importlib.import_module("adaptive_scheduler")
        except ImportError as e:
            raise InputError(
                f"run_manager needs adaptive-scheduler ({e}); install it with "
                "pip install 'adaptive-scheduler>=2,<3' (hpcflow's 'adaptive-scheduler' extra)"
            ) from None
        cls = scheduler_cls or asched.SLURM
        scheduler = cls(**{**self.scheduler_kwargs, **scheduler_kwargs})
        return asched.RunManager(scheduler, self.learners, self.fnames, **self.run_manager_kwargs)


def for_adaptive_scheduler(
    pipeline: Pipeline,
    folder: str | Path,
    *,
    learners: Any,
    learn: Mapping[Any, str],
    inputs: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    loss_goal: float | None = None,
    max_points: int | None = None,
) -> AdaptiveSchedulerSetup:
    """adaptive-scheduler learners (one job each) computing ``pipeline``'s points.

    Parameters
    ----------
    pipeline
        A pipeline whose learned inputs are not mapped: each point is one direct call.
    folder
        Where the learners are saved (``learner-<i>.pickle``) and the jobs' logs go.
    learners
        One learner or a list of them (``Learner1D``, ``Learner2D``, ``LearnerND``,
        ``SequenceLearner``); each is copied with its function set.
    learn, inputs
        As for `hpcflow.adaptive.run`; ``inputs`` may be a list (one dict per learner).
    loss_goal, max_points
        The goal of every learner (adaptive-scheduler's ``goal``): reached when its loss
        is at most ``loss_goal`` or it has ``max_points`` points.

    Returns
    -------
    AdaptiveSchedulerSetup
        ``setup.run_manager(partition=..., cores=...)`` is a ``RunManager`` to start.

    Examples
    --------
    >>> import adaptive, hpcflow, tempfile
    >>> from hpcflow.adaptive.manager import for_adaptive_scheduler
    >>> @hpcflow.func("y")
    ... def f(x, c):
    ...     return c * x
    >>> s = for_adaptive_scheduler(
    ...     hpcflow.Pipeline([f]), tempfile.mkdtemp(), learners=adaptive.Learner1D(None, (-1, 1)),
    ...     learn={"x": "y"}, inputs={"c": 2.0}, max_points=10)
    >>> s.learners[0].function(0.5), [p.name for p in s.fnames]
    (1.0, ['learner-0.pickle'])
    """
    ad = require_adaptive()
    spec = LearnSpec.parse(learn)
    goals = Goals(loss_goal, max_points)
    if loss_goal is None and max_points is None:
        raise InputError("give loss_goal or max_points: the goal of every learner")
    many = list(learners) if isinstance(learners, Sequence) else [learners]
    per = (
        [dict(inputs or {})] * len(many)
        if inputs is None or isinstance(inputs, Mapping)
        else [dict(d) for d in inputs]
    )
    if len(per) != len(many):
        raise InputError(f"inputs is a list of {len(per)} dicts for {len(many)} learners")
    out = []
    for learner, fixed in zip(many, per, strict=True):
        check_learner(learner, spec, fixed)
        seq = isinstance(learner, ad.SequenceLearner)
        fn = PointFunction(pipeline, spec, fixed, seq)
        if seq:
            new = ad.SequenceLearner(fn, learner.sequence)
        else:
            new = learner.new()
            new.function = fn
        out.append(new)
    base = Path(folder).absolute()
    base.mkdir(parents=True, exist_ok=True)
    fnames = [base / f"learner-{i}.pickle" for i in range(len(out))]

    def goal(learner: Any) -> bool:
        return goals.reached(learner, 0) is not None

    res = pipeline.default_resources
    sched: dict[str, Any] = {"log_folder": str(base / "logs"), "batch_folder": str(base)}
    if res is not None and res.partition:
        sched["partition"] = res.partition
    # adaptive-scheduler writes these into the working directory unless told otherwise
    manager = {
        "goal": goal,
        "db_fname": str(base / "adaptive-scheduler-database.json"),
        "move_old_logs_to": str(base / "old_logs"),
    }
    return AdaptiveSchedulerSetup(out, fnames, manager, sched)
