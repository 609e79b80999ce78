"""``hpcflow``: submit a pipeline and follow it from the shell.

Thin over the library: each command parses its arguments and calls `hpcflow.Run` or
``Pipeline.submit``. ``hpcflow status`` and ``hpcflow wait`` exit 0 only when every
element is done; the other codes are in `hpcflow.cli.ExitCode`.

Examples
--------
::

    hpcflow submit sweep.py:pipeline --inputs inputs.json --run-folder runs/a --scheduler local
    hpcflow status runs/a [--json | --tasks | --watch]
    hpcflow wait runs/a && echo "every element is done"
    hpcflow failures runs/a [--output y]
    hpcflow logs runs/a --output y --index 3
    hpcflow cancel runs/a
    hpcflow resume runs/a [--retry-failed]
    hpcflow rerun runs/a --output y --index 3 [--pdb]
"""

from __future__ import annotations

from hpcflow.cli._exit import ExitCode
from hpcflow.cli._load import load_inputs, load_pipeline
from hpcflow.cli._main import main

__all__ = ["ExitCode", "load_inputs", "load_pipeline", "main"]
