"""Entry point of array tasks: ``python -m hpcflow.worker RUN_FOLDER STAGE TASK``.

Thin on purpose: it reads which job and attempt this is from the scheduler's
environment and calls `hpcflow.element.worker.main`.
"""

import os
import sys

from hpcflow.element.worker import main

if __name__ == "__main__":
    env = os.environ
    job = env.get("SLURM_JOB_ID") or env.get("HPCFLOW_JOB_ID")
    attempt = int(env.get("SLURM_RESTART_COUNT") or env.get("HPCFLOW_RESTART_COUNT") or 0)
    sys.exit(main(job_id=job, attempt=attempt))
