"""Fast by default: chunk sizes from the cluster's capacity, per-task time limits."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hpcflow import Func, InputError, Pipeline, Resources, func
from hpcflow.runfolder.layout import RunFolder
from hpcflow.schedulers.slurm import SlurmScheduler
from hpcflow.submission.chunking import ChunkChooser
from hpcflow.testing import FakeScheduler
from tests.schedulers.fakes import FakeCommands

DATA = Path(__file__).parents[1] / "data" / "slurm"


@func("y", mapspec="x[i] -> y[i]")
def double(x: int) -> int:
    return 2 * x


@func("z", mapspec="y[i] -> z[i]")
def inc(y: int) -> int:
    return y + 1


def _arrays(plan: object) -> list[tuple[str, int, int]]:
    return [(a.stage, a.n_tasks, a.n_elements) for a in plan.arrays]  # type: ignore[attr-defined]


def test_unknown_element_cost_makes_a_few_tasks_per_slot(tmp_path: Path) -> None:
    plan = Pipeline([double]).plan(
        {"x": list(range(3000))}, tmp_path, scheduler=FakeScheduler(slots=6)
    )
    assert _arrays(plan) == [("y", 12, 3000)]  # 2 waves of the 6 slots, not 1,000 tasks
    assert "6 slots x 2 waves = 12 tasks" in str(plan)


def test_a_known_element_time_keeps_tasks_long_enough(tmp_path: Path) -> None:
    fast = double.replace(element_time=0.02)
    plan = Pipeline([fast]).plan(
        {"x": list(range(3000))}, tmp_path, scheduler=FakeScheduler(slots=6)
    )
    # 60 s of work on 6 slots: one wave of 6 tasks, not 12 tasks of 5 s
    assert _arrays(plan) == [("y", 6, 3000)]
    assert "element_time given" in str(plan)


def test_max_parallel_caps_the_slots(tmp_path: Path) -> None:
    plan = Pipeline([double]).plan(
        {"x": list(range(3000))}, tmp_path, scheduler=FakeScheduler(slots=600), max_parallel=2
    )
    assert _arrays(plan) == [("y", 4, 3000)]


def test_capacity_unknown_falls_back_to_at_most_1000_tasks(tmp_path: Path) -> None:
    plan = Pipeline([double]).plan({"x": list(range(5000))}, tmp_path, scheduler=FakeScheduler())
    assert _arrays(plan) == [("y", 1000, 5000)]
    assert "capacity unknown" in str(plan)


def test_the_user_chunksize_wins(tmp_path: Path) -> None:
    plan = Pipeline([double]).plan(
        {"x": list(range(100))}, tmp_path, scheduler=FakeScheduler(slots=6), chunksizes=7
    )
    assert _arrays(plan) == [("y", 15, 100)]
    assert "chunksizes=7 given" in str(plan)


def test_a_task_asks_for_the_walltime_of_all_its_elements(tmp_path: Path) -> None:
    # documented per element: a task of 5 elements of 10 minutes must not get 10 minutes
    slow = double.replace(resources=Resources(walltime="0:10:00"))
    sched = SlurmScheduler()
    plan = Pipeline([slow]).plan(
        {"x": list(range(500))}, tmp_path, scheduler=sched, chunksizes=5, task_margin=60
    )
    (array,) = plan.arrays
    assert "#SBATCH --time=0-00:51:00" in array.script  # 5 x 10 min + 1 min margin
    assert "time limit per task: 0:51:00" in str(plan)


def test_fused_tasks_ask_for_the_walltime_of_every_func(tmp_path: Path) -> None:
    res = Resources(walltime=100)
    p = Pipeline([double.replace(resources=res), inc.replace(resources=res)])
    plan = p.plan(
        {"x": list(range(10))}, tmp_path, scheduler=FakeScheduler(), chunksizes=2, task_margin=7
    )
    (array,) = plan.arrays
    assert array.fused == ["z"]
    assert array.task_resources is not None and array.task_resources.walltime == 2 * 2 * 100 + 7


def test_max_task_walltime_bounds_the_elements_per_task(tmp_path: Path) -> None:
    slow = double.replace(resources=Resources(walltime="0:10:00"))
    plan = Pipeline([slow]).plan(
        {"x": list(range(100))}, tmp_path, scheduler=FakeScheduler(slots=2),
        max_task_walltime="1:00:00", task_margin=0,
    )  # fmt: skip
    (array,) = plan.arrays
    assert array.n_tasks == 17  # at most 6 elements of 10 minutes per hour
    assert array.task_resources is not None and array.task_resources.walltime <= 3600


def test_an_element_longer_than_the_task_limit_is_refused_before_submitting(
    tmp_path: Path,
) -> None:
    slow = double.replace(resources=Resources(walltime="2:00:00"))
    fake = FakeScheduler(slots=2, max_task_seconds=3600)
    with pytest.raises(InputError, match=r"7200 s of walltime.*limit of 3600 s"):
        Pipeline([slow]).submit({"x": [1, 2]}, tmp_path / "run", scheduler=fake)
    assert fake.requests == {} and not (tmp_path / "run" / "run.json").exists()


def test_resources_no_node_can_hold_are_refused(tmp_path: Path) -> None:
    big = double.replace(resources=Resources(cpus=64))
    with pytest.raises(InputError, match=r"'double' asks for 64 CPUs per task, which no node"):
        Pipeline([big]).plan({"x": [1]}, tmp_path, scheduler=FakeScheduler(slots=0))


def test_slurm_capacity_comes_from_one_sinfo_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCommands(tmp_path, monkeypatch)
    fake.set("sinfo", (DATA / "sinfo_partitions.txt").read_text())
    fake.set("scontrol", (DATA / "scontrol_show_config.txt").read_text())
    sched = SlurmScheduler()
    plan = Pipeline([double, inc]).plan(
        {"x": list(range(3000))}, tmp_path / "run", scheduler=sched, chunksizes=None
    )
    # the mini cluster: 3 nodes x 2 CPUs; y and z fused into one array of 12 tasks
    assert _arrays(plan) == [("y", 12, 3000)]
    assert sorted(argv[0] for argv in fake.argvs()) == ["scontrol", "sinfo"]  # once each


def test_later_rounds_use_the_element_times_this_run_measured(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path)
    markers = folder.marker_folder(("y",))
    markers.mkdir(parents=True)
    for k in range(3):  # three chunks of 100 elements, 2 s each: 20 ms per element
        record = {"ok": 100, "failed": [], "propagated": [], "skipped": 0, "elapsed": 2.0}
        (markers / f"{k * 100}-{(k + 1) * 100}.json").write_text(json.dumps(record))
    chooser = ChunkChooser(
        None, FakeScheduler(slots=6), {}, pipeline=Pipeline([double]), folder=folder
    )
    decision = chooser.decide(double, 3000)
    assert (decision.chunksize, decision.n_tasks) == (500, 6)
    assert re.search("measured by this run", decision.reason)


def test_bad_submit_options_name_themselves(tmp_path: Path) -> None:
    p = Pipeline([double])
    for kwargs, name in (
        ({"fuse": "yes"}, "fuse"),
        ({"max_task_walltime": "soon"}, "max_task_walltime"),
        ({"min_task_time": -1}, "min_task_time"),
        ({"task_margin": -5}, "task_margin"),
    ):
        with pytest.raises(InputError, match=name):
            p.plan({"x": [1]}, tmp_path, scheduler=FakeScheduler(), **kwargs)


def test_element_time_is_validated() -> None:
    with pytest.raises(ValueError, match="element_time"):
        Func(lambda x: x, "y", element_time=0)
    assert Func(lambda x: x, "y", element_time="1:30").element_time == 90.0


def test_tasks_keep_the_block_size_of_storage_made_in_an_earlier_round(tmp_path: Path) -> None:
    # zarr stores values in fixed blocks and a task must write whole blocks: a later
    # round (which may measure other element times) keeps the size the storage has
    from hpcflow.element.openrun import OpenRun
    from hpcflow.submission.rounds import Round

    fake = FakeScheduler(slots=6)
    orun = OpenRun(
        Pipeline([double]), {"x": list(range(100))}, tmp_path, storage="zarr_file_array",
        chunk_size=lambda f, n: 7,
    )  # fmt: skip
    orun.allocate(double)
    chooser = ChunkChooser(None, fake, {}, pipeline=orun.pipeline)
    assert chooser.decide(double, 100).chunksize != 7
    settings = {"run_id": "r", "max_parallel": None, "workdir": str(tmp_path)}
    planner = Round(orun, RunFolder(tmp_path), fake, settings, chooser, index=0, dry_run=True)
    planner.run()
    (array,) = planner.arrays
    assert (array.n_tasks, array.chunking) == (
        15,
        "7 elements: the block size its storage was made with",
    )
