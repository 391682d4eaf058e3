"""`asyncrun logs --app-id APP RUN_ID [--follow]`: a run's logs, or each line as it is written."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from asyncrun.cli.args import app_id, new_command, non_empty, positive_float
from asyncrun.cli.common import add_client_arguments, check_client_arguments, client_from_args
from asyncrun.polling import PollingOptions


def register(subparsers: Any) -> None:
    p = new_command(
        subparsers,
        "logs",
        help="print a run's logs; with --follow, each new line until the run ends",
        examples=(
            "asyncrun logs --app-id my-app run-123",
            "asyncrun logs --app-id my-app run-123 --follow --timeout 600",
        ),
    )
    p.add_argument("--app-id", required=True, type=app_id, help="the run's application")
    p.add_argument("run_id", type=non_empty, metavar="RUN_ID", help="the run whose logs to print")
    p.add_argument(
        "--follow",
        action="store_true",
        help="poll the live logs and print each line as it is written, until the run ends",
    )
    p.add_argument(
        "--timeout",
        type=positive_float,
        default=None,
        help="with --follow: stop after this many seconds (default: no limit)",
    )
    add_client_arguments(p)
    p.set_defaults(func=run_logs, check=check_client_arguments)


def run_logs(args: argparse.Namespace) -> int:
    return asyncio.run(_logs(args))


async def _logs(args: argparse.Namespace) -> int:
    async with client_from_args(args) as client:
        app = client.application(args.app_id)
        if not args.follow:
            text = await app.run_logs(args.run_id)
            print(text, end="" if text.endswith("\n") else "\n", flush=True)
            return 0
        limit = -1.0 if args.timeout is None else args.timeout
        options = PollingOptions(initial_delay=0.0, max_duration=limit)
        async for entry in app.run_logs_live(args.run_id, options):
            stamp = entry.timestamp.isoformat() if entry.timestamp is not None else "-"
            print(f"{stamp} {entry.log}", flush=True)
        return 0
