"""Adaptive sweeps: python-adaptive learners choose the points, hpcflow computes them.

A campaign runs in rounds. Each round asks the learner for a batch of points,
evaluates them as one ordinary hpcflow run over a 1-D axis of points, and tells the
learner the results, until a goal (``loss_goal``, ``max_points``, ``max_rounds``) is
reached. `run` does it in this process; `submit` does it on a batch system with no
process kept alive: each round is a job array, followed by a 1-CPU job that tells the
learner and submits the next round. Needs the ``adaptive`` extra
(``pip install -e '.[adaptive]'`` in the hpcflow checkout); see ``docs/adaptive.md``. `for_adaptive_scheduler`
turns a pipeline into learners for adaptive-scheduler's live run manager instead.

>>> import math, adaptive, hpcflow
>>> @hpcflow.func("y")
... def f(x):
...     return math.tanh(5 * x)
>>> learner = hpcflow.adaptive.run(
...     hpcflow.Pipeline([f]), learner=adaptive.Learner1D(None, bounds=(-1, 1)),
...     learn={"x": "y"}, points_per_round=8, loss_goal=0.05)
>>> bool(learner.loss() <= 0.05)
True
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from hpcflow.adaptive.campaign import Campaign, CampaignStatus, resume, submit
    from hpcflow.adaptive.local import run
    from hpcflow.adaptive.manager import AdaptiveSchedulerSetup, for_adaptive_scheduler
    from hpcflow.adaptive.results import load, load_dataframe

__all__ = [
    "AdaptiveSchedulerSetup",
    "Campaign",
    "CampaignStatus",
    "for_adaptive_scheduler",
    "load",
    "load_dataframe",
    "resume",
    "run",
    "submit",
]

# imported on first use: the submission layer is not needed by a local campaign
_LAZY = {
    "Campaign": "hpcflow.adaptive.campaign",
    "CampaignStatus": "hpcflow.adaptive.campaign",
    "resume": "hpcflow.adaptive.campaign",
    "submit": "hpcflow.adaptive.campaign",
    "run": "hpcflow.adaptive.local",
    "AdaptiveSchedulerSetup": "hpcflow.adaptive.manager",
    "for_adaptive_scheduler": "hpcflow.adaptive.manager",
    "load": "hpcflow.adaptive.results",
    "load_dataframe": "hpcflow.adaptive.results",
}


def __getattr__(name: str) -> _typing.Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'hpcflow.adaptive' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
