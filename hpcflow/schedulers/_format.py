"""How hpcflow's neutral values are written for a batch system, once for every backend.

Memory (bytes), wall times (seconds), array ranges, the name of a task's log file, and
the rule an extra option's NAME must follow: a backend picks the variant its batch
system reads, and never writes its own. All functions are pure.

Option names are validated, not quoted: a name goes into a directive line as it is
(``#SBATCH --NAME=value``, ``#PBS -N value``), so a name such as
``"comment=x\\ntouch /tmp/pwned\\n#"`` would otherwise add a line to the job script.
Values are quoted (or checked) by each backend.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from hpcflow.errors import InputError

__all__ = [
    "LONG_OPTION",
    "LOOSE_OPTION",
    "MIB",
    "PBS_OPTION",
    "OptionRule",
    "array_range",
    "format_duration",
    "format_memory",
    "format_size_exact",
    "option_names",
    "task_log_name",
]

MIB = 1024**2


def format_duration(seconds: float, style: Literal["slurm", "pbs", "clock"]) -> str:
    """A positive wall time in whole seconds (rounded up, never down) in a batch system's form.

    ``"slurm"``: ``D-HH:MM:SS``; ``"pbs"``: ``HH:MM:SS`` (hours may exceed 24);
    ``"clock"``: ``H:MM:SS``, with ``D-`` in front from one day on (what the local
    scheduler prints).

    Examples
    --------
    >>> format_duration(90, "slurm"), format_duration(90, "pbs"), format_duration(90, "clock")
    ('0-00:01:30', '00:01:30', '0:01:30')
    >>> format_duration(93785, "slurm"), format_duration(93785, "pbs")
    ('1-02:03:05', '26:03:05')
    >>> format_duration(93785, "clock"), format_duration(0.5, "pbs")
    ('1-2:03:05', '00:00:01')
    """
    whole = math.ceil(seconds)
    if whole <= 0:
        raise InputError(f"walltime={seconds!r} s must be positive")
    minutes, s = divmod(whole, 60)
    hours, m = divmod(minutes, 60)
    if style == "pbs":
        return f"{hours:02d}:{m:02d}:{s:02d}"
    days, h = divmod(hours, 24)
    if style == "slurm":
        return f"{days}-{h:02d}:{m:02d}:{s:02d}"
    clock = f"{h}:{m:02d}:{s:02d}"
    return f"{days}-{clock}" if days else clock


def format_memory(n_bytes: int, unit: str) -> str:
    """Memory in bytes as whole MiB, rounded up, followed by the batch system's ``unit``.

    SLURM's ``--mem`` unit is ``M``, PBS's ``mb`` (both binary).

    Examples
    --------
    >>> format_memory(4 * 1024**3, "M"), format_memory(1024**2 + 1, "mb")
    ('4096M', '2mb')
    """
    if n_bytes <= 0:
        raise InputError(f"memory={n_bytes!r} bytes must be positive")
    return f"{-(-n_bytes // MIB)}{unit}"


def format_size_exact(n_bytes: int | None) -> str:
    """A size `hpcflow.spec.resources.parse_memory` reads back exactly; ``None``: unlimited.

    Examples
    --------
    >>> format_size_exact(500 * 1024**2), format_size_exact(4 * 1024**3), format_size_exact(7)
    ('500MB', '4GB', '7')
    """
    if n_bytes is None:
        return "unlimited"
    for unit, power in (("P", 5), ("T", 4), ("G", 3), ("M", 2), ("K", 1)):
        if n_bytes % 1024**power == 0:
            return f"{n_bytes // 1024**power}{unit}B"
    return str(n_bytes)


def array_range(n_tasks: int, max_parallel: int | None = None) -> str:
    """The array of ``n_tasks`` indices from 0, with its throttle: SLURM and PBS alike.

    Examples
    --------
    >>> array_range(4), array_range(250, 20)
    ('0-3', '0-249%20')
    """
    if n_tasks < 1:
        raise InputError(f"an array needs at least one task, got {n_tasks}")
    text = f"0-{n_tasks - 1}"
    return text if max_parallel is None else f"{text}%{max_parallel}"


def task_log_name(job_id: str, index: str) -> str:
    """The file name of one array task's log: ``<job id>_<array index>.log``.

    The one rule every backend follows (each fills in its own way of naming the job id
    and index: SLURM ``%A``/``%a`` patterns, PBS shell variables, local numbers), and
    that readers of the logs (`Scheduler.task_log`) use.

    Examples
    --------
    >>> task_log_name("%A", "%a"), task_log_name("123[].pbs01", "4")
    ('%A_%a.log', '123[].pbs01_4.log')
    """
    return f"{job_id}_{index}.log"


@dataclass(frozen=True)
class OptionRule:
    """What an extra option's name must look like for one batch system.

    Attributes
    ----------
    pattern
        The name (after `normalize` and with leading dashes removed) must full-match it.
    rule
        The rule in words, for the error message.
    separator
        ``"_"`` written in a name is read as this (SLURM: ``mail_type`` is
        ``mail-type``); ``None`` keeps names as given.
    """

    pattern: re.Pattern[str]
    rule: str
    separator: str | None = None

    def normalize(self, key: object, where: str) -> str:
        """The name ``key`` as the backend renders it, or `InputError` naming the rule."""
        text = str(key)
        name = text.lstrip("-")
        if self.separator is not None:
            name = name.replace("_", self.separator)
        if not self.pattern.fullmatch(name):
            raise InputError(
                f"{where}: option name {text!r} is not allowed: {self.rule} "
                "(the name is written into the job script as it is)"
            )
        return name


#: sbatch long options: ``mail-type``, ``gres-flags`` (2+ characters).
LONG_OPTION = OptionRule(
    re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z][a-z0-9]+"),
    "use sbatch's long option names: lowercase letters, digits and '-' (or '_'), "
    "at least 2 characters, e.g. 'mail_type'",
    separator="-",
)
#: qsub options: one letter.
PBS_OPTION = OptionRule(
    re.compile(r"[A-Za-z]"),
    "not a qsub option; use its letter, e.g. 'm' or 'M'",
)
#: Options a backend ignores but still refuses to carry when malformed.
LOOSE_OPTION = OptionRule(
    re.compile(r"[A-Za-z][A-Za-z0-9_-]*"),
    "letters, digits, '_' and '-', starting with a letter",
)


def option_names(options: Mapping[str, Any], where: str, rule: OptionRule) -> dict[str, Any]:
    """``options`` keyed by their checked, normalized names (two spellings of one name: the last wins).

    Examples
    --------
    >>> option_names({"--mail_type": "END", "exclusive": True}, "extra", LONG_OPTION)
    {'mail-type': 'END', 'exclusive': True}
    >>> option_names({"comment=x\\ntouch /tmp/pwned\\n#": True}, "extra_sbatch", LONG_OPTION)
    Traceback (most recent call last):
    ...
    hpcflow.errors.InputError: extra_sbatch: option name 'comment=x\\ntouch /tmp/pwned\\n#' is not allowed: ...
    """
    out: dict[str, Any] = {}
    for key, value in options.items():
        out[rule.normalize(key, where)] = value
    return out
