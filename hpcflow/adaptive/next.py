"""``python -m hpcflow.adaptive.next RUN K``: the follow-up job after round K of a campaign."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from hpcflow.adaptive.campaign import advance
from hpcflow.schedulers._jobenv import record_task_done

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Tell round K's results to the campaign's learner and submit the next round."""
    parser = argparse.ArgumentParser(
        prog="python -m hpcflow.adaptive.next",
        description="Tell an adaptive campaign's learner round K and submit round K+1.",
    )
    parser.add_argument("run_folder")
    parser.add_argument("index", type=int)
    parser.add_argument("task", type=int, nargs="?", default=0)
    args = parser.parse_args(argv)
    print(f"hpcflow.adaptive: {advance(args.run_folder, args.index)}", flush=True)
    return 0


if __name__ == "__main__":
    code = main()
    if code == 0:
        record_task_done(os.environ)
    sys.exit(code)
