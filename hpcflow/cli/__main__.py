"""``python -m hpcflow.cli``: the same as the ``hpcflow`` command."""

import sys

from hpcflow.cli._main import main

sys.exit(main())
