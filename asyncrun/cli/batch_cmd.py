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
from asyncrun.batch.failfast import UNREACHABLE_AFTER
from asyncrun.batch.interrupts import cancel_journal_rows
from asyncrun.batch.journal import Journal, command_of
from asyncrun.batch.journal_lock import current_holder
from asyncrun.batch.outcome import RunOutcome
from asyncrun.batch.reconcile import SUBMIT_MARGIN
from asyncrun.cli.args import (
    EXIT_FAILED,
    app_id,
    assignment,
    batch_tag,
    check_batch_journal,
    check_existing_journal,
    check_out_dir,
    grid_axis,
    new_command,
    non_empty,
    non_negative_float,
    positive_float,
    positive_int,
)
from asyncrun.cli.common import (
    add_client_arguments,
    check_client_arguments,
    client_from_args,
    count_scenarios,
    execute_batch,
    resume_command,
    scenario_factory,
)
from asyncrun.cli.report_cmd import (
    add_metrics_arguments,
    check_metrics_arguments,
    write_verdict,
)
from asyncrun.cli.stop_signals import StopSignals
from asyncrun.errors import AsyncrunError, ConfigError


def register(subparsers: Any) -> None:
    _register_batch(subparsers)
    _register_status(subparsers)
    _register_cancel(subparsers)


_BATCH_EXAMPLES = (
    "asyncrun batch --app-id my-app inputs/*.json --journal sweep.db --out results/",
    "asyncrun batch --app-id my-app instances/ sweep.jsonl --grid solve.duration=10s,30s \\",
    "    --grid seed=1,2 --max-in-flight 200 --journal sweep.db --out results/",
    "NEXTMV_API_KEY=any asyncrun batch --app-id my-app inputs/ --journal j.db --out out/ \\",
    "    --url http://127.0.0.1:8710 --limits unlimited     # against `asyncrun emulator`",
    "asyncrun batch --app-id my-app inputs/ --instance-id stable --instance-id candidate \\",
    "    --metrics metrics.json --journal j.db --out out/   # acceptance verdict, exit 0 / 1",
    "Run the same command again with the same --journal to resume an interrupted batch.",
)


def _register_batch(subparsers: Any) -> None:
    p = new_command(
        subparsers,
        "batch",
        help="run many scenarios (input files, directories, a JSONL manifest; --grid products)",
        examples=_BATCH_EXAMPLES,
    )
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCES",
        help="input files (one scenario each), directories (one multi-file scenario each), "
        ".jsonl manifests (one scenario per line)",
    )
    p.add_argument("--app-id", required=True, type=app_id, help="the Nextmv application to run")
    p.add_argument(
        "--instance-id",
        type=non_empty,
        action="append",
        metavar="ID",
        help="instance every scenario runs on unless its manifest line names one; repeat it to "
        "run every scenario on each instance, side by side (keys get /instance_id=ID, the "
        "summary compares the instances) (default: the application's default instance)",
    )
    p.add_argument(
        "--option",
        action="append",
        type=assignment,
        metavar="NAME=VALUE",
        help="a run option for every scenario (repeatable; default: none)",
    )
    p.add_argument(
        "--grid",
        action="append",
        type=grid_axis,
        metavar="NAME=V1,V2",
        help="run every scenario once per value of this option; several --grid multiply "
        "(default: none)",
    )
    p.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=100,
        help="runs submitted and not yet finished, at most",
    )
    p.add_argument(
        "--journal",
        type=Path,
        required=True,
        help="SQLite file that records the batch; run the same command with it to resume",
    )
    p.add_argument(
        "--out", type=Path, required=True, help="folder for results/<key>.json and summary.csv"
    )
    p.add_argument(
        "--on-interrupt",
        choices=["detach", "cancel"],
        default="detach",
        help="on Ctrl-C or SIGTERM (a second one stops at once): detach (runs keep going, "
        "resume later) or cancel the runs in flight",
    )
    p.add_argument(
        "--batch-tag",
        type=batch_tag,
        default=None,
        help="run-name prefix, <tag>/<key> (default: a random tag, stored in the journal)",
    )
    p.add_argument(
        "--unreachable-after",
        type=positive_float,
        default=UNREACHABLE_AFTER,
        metavar="SECONDS",
        help="stop the batch when every connection attempt has failed for this long",
    )
    p.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=None,
        help="seconds to open a connection (default 10)",
    )
    p.add_argument(
        "--read-timeout",
        type=positive_float,
        default=None,
        help="seconds between bytes of an answer (default 60)",
    )
    p.add_argument(
        "--submit-margin",
        type=non_negative_float,
        default=SUBMIT_MARGIN,
        help="seconds a server may still act on a POST after the client's timeouts: a submit "
        "whose answer was lost is looked up by name only after connect + read timeout + this",
    )
    add_metrics_arguments(p, batch=True)
    add_client_arguments(p)
    p.set_defaults(func=run_batch_command, check=check_batch_arguments)


