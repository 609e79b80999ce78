"""Entry point of array tasks: ``python -m hpcflow.worker RUN_FOLDER STAGE TASK``.

Thin on purpose; the work is in `hpcflow.element.worker`.
"""

import sys

from hpcflow.element.worker import main

if __name__ == "__main__":
    sys.exit(main())
