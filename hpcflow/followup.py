"""``python -m hpcflow.followup RUN_FOLDER K [TASK]``: the follow-up job of a submission."""

import os
import sys

from hpcflow.schedulers._jobenv import record_task_done
from hpcflow.submission.followup import main

if __name__ == "__main__":
    code = main()
    if code == 0:  # submission K is recorded in the run folder (and submitted)
        record_task_done(os.environ)
    sys.exit(code)