def check_batch_arguments(args: argparse.Namespace) -> None:
    if args.out.exists() and not args.out.is_dir():
        raise ConfigError(f"--out {str(args.out)!r} exists and is not a directory")
    check_batch_journal(args.journal, app=args.app_id, tag=args.batch_tag)
    check_metrics_arguments(args)
    check_client_arguments(args)


def run_batch_command(args: argparse.Namespace) -> int:
    console = Console()
    factory = scenario_factory(args)
    total = count_scenarios(factory)
    # Once every other check passed (a batch refused for another reason creates nothing): the
    # folders are created and written to, before anything is sent.
    check_out_dir(args.out)
    check_out_dir(args.out / "results", "--out")
    signals = StopSignals()
    versions: dict[str, str] = {}
    unwritten: list[str] = []

    def note_outcome(outcome: RunOutcome) -> None:
        if outcome.write_error is not None:
            unwritten.append(outcome.key)
        if outcome.result is not None and outcome.instance_id is not None:
            version = outcome.result.metadata.application_version_id
            if version:
                versions[outcome.instance_id] = version

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
                unreachable_after=args.unreachable_after,
                submit_margin=args.submit_margin,
                on_outcome=note_outcome if args.acceptance is not None else None,
                signals=signals,
            )

    code = _runtime.run(signals.guard(main()))
    if args.acceptance is None or signals.received is not None:
        return code
    if unwritten:
        # A verdict over missing outputs would judge fewer runs than the batch made; the resume
        # writes the files and gives it.
        console.print(
            f"no acceptance verdict: {len(unwritten)} result files were not written; "
            "a resume writes them and gives the verdict"
        )
        return code
    return write_verdict(args, versions, console)


# ---------------------------------------------------------------------- status


def _register_status(subparsers: Any) -> None:
    p = _journal_command(subparsers, "status", "what a batch journal holds (no network)")
    p.set_defaults(func=run_status, check=check_journal_argument)


def _journal_command(subparsers: Any, name: str, help: str) -> argparse.ArgumentParser:
    """A command about the batch of a journal: `asyncrun NAME --journal FILE`."""
    p = new_command(subparsers, name, help=help, examples=(f"asyncrun {name} --journal sweep.db",))
    p.add_argument("--journal", type=Path, required=True, help="the journal of a batch")
    return p


def check_journal_argument(args: argparse.Namespace) -> None:
    check_existing_journal(args.journal)


def run_status(args: argparse.Namespace) -> int:
    console = Console()

    async def main() -> tuple[dict[str, str], dict[tuple[str, str | None], int]]:
        # Read without the lock: status works while a batch holds the journal.
        async with Journal(args.journal, lock=False) as journal:
            return await journal.meta(), await journal.counts()

    meta, counts = asyncio.run(main())
    holder = current_holder(str(args.journal))
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
    if holder is not None:
        console.print(
            f"in use by a running batch: pid {holder.pid} on host {holder.host} "
            f"since {holder.since}"
        )
    command = command_of(meta)
    unfinished = sum(n for (state, _), n in counts.items() if state != "terminal")
    if command and unfinished and holder is None:
        console.print(f"{unfinished} not finished; resume with:\n  {resume_command(command)}")
    return 0


# ---------------------------------------------------------------------- cancel


def _register_cancel(subparsers: Any) -> None:
    p = _journal_command(
        subparsers, "cancel", "cancel every run of a batch journal that is still in flight"
    )
    add_client_arguments(p)
    p.set_defaults(func=run_cancel, check=check_cancel_arguments)


def check_cancel_arguments(args: argparse.Namespace) -> None:
    check_existing_journal(args.journal)
    check_client_arguments(args)


def run_cancel(args: argparse.Namespace) -> int:
    console = Console()
    canceled, failed = asyncio.run(_cancel_all(args))
    console.print(f"canceled {canceled} runs" + (f", {failed} cancels failed" if failed else ""))
    return 0 if not failed else EXIT_FAILED


async def _cancel_all(args: argparse.Namespace) -> tuple[int, int]:
    async with Journal(args.journal) as journal:
        meta = await journal.meta()
        rows = await journal.rows(["submitting", "submitted"])
    if "app_id" not in meta:
        raise AsyncrunError(f"{args.journal} is not a batch journal")
    async with client_from_args(args) as client:
        tally = await cancel_journal_rows(client.application(meta["app_id"]), rows)
    return tally.canceled, tally.failed
