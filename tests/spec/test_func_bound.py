"""A parameter is either bound (fixed, not an input) or has a default, never both."""

from __future__ import annotations

import pytest

from hpcflow import Func, SpecError


def test_defaults_and_bound_on_one_parameter_is_refused() -> None:
    with pytest.raises(SpecError, match=r"\['b'\] in both defaults and bound"):
        Func(lambda a, b: a + b, "c", defaults={"b": 1}, bound={"b": 2})
