"""Resources: typed units, validation, merging, callables."""

from __future__ import annotations

from datetime import timedelta

import pytest

from hpcflow import Resources, SpecError
from hpcflow.spec.resources import call_resources, parse_memory, parse_walltime


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("500MB", 500 * 1024**2),
        ("4GB", 4 * 1024**3),
        ("1.5TB", int(1.5 * 1024**4)),
        ("4G", 4 * 1024**3),
        ("2GiB", 2 * 1024**3),
        ("512 mb", 512 * 1024**2),
        ("100", 100),
        (2048, 2048),
    ],
)
def test_memory(text: str | int, expected: int) -> None:
    assert parse_memory(text) == expected


@pytest.mark.parametrize("bad", ["lots", "4XB", "", "-1GB", 0, -5, True, "1.2.3G", 1.5])
def test_bad_memory(bad: object) -> None:
    with pytest.raises(SpecError, match="memory"):
        Resources(memory=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10:00", 600),
        ("1:00:00", 3600),
        ("1-02:00:00", 93600),
        ("2-12", 2 * 86400 + 12 * 3600),
        ("1-00:30", 86400 + 1800),
        (90, 90),
        (0.5, 1),
        (timedelta(hours=2), 7200),
    ],
)
def test_walltime(text: object, expected: int) -> None:
    assert parse_walltime(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "bad", ["forever", "1:99:00", "1:2:3:4", "x-1:00:00", 0, -1, "00:00", True]
)
def test_bad_walltime(bad: object) -> None:
    with pytest.raises(SpecError, match="walltime"):
        Resources(walltime=bad)  # type: ignore[arg-type]


def test_walltimes_compare_as_numbers() -> None:
    assert Resources(walltime="9:00:00").walltime < Resources(walltime="10:00:00").walltime  # type: ignore[operator]


@pytest.mark.parametrize(
    ("field", "value"),
    [("cpus", 0), ("cpus", -2), ("nodes", 0), ("cpus_per_node", 0), ("gpus", -1), ("cpus", 1.5)],
)
def test_bad_counts(field: str, value: object) -> None:
    with pytest.raises(SpecError, match=field):
        Resources(**{field: value})


def test_gpus_zero_is_allowed() -> None:
    assert Resources(gpus=0).gpus == 0


def test_unknown_field_lists_valid_ones_and_suggests() -> None:
    with pytest.raises(SpecError) as info:
        Resources(time="1:00")  # type: ignore[call-arg]
    msg = str(info.value)
    assert "'time'" in msg and "did you mean 'walltime'" in msg and "cpus" in msg
    with pytest.raises(SpecError, match="did you mean 'memory'"):
        Resources(mem="1GB")  # type: ignore[call-arg]


def test_frozen_and_hashable() -> None:
    r = Resources(cpus=2, extra={"exclusive": True})
    with pytest.raises(AttributeError):
        r.cpus = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        r.extra["x"] = 1  # type: ignore[index]
    assert hash(r) == hash(Resources(cpus=2, extra={"exclusive": True}))
    assert len({r, Resources(cpus=2, extra={"exclusive": True}), Resources(cpus=3)}) == 2


def test_defaults_merge_and_explicit_values_win() -> None:
    defaults = Resources(cpus=1, memory="1GB", partition="debug", extra={"a": 1, "b": 2})
    r = Resources(cpus=4, extra={"b": 3}).with_defaults(defaults)
    assert (r.cpus, r.memory, r.partition) == (4, 1024**3, "debug")
    assert dict(r.extra) == {"a": 1, "b": 3}


def test_callable_resources_get_only_named_inputs() -> None:
    r = call_resources(lambda n: {"memory": f"{n}GB"}, {"n": 3, "other": 1})
    assert r.memory == 3 * 1024**3
    r = call_resources(lambda **kw: Resources(cpus=kw["n"]), {"n": 2})
    assert r.cpus == 2
    with pytest.raises(SpecError, match="missing_name"):
        call_resources(lambda missing_name: Resources(), {"n": 1})


def test_to_dict() -> None:
    assert Resources(cpus=2, walltime=60).to_dict() == {"cpus": 2, "walltime": 60}


def test_numpy_scalars_are_accepted_as_plain_numbers() -> None:
    import numpy as np

    r = Resources(
        cpus=np.int64(2), gpus=np.int32(0), memory=np.int64(2**30), walltime=np.float64(90.5)
    )
    assert (r.cpus, r.gpus, r.memory, r.walltime) == (2, 0, 2**30, 91)
    assert type(r.cpus) is int and type(r.memory) is int  # JSON-able in run folders


@pytest.mark.parametrize("text", ["²:00", "٣:00", "1-٢:00", "٣GB"])
def test_only_ascii_digits_are_digits(text: str) -> None:
    # str.isdigit() and \d accept superscripts and Arabic-Indic digits; no scheduler does
    parse = parse_memory if text.endswith("GB") else parse_walltime
    with pytest.raises(SpecError, match="is not a"):
        parse(text)  # type: ignore[operator]
