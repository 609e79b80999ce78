"""What a campaign learns: the ``learn`` mapping, learner points as pipeline inputs, goals.

A learner point becomes one element of a 1-D *point axis* of the pipeline: the learned
input names (and, for a `BalancingLearner` with per-learner inputs, those inputs) are
mapped over that axis, so one round of ``n`` points is one ordinary run of ``n``
elements. A pipeline already mapped over the learned inputs on one shared axis is used
as is; unmapped learned inputs are mapped with `hpcflow.Pipeline.add_mapspec_axis`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hpcflow.adaptive._extra import require_adaptive
from hpcflow.element.snapshots import is_error
from hpcflow.errors import InputError
from hpcflow.spec.pipeline import Pipeline

__all__ = [
    "MISSING",
    "POINT_AXIS",
    "Goals",
    "LearnSpec",
    "ask_points",
    "learner_done",
    "prepare_pipeline",
    "round_inputs",
    "tell_round",
]

# the axis added to a pipeline whose learned inputs are not mapped yet
POINT_AXIS = "adaptive_point"


@dataclass(frozen=True)
class LearnSpec:
    """``learn={"x": "y"}`` or ``learn={("x", "y"): "z"}``: coordinates -> the output told.

    Examples
    --------
    >>> LearnSpec.parse({("x", "y"): "z"})
    LearnSpec(coords=('x', 'y'), output='z')
    """

    coords: tuple[str, ...]
    output: str

    @classmethod
    def parse(cls, learn: Any) -> LearnSpec:
        if not isinstance(learn, Mapping) or len(learn) != 1:
            raise InputError(
                f"learn={learn!r} must be a dict of one entry: {{'x': 'y'}} (a coordinate "
                "input -> the output told to the learner) or {('x', 'y'): 'z'}"
            )
        ((key, output),) = learn.items()
        coords = key if isinstance(key, tuple) else (key,)
        if not coords or not all(isinstance(c, str) and c for c in coords):
            raise InputError(f"learn={learn!r}: the coordinates must be input names (strings)")
        if not isinstance(output, str):
            raise InputError(f"learn={learn!r}: the output must be one output name")
        if len(set(coords)) != len(coords):
            raise InputError(f"learn={learn!r} names a coordinate twice")
        return cls(tuple(coords), output)

    def to_dict(self) -> dict[str, Any]:
        return {"coords": list(self.coords), "output": self.output}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LearnSpec:
        return cls(tuple(d["coords"]), str(d["output"]))


@dataclass(frozen=True)
class Goals:
    """When a campaign stops: whichever goal is reached first (``None``: not a goal)."""

    loss_goal: float | None = None
    max_points: int | None = None
    max_rounds: int | None = None

    def __post_init__(self) -> None:
        if self.loss_goal is not None and (
            isinstance(self.loss_goal, bool)
            or not isinstance(self.loss_goal, int | float)
            or not self.loss_goal >= 0
        ):
            raise InputError(f"loss_goal={self.loss_goal!r} must be a number >= 0 or None")
        for name in ("max_points", "max_rounds"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise InputError(f"{name}={v!r} must be an int >= 1 or None")

    def check_learner(self, learner: Any) -> None:
        """Refuse a campaign that would never end: no goal, and a learner that never finishes."""
        if (self.loss_goal, self.max_points, self.max_rounds) == (None, None, None) and not all(
            callable(getattr(sub, "done", None)) for sub in _subs(learner)
        ):
            raise InputError(
                f"{type(learner).__name__} never runs out of points: give loss_goal, "
                "max_points or max_rounds"
            )

    def reached(self, learner: Any, n_rounds: int) -> str | None:
        """Why the campaign is done after ``n_rounds`` rounds, or ``None`` to go on."""
        loss = current_loss(learner)
        if self.loss_goal is not None and loss is not None and loss <= self.loss_goal:
            return f"loss {loss:.4g} <= loss_goal {self.loss_goal}"
        if self.max_points is not None and int(learner.npoints) >= self.max_points:
            return f"{learner.npoints} points >= max_points {self.max_points}"
        if self.max_rounds is not None and n_rounds >= self.max_rounds:
            return f"{n_rounds} rounds >= max_rounds {self.max_rounds}"
        if learner_done(learner):
            return "the learner has no points left"
        return None

    def points_left(self, learner: Any, points_per_round: int) -> int:
        """How many points the next round asks for."""
        if self.max_points is None:
            return points_per_round
        return max(0, min(points_per_round, self.max_points - int(learner.npoints)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss_goal": self.loss_goal,
            "max_points": self.max_points,
            "max_rounds": self.max_rounds,
        }


def _subs(learner: Any) -> list[Any]:
    """The learners a `BalancingLearner` balances, or ``[learner]``."""
    ad = require_adaptive()
    return list(learner.learners) if isinstance(learner, ad.BalancingLearner) else [learner]


def learner_done(learner: Any) -> bool:
    """Whether ``learner`` (each learner of a balancing one) has finished (``done()``)."""
    subs = _subs(learner)
    return all(callable(getattr(sub, "done", None)) and sub.done() for sub in subs)


def ask_points(learner: Any, n: int) -> list[Any]:
    """The next ``n`` points of ``learner`` (fewer when it has fewer left).

    A `BalancingLearner` of ``SequenceLearner``s is asked learner by learner, in turn:
    python-adaptive's own ``ask`` raises ``IndexError`` once one sequence is exhausted.
    """
    ad = require_adaptive()
    subs = _subs(learner)
    if not isinstance(learner, ad.BalancingLearner) or not all(
        isinstance(s, ad.SequenceLearner) for s in subs
    ):
        return list(learner.ask(n)[0])
    out: list[Any] = []
    while len(out) < n:
        before = len(out)
        for i, sub in enumerate(subs):
            if len(out) < n:
                out.extend((i, p) for p in sub.ask(1)[0])
        if len(out) == before:
            break
    return out


def current_loss(learner: Any) -> float | None:
    """``learner.loss()`` as a float (``None`` when it cannot say yet, e.g. no data)."""
    try:
        loss = float(learner.loss())
    except (ValueError, ZeroDivisionError, TypeError, IndexError):
        return None
    return None if math.isnan(loss) else loss


def check_learner(learner: Any, spec: LearnSpec, inputs: Any) -> None:
    """Refuse learners hpcflow does not drive, and per-learner inputs of a non-balancing one."""
    ad = require_adaptive()
    kinds = (ad.Learner1D, ad.Learner2D, ad.LearnerND, ad.SequenceLearner)
    for sub in _subs(learner):
        if not isinstance(sub, kinds):
            raise InputError(
                f"learner {type(sub).__name__} is not supported; use Learner1D, Learner2D, "
                "LearnerND, SequenceLearner or a BalancingLearner of these"
            )
        dims = 1 if isinstance(sub, ad.Learner1D) else getattr(sub, "ndim", None)
        if isinstance(sub, ad.Learner2D):
            dims = 2
        if (
            dims is not None
            and not isinstance(sub, ad.SequenceLearner)
            and dims != len(spec.coords)
        ):
            raise InputError(
                f"learn names {len(spec.coords)} coordinates {spec.coords} but "
                f"{type(sub).__name__} learns {dims}; give learn={{{spec.coords!r}: "
                f"{spec.output!r}}} one input name per dimension"
            )
    if not isinstance(inputs, Mapping):
        if not isinstance(learner, ad.BalancingLearner) or not isinstance(inputs, Sequence):
            raise InputError(
                "inputs must be a dict of the fixed root inputs (a list of dicts, one per "
                "learner, only for a BalancingLearner)"
            )
        if len(inputs) != len(learner.learners) or not all(isinstance(d, Mapping) for d in inputs):
            raise InputError(
                f"inputs is a list of {len(inputs)} entries for a BalancingLearner of "
                f"{len(learner.learners)} learners: give one dict per learner"
            )
    for d in [inputs] if isinstance(inputs, Mapping) else inputs:
        clash = set(spec.coords) & set(d)
        if clash:
            raise InputError(
                f"inputs names {sorted(clash)}, which the learner chooses (learn); remove them"
            )


def varying_inputs(inputs: Any) -> tuple[str, ...]:
    """Names of per-learner inputs (sorted): each is mapped over the point axis."""
    if isinstance(inputs, Mapping):
        return ()
    names = sorted({k for d in inputs for k in d})
    missing = [k for k in names if not all(k in d for d in inputs)]
    if missing:
        raise InputError(
            f"per-learner inputs {missing} are missing for some learners; give every "
            "learner's dict the same names"
        )
    return tuple(names)


def prepare_pipeline(pipeline: Pipeline, spec: LearnSpec, mapped: Sequence[str]) -> Pipeline:
    """``pipeline`` with ``mapped`` (the coordinates, then varying inputs) on one point axis.

    Raises `InputError` when the learned output is not one value per point.
    """
    if not isinstance(pipeline, Pipeline):
        raise InputError(f"pipeline must be a hpcflow.Pipeline, got {type(pipeline).__name__}")
    roots = (
        set(pipeline.root_args([spec.output])) if spec.output in pipeline.output_to_func else None
    )
    if roots is None:
        raise InputError(
            f"learn asks for output {spec.output!r}, which no func of the pipeline returns; "
            f"outputs are {sorted(pipeline.output_to_func)}"
        )
    for name in mapped:
        if name not in roots:
            raise InputError(
                f"learned input {name!r} is not a root input that {spec.output!r} depends on; "
                f"its root inputs are {sorted(roots)}"
            )
    axes = pipeline.mapspec_axes
    have = {axes[n] for n in mapped if n in axes}
    if len(have) > 1 or any(len(a) != 1 for a in have):
        raise InputError(
            f"the learned inputs {list(mapped)} must share one mapspec axis (e.g. "
            f"'x[i], y[i] -> z[i]') or be unmapped; they are mapped as "
            f"{ {n: axes[n] for n in mapped if n in axes} }"
        )
    axis = next(iter(have))[0] if have else POINT_AXIS
    todo = [n for n in mapped if n not in axes]
    out = pipeline.add_mapspec_axis(*todo, axis=axis) if todo else pipeline
    got = out.mapspec_axes.get(spec.output)
    if got != (axis,):
        raise InputError(
            f"output {spec.output!r} must be one value per learner point (mapped over axis "
            f"{axis!r} only), but its axes are {got}; make it a scalar per element of the "
            "learned inputs"
        )
    return out


def _split(learner: Any, point: Any) -> tuple[Any, Any, int]:
    """(the sub-learner, its point, the learner's index) for a point of ``learner``."""
    ad = require_adaptive()
    if isinstance(learner, ad.BalancingLearner):
        index, sub = point
        return learner.learners[index], sub, int(index)
    return learner, point, 0


def coordinates(learner: Any, point: Any, n: int) -> tuple[Any, ...]:
    """The ``n`` input values of a learner point (a sequence element is used as is)."""
    ad = require_adaptive()
    sub, p, _ = _split(learner, point)
    if isinstance(sub, ad.SequenceLearner):
        value = p[1]
        if n == 1:
            return (value,)
        return tuple(value)
    if isinstance(sub, ad.Learner1D):
        return (float(p),)
    return tuple(float(v) for v in p)


def round_inputs(
    learner: Any, points: Sequence[Any], spec: LearnSpec, inputs: Any
) -> dict[str, Any]:
    """The inputs of one round's run: mapped coordinates (and varying inputs) per point."""
    n = len(spec.coords)
    out: dict[str, Any] = {}
    shared = inputs if isinstance(inputs, Mapping) else inputs[0]
    varying = varying_inputs(inputs)
    out.update({k: v for k, v in shared.items() if k not in varying})
    cols: list[list[Any]] = [[] for _ in spec.coords]
    for p in points:
        for col, v in zip(cols, coordinates(learner, p, n), strict=True):
            col.append(v)
    out.update(zip(spec.coords, cols, strict=True))
    for k in varying:
        out[k] = [inputs[_split(learner, p)[2]][k] for p in points]
    return out


def tell_round(learner: Any, points: Sequence[Any], values: Sequence[Any]) -> tuple[int, list[Any]]:
    """Tell ``learner`` each computed value; (number told, the points whose element failed).

    A failed element (an `hpcflow.ErrorSnapshot`) is not told: the learner keeps it
    pending, so it is never asked again and the campaign goes on. A missing value
    (``None``, a masked element: never computed, e.g. cancelled) is neither told nor
    counted as failed: the learner may ask it again.
    """
    told: list[tuple[Any, Any]] = []
    failed: list[Any] = []
    for p, v in zip(points, values, strict=True):
        if v is None or v is MISSING:
            continue
        if is_error(v):
            failed.append(p)
            continue
        told.append((p, _plain(v)))
    if told:
        learner.tell_many([p for p, _ in told], [v for _, v in told])
    for p in failed:
        learner.tell_pending(p)
    return len(told), failed


def _plain(value: Any) -> Any:
    """A 0-d numpy value as a Python number (the learners compare and hash values)."""
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        return item()
    return value


class _Masked:
    def __repr__(self) -> str:
        return "<masked>"


# what `values_of` gives for an element that was never computed
MISSING = _Masked()


def values_of(array: Any) -> list[Any]:
    """The elements of a loaded output, with `MISSING` for masked (missing) ones."""
    import numpy as np

    if isinstance(array, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(array)
        data = array.data
        return [MISSING if m else data[i] for i, m in enumerate(mask.tolist())]
    return list(array)
