"""``python -m hpcflow.followup RUN_FOLDER K [TASK]``: the follow-up job of a submission."""

import sys

from hpcflow.submission.followup import main

if __name__ == "__main__":
    sys.exit(main())
