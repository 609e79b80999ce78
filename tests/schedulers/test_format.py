"""The shared formatting of hpcflow.schedulers._format, and option-name validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from hpcflow.errors import InputError
from hpcflow.schedulers._format import (
    LONG_OPTION,
    PBS_OPTION,
    array_range,
    format_duration,
    format_memory,
    format_size_exact,
    option_names,
    task_log_name,
)
from hpcflow.schedulers.pbs import PbsScheduler
from hpcflow.schedulers.slurm import SlurmScheduler
from hpcflow.spec.resources import Resources, parse_memory
from tests.schedulers.fakes import request

HOSTILE = ["comment=x\ntouch /tmp/pwned\n#", "bad name", "mail;type", "", "-", "a=b"]


@pytest.mark.parametrize("seconds", [1, 59, 61, 3599, 3600, 86399, 86400, 93785, 10**7])
def test_durations_agree(seconds: int) -> None:
    days, rest = divmod(seconds, 86400)
    h, m, s = rest // 3600, rest // 60 % 60, rest % 60
    assert format_duration(seconds, "slurm") == f"{days}-{h:02d}:{m:02d}:{s:02d}"
    assert format_duration(seconds, "pbs") == f"{days * 24 + h:02d}:{m:02d}:{s:02d}"
    clock = format_duration(seconds, "clock")
    assert clock == (f"{days}-" if days else "") + f"{h}:{m:02d}:{s:02d}"


@pytest.mark.parametrize("bad", [0, -1])
def test_durations_and_memory_must_be_positive(bad: int) -> None:
    with pytest.raises(InputError, match="walltime"):
        format_duration(bad, "slurm")
    with pytest.raises(InputError, match="memory"):
        format_memory(bad, "M")


@pytest.mark.parametrize("n", [1, 1023, 1024, 5 * 1024**2, 3 * 1024**3 + 1, 2 * 1024**5])
def test_sizes(n: int) -> None:
    assert format_memory(n, "M") == f"{-(-n // 2**20)}M"
    assert parse_memory(format_size_exact(n)) == n


def test_array_range_and_log_name() -> None:
    assert array_range(1) == "0-0"
    assert array_range(3, 1) == "0-2%1"
    with pytest.raises(InputError):
        array_range(0)
    assert task_log_name("12", "3") == "12_3.log"


@pytest.mark.parametrize("name", HOSTILE)
@pytest.mark.parametrize("rule", [LONG_OPTION, PBS_OPTION])
def test_option_rules_refuse_hostile_names(name: str, rule: object) -> None:
    with pytest.raises(InputError, match="option name") as info:
        option_names({name: True}, "extra", rule)  # type: ignore[arg-type]
    assert repr(name) in str(info.value) and "extra" in str(info.value)


@pytest.mark.parametrize("name", HOSTILE)
def test_backends_refuse_hostile_names_at_construction_and_render(
    tmp_path: Path, name: str
) -> None:
    with pytest.raises(InputError, match="extra_sbatch: option name"):
        SlurmScheduler(extra_sbatch={name: True})
    with pytest.raises(InputError, match="extra_directives: option name"):
        PbsScheduler(extra_directives={name: True})
    req = request(tmp_path, resources=Resources(extra={name: True}))
    for scheduler in (SlurmScheduler(), PbsScheduler()):
        with pytest.raises(InputError, match="Resources.extra: option name"):
            scheduler.render(req)
