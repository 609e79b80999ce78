"""`warn_user`: a warning attributed to the caller's own line, not to hpcflow's."""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

_PACKAGE = str(Path(__file__).resolve().parent) + os.sep  # not a sibling like hpcflow_x/


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn at the first frame outside the hpcflow package.

    The call depth from a public entry point (``Pipeline.map``, ``hpcflow.map.run_map``,
    ``map_async``) to the code that warns differs, so a fixed ``stacklevel`` would name
    one of hpcflow's own lines for some of them.
    """
    level = 1
    frame = sys._getframe(1)
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    warnings.warn(message, category, stacklevel=level + 1)
