"""``hpcflow status|wait|cancel|resume`` on an adaptive campaign folder (`hpcflow.adaptive`).

A campaign folder holds ``campaign.json`` instead of a run's ``submit.json``; these
handlers take over for it, with the same exit codes (`hpcflow.cli._exit`): 0 done,
1 stalled (resume it), 3 running, 4 cancelled.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict

from hpcflow.adaptive._folder import is_campaign
from hpcflow.cli._exit import ExitCode

__all__ = ["handler_for"]

_CODES = {
    "done": ExitCode.OK,
    "stalled": ExitCode.FAILED,
    "running": ExitCode.ACTIVE,
    "cancelled": ExitCode.CANCELLED,
}


def handler_for(args: argparse.Namespace) -> Callable[[argparse.Namespace], int] | None:
    """The campaign handler of ``args.command`` if ``args.run_folder`` is a campaign."""
    folder = getattr(args, "run_folder", None)
    if folder is None or not is_campaign(folder):
        return None
    return _HANDLERS.get(args.command)


def _status(args: argparse.Namespace) -> int:
    from hpcflow.adaptive.campaign import Campaign

    st = Campaign.open(args.run_folder).status()
    if getattr(args, "json", False):
        d = asdict(st)
        d["path"] = str(st.path)
        print(json.dumps(d, indent=2), flush=True)
    else:
        print(st, flush=True)
    return _CODES[st.state]


def _wait(args: argparse.Namespace) -> int:
    from hpcflow.adaptive.campaign import Campaign

    try:
        st = Campaign.open(args.run_folder).wait(timeout=args.timeout)
    except TimeoutError as e:
        print(f"hpcflow wait: {e}", file=sys.stderr)
        return ExitCode.ACTIVE
    print(st)
    return _CODES[st.state]


def _cancel(args: argparse.Namespace) -> int:
    from hpcflow.adaptive.campaign import Campaign

    Campaign.open(args.run_folder).cancel()
    print(f"cancelled campaign {args.run_folder}: no further round is submitted")
    return ExitCode.OK


def _resume(args: argparse.Namespace) -> int:
    from hpcflow.adaptive.campaign import Campaign

    print(f"hpcflow resume: {Campaign.open(args.run_folder).resume()}")
    return ExitCode.OK


_HANDLERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "status": _status,
    "wait": _wait,
    "cancel": _cancel,
    "resume": _resume,
}
