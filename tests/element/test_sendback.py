"""Exceptions raised in a process pool come back to ``map`` as the user's own."""

from __future__ import annotations

import pickle
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from hpcflow import ErrorSnapshot, Func, HpcflowError, Pipeline
from hpcflow.element.sendback import sendable


class TwoArgsError(Exception):
    """Pickles, but does not unpickle: ``__init__`` needs two arguments, gets one."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__(f"{a} and {b} clash")


class HoldsLockError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.lock = threading.Lock()


def test_a_local_exception_class_comes_back_as_itself(tmp_path: Path) -> None:
    class BadError(Exception):
        pass

    def f(a: int) -> int:
        raise BadError(f"bad {a}")

    p = Pipeline([Func(f, "c", mapspec="a[i] -> c[i]")])
    with ProcessPoolExecutor(max_workers=1) as pool, pytest.raises(BadError, match="bad 7") as info:
        p.map({"a": [7]}, tmp_path, executor=pool)
    assert type(info.value) is BadError  # cloudpickle maps it back onto this very class
    assert any("'c' of 'f'" in n for n in info.value.__notes__)
    assert isinstance(p.error_snapshot, ErrorSnapshot)
    assert p.error_snapshot.kwargs == {"a": 7}


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: TwoArgsError(1, 2), "missing 1 required"),
        (lambda: HoldsLockError("locked"), "_thread.lock"),
    ],
    ids=["init-takes-other-args", "holds-a-lock"],
)
def test_an_exception_that_cannot_travel_keeps_its_text(
    tmp_path: Path, make: object, why: str
) -> None:
    raised = make()  # type: ignore[operator]

    def f(a: int) -> int:
        raise make()  # type: ignore[operator]

    p = Pipeline([Func(f, "c", mapspec="a[i] -> c[i]")])
    with ProcessPoolExecutor(max_workers=1) as pool, pytest.raises(HpcflowError) as info:
        p.map({"a": [1]}, tmp_path, executor=pool)
    message = str(info.value)
    assert f"{type(raised).__qualname__}: {raised}" in message
    assert why in message and "without a process pool" in message
    assert any("raise make()" in n for n in info.value.__notes__)  # the worker's traceback
    assert isinstance(p.error_snapshot, ErrorSnapshot)


def test_picklable_exceptions_are_left_alone() -> None:
    e = ValueError("plain")
    assert sendable(e) is e
    back = pickle.loads(pickle.dumps(sendable(HoldsLockError("x"))))
    assert isinstance(back, HpcflowError) and "HoldsLockError: x" in str(back)
