"""Progress of a local run: counted always, drawn with rich when asked."""

from __future__ import annotations

from typing import Any, Literal

from hpcflow.errors import InputError

__all__ = ["ProgressTracker"]

ShowProgress = bool | Literal["rich", "headless"] | None
_VALID = (None, True, False, "rich", "headless")


class ProgressTracker:
    """Elements done per output; ``mode`` ``"rich"`` draws a bar per output."""

    def __init__(self, show_progress: ShowProgress) -> None:
        if show_progress not in _VALID:
            raise InputError(
                f"show_progress={show_progress!r} is not supported; use one of {list(_VALID)}"
            )
        self.mode: Literal["rich", "headless", "off"] = (
            "rich"
            if show_progress in (True, "rich")
            else "headless"
            if show_progress == "headless"
            else "off"
        )
        self.total: dict[str, int] = {}
        self.done: dict[str, int] = {}
        self._bar: Any = None
        self._tasks: dict[str, Any] = {}

    def add(self, name: str, total: int) -> None:
        self.total[name] = total
        self.done.setdefault(name, 0)
        if self.mode == "rich":
            if self._bar is None:
                from rich.progress import (
                    BarColumn,
                    MofNCompleteColumn,
                    Progress,
                    TextColumn,
                    TimeElapsedColumn,
                )

                self._bar = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeElapsedColumn(),
                )
                self._bar.start()
            self._tasks[name] = self._bar.add_task(name, total=total)

    def advance(self, name: str, n: int) -> None:
        self.done[name] = self.done.get(name, 0) + n
        if self._bar is not None and name in self._tasks:
            self._bar.update(self._tasks[name], advance=n)

    def fraction(self, name: str) -> float:
        total = self.total.get(name, 0)
        return 1.0 if total == 0 else self.done.get(name, 0) / total

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
