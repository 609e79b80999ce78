"""Entry point of array tasks: ``python -m hpcflow.worker RUN_FOLDER STAGE TASK``.

Thin on purpose: it asks the scheduler layer which job and attempt this is (from the
batch system's environment variables) and calls `hpcflow.element.worker.main`.
"""

import os
import sys

from hpcflow.element.worker import main
from hpcflow.schedulers._jobenv import detect, record_task_done

if __name__ == "__main__":
    job = detect(os.environ)
    code = main(job_id=job.job_id, attempt=job.restart_count or 0)
    if code == 0:  # every element of the task's chunks is stored, with its marker
        record_task_done(os.environ)
    sys.exit(code)
