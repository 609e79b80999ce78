"""Numbers as people read them in the report's table and HTML (pure)."""

from __future__ import annotations

__all__ = ["fmt_bytes", "fmt_ratio", "fmt_seconds"]


def fmt_bytes(n: float | None) -> str:
    """``1.5 GiB``, ``200 MiB``, ``-`` for unknown.

    Examples
    --------
    >>> fmt_bytes(200 * 2**20), fmt_bytes(1.5 * 2**30), fmt_bytes(512), fmt_bytes(None)
    ('200 MiB', '1.5 GiB', '512 B', '-')
    """
    if n is None:
        return "-"
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_seconds(s: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 10 s``, ``2 h 05 min``, ``-`` for unknown.

    Examples
    --------
    >>> fmt_seconds(0.85), fmt_seconds(12.34), fmt_seconds(250), fmt_seconds(7500)
    ('850 ms', '12.3 s', '4 min 10 s', '2 h 05 min')
    >>> fmt_seconds(120)
    '2 min'
    """
    if s is None:
        return "-"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.3g} s"
    if s < 3600:
        rest = int(s % 60)
        return f"{int(s // 60)} min" + (f" {rest} s" if rest else "")
    return f"{int(s // 3600)} h {int(s % 3600 // 60):02d} min"


def fmt_ratio(r: float | None) -> str:
    """A ratio as a percentage: ``45%``; ``-`` for unknown.

    Examples
    --------
    >>> fmt_ratio(0.4512), fmt_ratio(None)
    ('45%', '-')
    """
    return "-" if r is None else f"{r * 100:.0f}%"
