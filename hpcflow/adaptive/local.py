"""`run`: an adaptive campaign in this process (or on an executor), round by round."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

from hpcflow.adaptive._common import fresh_folder, new_record, record_told, round_entry, setup
from hpcflow.adaptive._learn import ask_points, round_inputs, tell_round, values_of
from hpcflow.spec.pipeline import Pipeline

__all__ = ["run"]


def run(
    pipeline: Pipeline,
    run_folder: str | Path | None = None,
    *,
    learner: Any,
    learn: Mapping[Any, str],
    inputs: Mapping[str, Any] | list[Mapping[str, Any]] | None = None,
    points_per_round: int = 12,
    loss_goal: float | None = None,
    max_points: int | None = None,
    max_rounds: int | None = None,
    executor: Executor | None = None,
    **map_options: Any,
) -> Any:
    """Run an adaptive campaign locally: ask, evaluate with ``pipeline.map``, tell, repeat.

    Each round asks ``learner`` for ``points_per_round`` points (fewer when
    ``max_points`` is near), evaluates them as one run of ``pipeline`` over a 1-D axis
    of points, and tells the learner every result, until a goal is reached.

    Parameters
    ----------
    pipeline
        The pipeline; the learned inputs are mapped over one axis of points (a pipeline
        already mapped over them on one shared axis is used as is).
    run_folder
        ``None``: everything in memory. A folder: each round is the run folder
        ``RUN/rounds/<k>/``, and the learner and ``campaign.json`` are stored after
        every round, so `hpcflow.adaptive.load` and `load_dataframe` work on it.
    learner
        A python-adaptive ``Learner1D``, ``Learner2D``, ``LearnerND``,
        ``SequenceLearner`` or ``BalancingLearner`` of these; its function is not used
        (pass ``None``). It is copied: the learner returned is told, yours is not.
    learn
        ``{"x": "y"}`` (1-D) or ``{("x", "y"): "z"}``: the input names the learner's
        coordinates become, and the scalar output it is told.
    inputs
        The other root inputs, fixed. For a ``BalancingLearner``, a list of dicts (one
        per learner) gives each learner its own inputs; they are mapped per point.
    points_per_round, loss_goal, max_points, max_rounds
        Points per round, and the goals: the campaign stops at the first reached (or
        when the learner has no points left, e.g. a ``SequenceLearner``).
    executor
        A `concurrent.futures.Executor` for the elements; ``None``: in this process.
    **map_options
        Passed to `hpcflow.Pipeline.map` (``chunksizes``, ``storage``, ...).

    Returns
    -------
    The learner, told every computed point. Failed elements are not told: they stay
    pending in the learner (never asked again), and the campaign goes on.

    Examples
    --------
    >>> import math, adaptive, hpcflow
    >>> @hpcflow.func("y")
    ... def f(x, c):
    ...     return math.tanh(c * x)
    >>> learner = hpcflow.adaptive.run(
    ...     hpcflow.Pipeline([f]), learner=adaptive.Learner1D(None, bounds=(-1, 1)),
    ...     learn={"x": "y"}, inputs={"c": 5.0}, points_per_round=10, max_points=30)
    >>> learner.npoints
    30
    """
    s = setup(
        pipeline, learner=learner, learn=learn, inputs=inputs, points_per_round=points_per_round,
        loss_goal=loss_goal, max_points=max_points, max_rounds=max_rounds,
    )  # fmt: skip
    folder = None if run_folder is None else fresh_folder(run_folder)
    record = new_record(s, "local")
    if folder is not None:
        folder.write_spec({"pipeline": s.pipeline, "inputs": s.inputs, "options": map_options})
        folder.write_learner(s.learner, [])
        folder.write(record)
    failed: list[Any] = []
    options = {"error_handling": "continue", **map_options}
    if executor is not None:
        options["executor"] = executor
    else:
        options.setdefault("parallel", False)
    k = 0
    while True:
        reason = s.goals.reached(s.learner, k)
        n = s.goals.points_left(s.learner, s.points_per_round)
        points = ask_points(s.learner, n) if reason is None and n else []
        if reason is not None or not points:
            record.update(state="done", reason=reason or "the learner asked for no points")
            break
        record["rounds"].append(round_entry(k, len(points)))
        sub = None
        if folder is not None:
            folder.write_points(k, points)
            folder.write(record)
            sub = folder.round_path(k)
        results = s.pipeline.map(
            round_inputs(s.learner, points, s.spec, s.inputs), sub,
            output_names=[s.spec.output], **options,
        )  # fmt: skip
        told, bad = tell_round(s.learner, points, values_of(results[s.spec.output].output))
        failed.extend(bad)
        record_told(record, k, s.learner, n_told=told, n_failed=len(bad), total_failed=len(failed))
        if folder is not None:
            folder.write_learner(s.learner, failed)
            folder.write(record)
        k += 1
    if folder is not None:
        folder.write(record)
    return s.learner
