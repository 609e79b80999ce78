"""Import python-adaptive only when a campaign needs it, with a message naming the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from hpcflow.errors import InputError

__all__ = ["require_adaptive"]


def require_adaptive() -> ModuleType:
    """The ``adaptive`` module; `InputError` naming the extra to install when it is missing."""
    try:
        return importlib.import_module("adaptive")
    except ImportError as e:
        raise InputError(
            f"hpcflow.adaptive needs the python-adaptive package ({e}); install it with "
            "pip install 'adaptive>=1,<2' (hpcflow's 'adaptive' extra: pip install -e '.[adaptive]' in "
            "the hpcflow checkout)"
        ) from None
