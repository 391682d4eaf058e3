"""`asyncrun logs --app-id APP RUN_ID [--follow]`: a run's logs, or each line as it is written."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from rich.console import Console

from asyncrun.cli.common import EXIT_INTERRUPTED, add_client_arguments, client_from_args, fail
from asyncrun.errors import AsyncrunError
from asyncrun.polling import PollingOptions


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "logs", help="print a run's logs (--follow: each new line until the run ends)"
    )
    p.add_argument("--app-id", required=True)
    p.add_argument("run_id", metavar="RUN_ID")
    p.add_argument(
        "--follow",
        action="store_true",
        help="poll the live logs and print each line as it comes, until the run ends",
    )
    p.add_argument(
        "--timeout", type=float, default=-1, help="with --follow: seconds to wait (-1: no limit)"
    )
    add_client_arguments(p)
    p.set_defaults(func=run_logs)


def run_logs(args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    try:
        return asyncio.run(_logs(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except AsyncrunError as exc:
        return fail(console, exc)


async def _logs(args: argparse.Namespace) -> int:
    async with client_from_args(args) as client:
        app = client.application(args.app_id)
        if not args.follow:
            text = await app.run_logs(args.run_id)
            print(text, end="" if text.endswith("\n") else "\n", flush=True)
            return 0
        options = PollingOptions(initial_delay=0.0, max_duration=args.timeout)
        async for entry in app.run_logs_live(args.run_id, options):
            stamp = entry.timestamp.isoformat() if entry.timestamp is not None else "-"
            print(f"{stamp} {entry.log}", flush=True)
        return 0
