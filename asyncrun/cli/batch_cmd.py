"""`asyncrun batch`, `asyncrun status --journal`, `asyncrun cancel --journal`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from asyncrun import _runtime
from asyncrun.batch.interrupts import cancel_journal_rows
from asyncrun.batch.journal import Journal, command_of
from asyncrun.cli.common import (
    EXIT_INTERRUPTED,
    add_client_arguments,
    check_positive,
    client_from_args,
    count_scenarios,
    execute_batch,
    fail,
    resume_command,
    scenario_factory,
)
from asyncrun.errors import AsyncrunError


def register(subparsers: Any) -> None:
    _register_batch(subparsers)
    _register_status(subparsers)
    _register_cancel(subparsers)


def _register_batch(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "batch",
        help="run many scenarios (input files, directories, a JSONL manifest; --grid products)",
    )
    p.add_argument("--app-id", required=True)
    p.add_argument(
        "sources", nargs="+", metavar="SOURCES", help="input files, directories, .jsonl manifests"
    )
    p.add_argument("--instance-id", default=None)
    p.add_argument("--option", action="append", metavar="K=V", help="a run option (repeatable)")
    p.add_argument("--grid", action="append", metavar="K=V1,V2", help="an option swept over values")
    p.add_argument("--max-in-flight", type=check_positive, default=100)
    p.add_argument("--journal", type=Path, required=True, help="SQLite journal (resume with it)")
    p.add_argument("--out", type=Path, required=True, help="results/ and summary.csv go here")
    p.add_argument("--on-interrupt", choices=["detach", "cancel"], default="detach")
    p.add_argument("--batch-tag", default=None, help="run-name prefix (default: random, kept)")
    add_client_arguments(p)
    p.set_defaults(func=run_batch_command)


def run_batch_command(args: argparse.Namespace) -> int:
    console = Console()
    factory = scenario_factory(args)
    try:
        total = count_scenarios(factory)
    except (AsyncrunError, OSError) as exc:
        return fail(console, exc)

    async def main() -> int:
        async with client_from_args(args) as client:
            return await execute_batch(
                client.application(args.app_id),
                factory,
                total=total,
                max_in_flight=args.max_in_flight,
                journal=args.journal,
                out=args.out,
                on_interrupt=args.on_interrupt,
                argv=sys.argv[1:],
                console=console,
                batch_tag=args.batch_tag,
            )

    try:
        return _runtime.run(main())
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except AsyncrunError as exc:
        return fail(console, exc)


# ---------------------------------------------------------------------- status


def _register_status(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "status", help="what a batch journal holds (no network)"
    )
    p.add_argument("--journal", type=Path, required=True)
    p.set_defaults(func=run_status)


def run_status(args: argparse.Namespace) -> int:
    console = Console()
    if not args.journal.is_file():
        return fail(console, AsyncrunError(f"no journal at {args.journal}"))

    async def main() -> tuple[dict[str, str], dict[tuple[str, str | None], int]]:
        async with Journal(args.journal) as journal:
            return await journal.meta(), await journal.counts()

    meta, counts = asyncio.run(main())
    table = Table(title=f"journal {args.journal}")
    table.add_column("state")
    table.add_column("status")
    table.add_column("scenarios", justify="right")
    for (state, status), n in sorted(counts.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        table.add_row(state, status or "", str(n))
    table.add_row("total", "", str(sum(counts.values())))
    console.print(
        f"application {meta.get('app_id', '?')}, batch tag {meta.get('batch_tag', '?')}, "
        f"created {meta.get('created_at', '?')}, sessions {meta.get('session', '0')}"
    )
    console.print(table)
    command = command_of(meta)
    unfinished = sum(n for (state, _), n in counts.items() if state != "terminal")
    if command and unfinished:
        console.print(f"{unfinished} not finished; resume with:\n  {resume_command(command)}")
    return 0


# ---------------------------------------------------------------------- cancel


def _register_cancel(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "cancel", help="cancel every run of a batch journal that is still in flight"
    )
    p.add_argument("--journal", type=Path, required=True)
    add_client_arguments(p)
    p.set_defaults(func=run_cancel)


def run_cancel(args: argparse.Namespace) -> int:
    console = Console()
    if not args.journal.is_file():
        return fail(console, AsyncrunError(f"no journal at {args.journal}"))
    try:
        canceled, failed = asyncio.run(_cancel_all(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except AsyncrunError as exc:
        return fail(console, exc)
    console.print(f"canceled {canceled} runs" + (f", {failed} cancels failed" if failed else ""))
    return 0 if not failed else 1


async def _cancel_all(args: argparse.Namespace) -> tuple[int, int]:
    async with Journal(args.journal) as journal:
        meta = await journal.meta()
        rows = await journal.rows(["submitting", "submitted"])
    if "app_id" not in meta:
        raise AsyncrunError(f"{args.journal} is not a batch journal")
    async with client_from_args(args) as client:
        tally = await cancel_journal_rows(client.application(meta["app_id"]), rows)
    return tally.canceled, tally.failed
