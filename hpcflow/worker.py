"""Entry point of array tasks: ``python -m hpcflow.worker RUN_FOLDER STAGE TASK``.

Thin on purpose: it asks the scheduler layer which job and attempt this is (from the
batch system's environment variables) and calls `hpcflow.element.worker.main`.
"""

import os
import sys

from hpcflow.element.worker import main
from hpcflow.schedulers._jobenv import detect

if __name__ == "__main__":
    job = detect(os.environ)
    sys.exit(main(job_id=job.job_id, attempt=job.restart_count or 0))
