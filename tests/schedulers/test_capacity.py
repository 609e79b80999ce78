"""`Scheduler.capacity` of each backend: slots and longest task time for a resource shape.

SLURM reads ``sinfo`` outputs recorded on the mini cluster (``tests/data/slurm/README.txt``)
through a stand-in ``sinfo`` on ``PATH``; heterogeneous and GPU partitions, which the mini
cluster cannot show, are hand-written lines in sinfo's format. The contract part
(cached, monotone in cpus, ``slots=0`` when too big) is in `SchedulerContract`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.errors import InputError, SchedulerError
from hpcflow.schedulers.base import Capacity, Scheduler, tasks_per_node
from hpcflow.schedulers.local import LocalScheduler
from hpcflow.schedulers.pbs import PbsScheduler, TorqueScheduler
from hpcflow.schedulers.slurm import (
    NodeGroup,
    SlurmScheduler,
    parse_sinfo,
    parse_sinfo_gpus,
    parse_sinfo_time,
)
from hpcflow.spec.resources import Resources
from hpcflow.testing import FakeScheduler
from tests.schedulers.fakes import FakeCommands

DATA = Path(__file__).parents[1] / "data" / "slurm"
MB = 1024**2

# Not recorded (the mini cluster has one node shape and no GPUs): sinfo's format with
# --exact, one row per node shape of a partition.
HETEROGENEOUS = (
    "cpu*|10|32|128000|(null)|2-00:00:00\n"
    "cpu*|4|64|256000+|(null)|2-00:00:00\n"
    "gpu|2|64|512000|gpu:a100:4(S:0-1)|12:00:00\n"
    "gpu|1|32|256000|gpu:2,mps:100|12:00:00\n"
)


def read(name: str) -> str:
    return (DATA / name).read_text()


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeCommands:
    return FakeCommands(tmp_path, monkeypatch)


# -- parsers -------------------------------------------------------------------------------


def test_parse_sinfo_recorded_default_cluster() -> None:
    parts = parse_sinfo(read("sinfo_partitions.txt"))
    assert sorted(parts) == ["debug", "urgent"]
    debug = parts["debug"]
    assert debug.default and not parts["urgent"].default
    assert debug.groups == (NodeGroup(nodes=3, cpus=2, memory=4000 * MB, gpus=0),)
    assert debug.max_seconds is None  # "infinite"


def test_parse_sinfo_recorded_time_limits() -> None:
    parts = parse_sinfo(read("sinfo_partitions_limits.txt"))
    limits = {name: p.max_seconds for name, p in parts.items()}
    assert limits == {
        "debug": 30 * 60,  # MaxTime=30 prints "30:00"
        "urgent": None,
        "short": 86400,  # "1-00:00:00"
        "long": (2 * 24 + 12) * 3600 + 30 * 60,  # "2-12:30:00"
        "tiny": 5 * 60,  # MaxTime=5 prints "5:00" (MM:SS)
    }
    assert [g.nodes for g in parts["long"].groups] == [2]


def test_parse_sinfo_rows_of_one_partition_are_summed() -> None:
    parts = parse_sinfo(HETEROGENEOUS)
    cpu, gpu = parts["cpu"], parts["gpu"]
    assert [(g.nodes, g.cpus, g.memory) for g in cpu.groups] == [
        (10, 32, 128000 * MB),
        (4, 64, 256000 * MB),  # "256000+": the group's minimum
    ]
    assert cpu.slots(Resources()) == 10 * 32 + 4 * 64
    assert cpu.slots(Resources(cpus=16, memory="100000MB")) == 10 * 1 + 4 * 2
    assert [g.gpus for g in gpu.groups] == [4, 2]
    assert gpu.slots(Resources(gpus=1)) == 2 * 4 + 1 * 2
    assert gpu.slots(Resources(gpus=3)) == 2  # only the 4-GPU nodes hold one
    assert cpu.slots(Resources(gpus=1)) == 0
    assert gpu.max_seconds == 12 * 3600


def test_parse_sinfo_multi_node_tasks() -> None:
    cpu = parse_sinfo(HETEROGENEOUS)["cpu"]
    assert cpu.slots(Resources(nodes=2)) == (10 + 4) // 2
    assert cpu.slots(Resources(nodes=2, cpus_per_node=48)) == 4 // 2


@pytest.mark.parametrize(
    "line",
    ["debug*|3|2|4000|(null)", "debug*|x|2|4000|(null)|infinite", "a|1|2|4000|(null)|soon"],
)
def test_parse_sinfo_refuses_malformed_lines(line: str) -> None:
    with pytest.raises(SchedulerError, match="sinfo"):
        parse_sinfo(line + "\n")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("infinite", None),
        ("UNLIMITED", None),
        ("1-00:00:00", 86400),
        ("2-12:30:00", 217800),
        ("12:00:00", 43200),
        ("30:00", 1800),
        ("45", 2700),
    ],
)
def test_parse_sinfo_time(text: str, seconds: int | None) -> None:
    assert parse_sinfo_time(text) == seconds


def test_parse_sinfo_gpus() -> None:
    assert parse_sinfo_gpus("(null)") == 0
    assert parse_sinfo_gpus("gpu:tesla:2(S:0-1)") == 2
    assert parse_sinfo_gpus("mps:100,gpu:8") == 8


def test_tasks_per_node_takes_the_tightest_resource() -> None:
    node = {"cpus": 64, "memory": 256 * 1024**3, "gpus": 4}
    assert tasks_per_node(Resources(cpus=4), **node) == 16
    assert tasks_per_node(Resources(cpus=4, memory="64GB"), **node) == 4
    assert tasks_per_node(Resources(cpus=4, gpus=2), **node) == 2
    assert tasks_per_node(Resources(cpus=4, cpus_per_node=4), **node) == 4


# -- SLURM -----------------------------------------------------------------------------------


def test_slurm_capacity_one_sinfo_call(fake: FakeCommands) -> None:
    fake.set("sinfo", stdout=read("sinfo_partitions_limits.txt"))
    scheduler = SlurmScheduler()
    assert scheduler.calls == {}  # lazily: nothing asked at construction
    cap = scheduler.capacity(Resources())
    assert cap == Capacity(
        6, 1800, "sinfo -p debug: 3 nodes x 2 CPUs, 4000 MB each; MaxTime 1800 s"
    )
    assert scheduler.capacity(Resources(partition="short", cpus=2)).slots == 1
    assert scheduler.capacity(Resources(partition="long", memory="3GB")).slots == 2
    assert scheduler.capacity(Resources(partition="urgent")).max_task_seconds is None
    assert fake.argvs() == [["sinfo", "--noheader", "--exact", "--format=%P|%D|%c|%m|%G|%l"]]
    assert scheduler.calls == {"sinfo": 1}


def test_slurm_capacity_partition_option_and_override(fake: FakeCommands) -> None:
    fake.set("sinfo", stdout=read("sinfo_partitions_limits.txt"))
    scheduler = SlurmScheduler(partition="tiny")
    assert scheduler.capacity(Resources()).source.startswith("sinfo -p tiny: 1 node x 2 CPUs")
    assert scheduler.capacity(Resources()).max_task_seconds == 300
    assert scheduler.capacity(Resources(partition="long")).max_task_seconds == 217800


def test_slurm_capacity_too_big_is_zero(fake: FakeCommands) -> None:
    fake.set("sinfo", stdout=read("sinfo_partitions.txt"))
    scheduler = SlurmScheduler()
    assert scheduler.capacity(Resources(cpus=3)).slots == 0
    assert scheduler.capacity(Resources(memory="5GB")).slots == 0
    assert scheduler.capacity(Resources(gpus=1)).slots == 0


def test_slurm_capacity_unknown_partition(fake: FakeCommands) -> None:
    fake.set("sinfo", stdout=read("sinfo_partitions.txt"))
    with pytest.raises(InputError, match=r"'nosuch' is not one of .*: debug, urgent"):
        SlurmScheduler(partition="nosuch").capacity(Resources())


def test_slurm_capacity_no_default_partition(fake: FakeCommands) -> None:
    fake.set("sinfo", stdout="a|1|2|4000|(null)|infinite\n")
    with pytest.raises(InputError, match="no default partition"):
        SlurmScheduler().capacity(Resources())
    assert SlurmScheduler().capacity(Resources(partition="a")).slots == 2


def test_slurm_capacity_sinfo_fails(fake: FakeCommands) -> None:
    # two of the lines sinfo printed on this machine with no cluster configured
    stderr = (
        "sinfo: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host\n"
        "sinfo: fatal: Could not establish a configuration source\n"
    )
    fake.set("sinfo", stderr=stderr, rc=1)
    with pytest.raises(SchedulerError, match="sinfo .* exited 1"):
        SlurmScheduler().capacity(Resources())
    fake.set("sinfo", stdout="garbage\n")
    with pytest.raises(SchedulerError, match="cannot read sinfo line"):
        SlurmScheduler().capacity(Resources())


# -- local, PBS, fake ------------------------------------------------------------------------


def test_local_capacity(tmp_path: Path) -> None:
    scheduler = LocalScheduler(state_dir=tmp_path / "state", cpus=8, memory="16GB")
    assert scheduler.capacity(Resources()) == Capacity(
        8, None, f"local scheduler at {tmp_path / 'state'}: cpus=8, memory=16 GiB"
    )
    assert scheduler.capacity(Resources(cpus=3)).slots == 2
    assert scheduler.capacity(Resources(cpus=2, memory="6GB")).slots == 2
    assert scheduler.capacity(Resources(memory="32GB")).slots == 0
    assert scheduler.capacity(Resources(nodes=2)).slots == 0
    assert scheduler.capacity(Resources(gpus=1)).slots == 8  # GPUs are not counted
    assert scheduler.calls == {}
    assert not (tmp_path / "state").exists()


@pytest.mark.parametrize("cls", [PbsScheduler, TorqueScheduler])
def test_pbs_capacity_from_options(cls: type[PbsScheduler | TorqueScheduler]) -> None:
    assert cls().capacity(Resources()) == Capacity(
        None, None, f"{cls.name} options for the default queue: slots=None, max_walltime=None"
    )
    scheduler = cls(queue="workq", slots=40, max_walltime="48:00:00")
    cap = scheduler.capacity(Resources(partition="long", cpus=8))
    assert (cap.slots, cap.max_task_seconds) == (40, 172800)
    assert cap.source == f"{cls.name} options for long: slots=40, max_walltime=172800 s"
    assert scheduler.calls == {}
    rebuilt = cls(**scheduler.options())
    assert rebuilt.capacity(Resources()) == scheduler.capacity(Resources())


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"slots": 0}, "slots=0"),
        ({"slots": True}, "slots=True"),
        ({"max_walltime": "soon"}, "max_walltime"),
        ({"max_walltime": -1}, "max_walltime"),
    ],
)
def test_pbs_capacity_options_are_validated(options: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match):
        PbsScheduler(**options)  # type: ignore[arg-type]


def test_fake_capacity() -> None:
    assert FakeScheduler().capacity(Resources()).slots is None
    fake = FakeScheduler(slots=4, max_task_seconds=60.5)
    assert fake.capacity(Resources(cpus=99)) == Capacity(4, 60.5, "fake scheduler options")
    assert FakeScheduler(**fake.options()).capacity(Resources()).slots == 4
    with pytest.raises(InputError, match="slots"):
        FakeScheduler(slots=-1)
    with pytest.raises(InputError, match="max_task_seconds"):
        FakeScheduler(max_task_seconds=0)


def test_default_capacity_is_unknown() -> None:
    class Minimal(FakeScheduler):
        capacity = Scheduler.capacity

    assert Minimal().capacity(Resources()) == Capacity(None, None, "unknown for this scheduler")
