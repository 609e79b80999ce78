"""A campaign's results: the learner (`load`) and one row per point (`load_dataframe`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpcflow.adaptive._folder import CampaignFolder
from hpcflow.adaptive._learn import MISSING, LearnSpec, coordinates, values_of
from hpcflow.element.snapshots import is_error
from hpcflow.errors import InputError
from hpcflow.runfolder.results import load_outputs

__all__ = ["load", "load_dataframe"]


def load(run_folder: str | Path) -> Any:
    """The learner of the campaign in ``run_folder``, told every round told so far.

    Works while the campaign runs (the learner of the last round told) and after it
    ended; use it for ``learner.plot()``, ``learner.loss()``, ``learner.data``.
    """
    learner, _ = CampaignFolder(run_folder).read_learner()
    return learner


def load_dataframe(run_folder: str | Path) -> Any:
    """One row per point computed: its coordinates, outputs, round and learner.

    Columns: the learned input names, ``learner`` (the index in a ``BalancingLearner``,
    else 0), the per-learner inputs of a ``BalancingLearner`` given them, ``round``, every output of the rounds' runs (a failed element holds its
    `hpcflow.ErrorSnapshot`), and ``failed``. Points never computed (a round cancelled
    half-way) are left out. Needs pandas (``pip install pandas``).
    """
    try:
        import pandas as pd
    except ImportError:
        raise InputError(
            "load_dataframe needs pandas; install it with pip install pandas"
        ) from None
    folder = CampaignFolder(run_folder)
    record = folder.read()
    spec = LearnSpec.from_dict(record["learn"])
    learner, _ = folder.read_learner()
    inputs = folder.read_spec()["inputs"]
    per_learner = inputs if isinstance(inputs, list) else None
    rows: list[dict[str, Any]] = []
    for entry in record["rounds"]:
        k = entry["index"]
        sub = folder.round_path(k)
        if not (sub / "run.json").exists() or not folder.points_path(k).exists():
            continue  # asked, not yet computed
        points = folder.read_points(k)
        outputs = _outputs(sub)
        for i, p in enumerate(points):
            vals = {name: vs[i] for name, vs in outputs.items()}
            if vals.get(spec.output) is MISSING:
                continue
            row = dict(zip(spec.coords, coordinates(learner, p, len(spec.coords)), strict=True))
            row["learner"] = int(p[0]) if _balancing(learner) else 0
            if per_learner is not None:  # each learner's own inputs
                row.update(per_learner[row["learner"]])
            row["round"] = k
            row.update({n: (None if v is MISSING else v) for n, v in vals.items()})
            row["failed"] = is_error(vals.get(spec.output))
            rows.append(row)
    return pd.DataFrame(rows)


def _outputs(sub: Path) -> dict[str, list[Any]]:
    """Every array output of one round's run, element by element (missing: `MISSING`)."""
    import json

    names = sorted(json.loads((sub / "run.json").read_text()).get("arrays", {}))
    out: dict[str, list[Any]] = {}
    for name in names:
        out[name] = values_of(load_outputs(name, run_folder=sub))
    return out


def _balancing(learner: Any) -> bool:
    from hpcflow.adaptive._extra import require_adaptive

    return isinstance(learner, require_adaptive().BalancingLearner)
