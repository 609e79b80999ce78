"""Resources one element of a function needs, in neutral, typed units.

Memory is stored in bytes and wall time in seconds, so they compare as numbers
(``"9:00:00" < "10:00:00"`` as they should, unlike string comparison). Scheduler
backends translate these fields to their own flags at their edge.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any

import numpy as np

from hpcflow.errors import SpecError

__all__ = [
    "FrozenDict",
    "Resources",
    "format_bytes",
    "format_seconds",
    "parse_memory",
    "parse_walltime",
]

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
# ASCII digits only: str.isdigit and \d also take "²" and "٣", which no scheduler reads
_MEMORY = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([KMGTP]?)(I?B)?\s*", re.IGNORECASE)
_ALIASES = {
    "time": "walltime",
    "wall_time": "walltime",
    "time_limit": "walltime",
    "mem": "memory",
    "ncpus": "cpus",
    "cpus_per_task": "cpus",
    "gpu": "gpus",
    "ngpus": "gpus",
    "queue": "partition",
    "project": "account",
}


def parse_memory(value: int | str | np.integer[Any]) -> int:
    """Memory as bytes. Units are binary (``1K = 1024``), as SLURM and PBS read them.

    Examples
    --------
    >>> parse_memory("500MB")
    524288000
    >>> parse_memory("1.5TB") == int(1.5 * 1024**4)
    True
    >>> parse_memory("4G"), parse_memory("2GiB"), parse_memory(1024)
    (4294967296, 2147483648, 1024)
    >>> parse_memory("lots")
    Traceback (most recent call last):
    ...
    hpcflow.errors.SpecError: memory='lots' is not a size; write e.g. '500MB', '4GB', '1.5TB' or an int of bytes
    """
    if isinstance(value, bool | np.bool_):
        raise SpecError(f"memory={value!r} is not a size")
    if isinstance(value, int | np.integer):  # np.int64 from a NumPy sweep too
        if value <= 0:
            raise SpecError(f"memory={value!r} must be a positive number of bytes")
        return int(value)
    if isinstance(value, str):
        m = _MEMORY.fullmatch(value)
        if m:
            number, unit, _ = m.groups()
            n = math.ceil(float(number) * _UNITS[unit.upper()])
            if n <= 0:
                raise SpecError(f"memory={value!r} must be positive")
            return n
    raise SpecError(
        f"memory={value!r} is not a size; write e.g. '500MB', '4GB', '1.5TB' or an int of bytes"
    )


def parse_walltime(
    value: int | float | str | timedelta | np.integer[Any] | np.floating[Any],
) -> int:
    """Wall time as whole seconds (rounded up).

    Accepts seconds, a `timedelta`, or the SLURM forms ``"MM:SS"``, ``"HH:MM:SS"``,
    ``"D-HH"``, ``"D-HH:MM"`` and ``"D-HH:MM:SS"``.

    Examples
    --------
    >>> parse_walltime("10:00"), parse_walltime("1:00:00"), parse_walltime("1-02:00:00")
    (600, 3600, 93600)
    >>> parse_walltime(90.5)
    91
    >>> parse_walltime("9:00:00") < parse_walltime("10:00:00")
    True
    """
    if isinstance(value, bool | np.bool_):
        raise SpecError(f"walltime={value!r} is not a duration")
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, int | float | np.integer | np.floating):  # NumPy scalars too
        value = float(value)
        if not math.isfinite(value) or value <= 0:
            raise SpecError(f"walltime={value!r} must be a positive number of seconds")
        return math.ceil(value)
    if isinstance(value, str):
        seconds = _parse_clock(value.strip())
        if seconds is not None:
            if seconds <= 0:
                raise SpecError(f"walltime={value!r} must be positive")
            return seconds
    raise SpecError(
        f"walltime={value!r} is not a duration; write seconds, 'MM:SS', 'HH:MM:SS' or 'D-HH:MM:SS'"
    )


def format_bytes(n_bytes: int | float) -> str:
    """A size for people: binary units, three significant digits at most.

    Examples
    --------
    >>> format_bytes(182_452_224), format_bytes(150 * 2**20), format_bytes(3 * 2**30 // 2)
    ('174 MiB', '150 MiB', '1.5 GiB')
    >>> format_bytes(512)
    '512 B'
    """
    value = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            break
        value /= 1024
    text = f"{value:.0f}" if value >= 100 or unit == "B" else f"{value:.3g}"
    return f"{text} {unit}"


def format_seconds(seconds: int | float) -> str:
    """A duration for people, as schedulers write it: ``[D-]H:MM:SS``, or ``S s``.

    Examples
    --------
    >>> format_seconds(42), format_seconds(3600), format_seconds(90061)
    ('42 s', '1:00:00', '1-01:01:01')
    """
    s = round(float(seconds))
    if s < 60:
        return f"{s} s"
    days, rest = divmod(s, 86400)
    clock = f"{rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock:0>8}" if days else clock


def _parse_clock(text: str) -> int | None:
    days = 0
    if "-" in text:
        d, _, text = text.partition("-")
        if not _digits(d):
            return None
        days = int(d)
        parts = text.split(":")
        if not 1 <= len(parts) <= 3:
            return None
        parts += ["0"] * (3 - len(parts))  # D-HH, D-HH:MM
    else:
        parts = text.split(":")
        if len(parts) == 2:
            parts = ["0", *parts]  # MM:SS
        if len(parts) != 3:
            return None
    if not all(_digits(p) for p in parts):
        return None
    h, m, s = map(int, parts)
    if m >= 60 or s >= 60:
        return None
    return ((days * 24 + h) * 60 + m) * 60 + s


def _digits(text: str) -> bool:
    """Only the ASCII digits 0-9 ("²" and "٣" are digits to str.isdigit)."""
    return text.isascii() and text.isdigit()


class FrozenDict(Mapping[str, Any]):
    """An immutable, hashable mapping (for scheduler-specific ``extra`` flags)."""

    __slots__ = ("_data", "_hash")

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._data = dict(data or {})
        self._hash: int | None = None

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._data.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __repr__(self) -> str:
        return f"FrozenDict({self._data!r})"


def _positive_int(name: str, value: Any, *, allow_zero: bool = False) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
        raise SpecError(f"{name}={value!r} must be an int")
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else ">= 1"
        raise SpecError(f"{name}={value!r} must be {bound}")
    return int(value)


def _text(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{name}={value!r} must be a non-empty string")
    return value


@dataclass(frozen=True, init=False)
class Resources:
    """What one element of a function needs. Frozen and hashable.

    ``None`` means "not set": the pipeline's ``default_resources`` (and then the
    scheduler's defaults) apply.

    Parameters
    ----------
    cpus
        CPU cores per task (``>= 1``).
    cpus_per_node, nodes
        For multi-node work (``>= 1``).
    memory
        ``"500MB"``, ``"4GB"``, ``"1.5TB"`` or an int of bytes; binary units.
    gpus
        GPUs per task (``>= 0``).
    walltime
        Seconds, ``"MM:SS"``, ``"HH:MM:SS"`` or ``"D-HH:MM:SS"``.
    partition, account, qos, constraint
        Scheduler placement (a PBS queue is a partition here).
    extra
        Scheduler-specific flags passed through as-is, e.g. ``{"exclusive": True}``.

    Examples
    --------
    >>> r = Resources(cpus=4, memory="8GB", walltime="2:00:00")
    >>> r.memory, r.walltime
    (8589934592, 7200)
    >>> Resources(time="1:00")
    Traceback (most recent call last):
    ...
    hpcflow.errors.SpecError: Resources got an unknown field 'time' (did you mean 'walltime'?); valid fields: ...
    """

    cpus: int | None
    cpus_per_node: int | None
    nodes: int | None
    memory: int | None
    gpus: int | None
    walltime: int | None
    partition: str | None
    account: str | None
    qos: str | None
    constraint: str | None
    extra: FrozenDict

    def __init__(
        self,
        *,
        cpus: int | None = None,
        cpus_per_node: int | None = None,
        nodes: int | None = None,
        memory: int | str | None = None,
        gpus: int | None = None,
        walltime: int | float | str | timedelta | None = None,
        partition: str | None = None,
        account: str | None = None,
        qos: str | None = None,
        constraint: str | None = None,
        extra: Mapping[str, Any] | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            raise SpecError(_unknown_field_message(next(iter(unknown))))
        if extra is not None and not isinstance(extra, Mapping):
            raise SpecError(f"extra={extra!r} must be a mapping of scheduler flags")
        values = {
            "cpus": _positive_int("cpus", cpus),
            "cpus_per_node": _positive_int("cpus_per_node", cpus_per_node),
            "nodes": _positive_int("nodes", nodes),
            "memory": None if memory is None else parse_memory(memory),
            "gpus": _positive_int("gpus", gpus, allow_zero=True),
            "walltime": None if walltime is None else parse_walltime(walltime),
            "partition": _text("partition", partition),
            "account": _text("account", account),
            "qos": _text("qos", qos),
            "constraint": _text("constraint", constraint),
            "extra": FrozenDict(extra),
        }
        for k, v in values.items():
            object.__setattr__(self, k, v)

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        """The valid field names."""
        return tuple(f.name for f in fields(cls))

    @classmethod
    def from_value(cls, value: Resources | Mapping[str, Any] | None) -> Resources:
        """Coerce ``None``, a mapping or `Resources` to `Resources`."""
        if value is None:
            return cls()
        if isinstance(value, Resources):
            return value
        if isinstance(value, Mapping):
            return cls(**value)
        raise SpecError(
            f"resources={value!r} must be hpcflow.Resources, a dict of its fields, "
            "or a callable returning one"
        )

    def with_defaults(self, defaults: Resources | None) -> Resources:
        """Fill unset fields from ``defaults``; values set here always win.

        Examples
        --------
        >>> r = Resources(cpus=2).with_defaults(Resources(cpus=1, partition="debug"))
        >>> r.cpus, r.partition
        (2, 'debug')
        """
        if defaults is None:
            return self
        merged: dict[str, Any] = {}
        for name in self.field_names():
            mine, theirs = getattr(self, name), getattr(defaults, name)
            if name == "extra":
                merged[name] = FrozenDict({**theirs, **mine})
            else:
                merged[name] = theirs if mine is None else mine
        return replace(self, **merged)

    def to_dict(self) -> dict[str, Any]:
        """The fields that are set, as plain values (for JSON and display)."""
        out: dict[str, Any] = {}
        for name in self.field_names():
            v = getattr(self, name)
            if name == "extra":
                if v:
                    out[name] = dict(v)
            elif v is not None:
                out[name] = v
        return out


def _unknown_field_message(name: str) -> str:
    valid = Resources.field_names()
    import difflib  # only for this message

    hint = _ALIASES.get(name) or next(iter(difflib.get_close_matches(name, valid, n=1)), None)
    did = f" (did you mean {hint!r}?)" if hint else ""
    return f"Resources got an unknown field {name!r}{did}; valid fields: {', '.join(valid)}"


ResourcesLike = Resources | Mapping[str, Any] | Callable[..., Resources | Mapping[str, Any]]


def call_resources(
    fn: Callable[..., Resources | Mapping[str, Any]], kwargs: Mapping[str, Any]
) -> Resources:
    """Call a per-element resources callable with the inputs its signature names.

    A callable that takes ``**kwargs`` receives every input.

    Examples
    --------
    >>> call_resources(lambda n: {"memory": f"{n}GB"}, {"n": 2, "x": 0}).memory
    2147483648
    """
    sig = inspect.signature(fn)
    params = sig.parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        selected = dict(kwargs)
    else:
        names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        missing = [
            n
            for n in names
            if n not in kwargs and sig.parameters[n].default is inspect.Parameter.empty
        ]
        if missing:
            raise SpecError(
                f"resources callable {getattr(fn, '__name__', fn)!r} asks for {missing}, which "
                f"are not inputs of its function; available: {sorted(kwargs)}"
            )
        selected = {n: kwargs[n] for n in names if n in kwargs}
    return Resources.from_value(fn(**selected))
