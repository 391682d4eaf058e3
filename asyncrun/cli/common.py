"""What the run and batch commands share: client options (--url, --limits), scenario sources,
and running a batch with its progress bar, result files, summary CSV and table."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shlex
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from rich.console import Console

from asyncrun._proxy import parse_proxy
from asyncrun._tls import SYSTEM, Verify, check_verify, resolve_trust, ssl_setting
from asyncrun.application import AsyncApplication
from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.failfast import UNREACHABLE_AFTER
from asyncrun.batch.interrupts import Interrupt
from asyncrun.batch.outcome import RunOutcome, result_value
from asyncrun.batch.reconcile import SUBMIT_MARGIN
from asyncrun.batch.runner import run_batch
from asyncrun.batch.scenario import INSTANCE_DIMENSION, Scenario, from_sources, with_grid
from asyncrun.cli.args import EXIT_FAILED, http_url
from asyncrun.cli.render import BatchProgress, Summary, SummaryCSV
from asyncrun.cli.stop_signals import StopSignals
from asyncrun.client import AsyncClient
from asyncrun.config import (
    Limits,
    RateLimits,
    Timeouts,
    needs_profile_file,
    read_profile,
    resolve_credentials,
)
from asyncrun.errors import ConfigError

__all__ = [
    "add_client_arguments",
    "check_client_arguments",
    "client_from_args",
    "execute_batch",
    "limits_named",
    "scenario_factory",
]

_PRESETS: Mapping[str, Callable[[], RateLimits]] = MappingProxyType(
    {
        "standard": RateLimits.standard,
        "power": RateLimits.power,
        "unlimited": RateLimits.unlimited,
    }
)
_REFRESH_SECONDS = 0.2


def add_client_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        type=http_url,
        default=None,
        help="API base URL, http:// or https:// (default: NEXTMV_ENDPOINT, else `endpoint` in "
        "~/.nextmv/config.yaml, else the Nextmv Cloud)",
    )
    parser.add_argument(
        "--limits",
        choices=sorted(_PRESETS),
        default="standard",
        help="client-side rate limits: a plan's published limits (standard, power) or none "
        "(unlimited, for the emulator)",
    )
    trust = parser.add_mutually_exclusive_group()
    trust.add_argument(
        "--ca-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="trust the CA certificates in PATH (a PEM file or a directory) for HTTPS "
        "(default: the system's store with NEXTMV_SYSTEM_CERTS=1, else REQUESTS_CA_BUNDLE, "
        "else CURL_CA_BUNDLE, else SSL_CERT_FILE / SSL_CERT_DIR, else the system's bundle)",
    )
    trust.add_argument(
        "--system-trust",
        action="store_true",
        help="trust the operating system's certificate store (Keychain, Windows store, the "
        "system bundle) through the truststore package: pip install 'asyncrun[truststore]'",
    )
    parser.add_argument(
        "--proxy",
        type=proxy_url,
        default=None,
        metavar="URL",
        help="send every request through this HTTP proxy, http://HOST:PORT (default: "
        "HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY; a proxy that needs a password: "
        "put its URL in those, not on the command line)",
    )


def proxy_url(text: str) -> str:
    """--proxy: an http:// proxy URL without credentials (a command line is shown by `ps` and
    kept in the batch journal, so a password never goes there)."""
    try:
        proxy = parse_proxy(text, source="")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if proxy.authorization is not None:
        raise argparse.ArgumentTypeError(
            "credentials on the command line are shown by `ps` and kept in the journal: "
            "put the proxy URL with them in HTTPS_PROXY (and HTTP_PROXY) instead"
        )
    return text


def check_client_arguments(args: argparse.Namespace) -> None:
    """The API key and URL resolve (NEXTMV_API_KEY, NEXTMV_ENDPOINT, the profile file), before
    anything is sent: the same resolution the client makes when it opens."""
    profile = read_profile(None) if needs_profile_file(None, args.url) else None
    resolve_credentials(None, args.url, profile)
    # A bundle that is missing or holds no CA (given, or named by a variable), or no truststore.
    ssl_setting(resolve_trust(check_verify(_verify(args))))


def limits_named(name: str) -> Limits:
    return Limits(rate=_PRESETS[name](), max_connections=200)


def client_from_args(args: argparse.Namespace, *, api_key: str | None = None) -> AsyncClient:
    """The API key comes from NEXTMV_API_KEY or ~/.nextmv/config.yaml, never from the command
    line (a command line is stored in the journal and shown in `ps`)."""
    return AsyncClient(
        api_key=api_key,
        url=args.url,
        limits=limits_named(args.limits),
        verify=_verify(args),
        proxy=getattr(args, "proxy", None),
        timeouts=_timeouts(args),
    )


def _verify(args: argparse.Namespace) -> Verify:
    if args.system_trust:
        return SYSTEM
    ca_file: Path | None = args.ca_file
    return ca_file if ca_file is not None else True


def _timeouts(args: argparse.Namespace) -> Timeouts:
    changes = {
        phase: getattr(args, f"{phase}_timeout")
        for phase in ("connect", "read")
        if getattr(args, f"{phase}_timeout", None) is not None
    }
    return Timeouts(**changes)


def scenario_factory(args: argparse.Namespace) -> Callable[[], Iterator[Scenario]]:
    """A function making a fresh scenario generator from SOURCES, --instance-id, --option and
    --grid (called once to count, once to run: nothing is held in memory)."""
    options = dict(args.option or [])
    grid = list(args.grid or [])
    base: dict[str, Any] = {"options": options}
    instances = list(dict.fromkeys(args.instance_id or []))
    if len(instances) == 1:
        base["instance_id"] = instances[0]
    elif instances:  # several: the same scenarios side by side on each
        grid.insert(0, (INSTANCE_DIMENSION, instances))
    sources: Sequence[str] = args.sources

    def make() -> Iterator[Scenario]:
        return with_grid(from_sources(sources, base=base), grid)

    return make


def resume_command(argv: Sequence[str]) -> str:
    return shlex.join(["asyncrun", *argv])


async def execute_batch(
    app: AsyncApplication,
    scenarios: Callable[[], Iterator[Scenario]],
    *,
    total: int | None,
    max_in_flight: int,
    journal: Path,
    out: Path,
    on_interrupt: Interrupt,
    argv: Sequence[str],
    console: Console,
    batch_tag: str | None = None,
    unreachable_after: float = UNREACHABLE_AFTER,
    submit_margin: float = SUBMIT_MARGIN,
    on_outcome: Callable[[RunOutcome], None] | None = None,
    signals: StopSignals | None = None,
) -> int:
    """Run the batch with a live progress bar; write one result file per scenario under
    `out/results`, `out/summary.csv`; print the summary table. `on_outcome` sees each outcome
    as it arrives. Exit code: 0 when every scenario succeeded and every file was written, 1
    otherwise. Interrupted (a stop signal, `signals` names it): one line saying how to resume,
    and CancelledError."""
    counters = BatchCounters()
    summary = Summary()
    command = resume_command(argv)
    outcomes = run_batch(
        app,
        scenarios(),
        max_in_flight=max_in_flight,
        journal=journal,
        on_interrupt=on_interrupt,
        output_dir=out / "results",
        command=list(argv),
        counters=counters,
        batch_tag=batch_tag,
        unreachable_after=unreachable_after,
        submit_margin=submit_margin,
    )
    started = time.monotonic()
    try:
        with BatchProgress(total, console) as progress, SummaryCSV(out / "summary.csv") as table:
            refresher = asyncio.create_task(_refresh(progress, counters, started))
            try:
                async with contextlib.aclosing(outcomes):
                    async for outcome in outcomes:
                        value = await _value_of(outcome)
                        summary.add(outcome, value)
                        table.write(outcome, value)
                        if on_outcome is not None:
                            on_outcome(outcome)
                if counters.duplicate_runs:
                    summary.duplicates = list(counters.duplicate_runs)
                    await asyncio.to_thread(table.add_duplicates, summary.duplicates)
            finally:
                refresher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await refresher
                progress.refresh(counters, time.monotonic() - started)
    except asyncio.CancelledError:
        by = f" by {signals.name}" if signals is not None and signals.name else ""
        line = _interrupted_message(by, on_interrupt, journal, command)
        console.print(line, markup=False, highlight=False, soft_wrap=True)
        raise
    for rendered in summary.tables():
        console.print(rendered)
    reasons = summary.reason_lines()
    if reasons:
        console.print("why scenarios did not succeed:")
        for line in reasons:
            console.print("  " + line, markup=False, highlight=False)
    console.print(f"results in {out / 'results'}, summary in {out / 'summary.csv'}")
    unwritten = _unwritten_lines(summary, table, command)
    for line in unwritten:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    complete = summary.statuses.get("succeeded", 0) == summary.total and not unwritten
    return 0 if complete else EXIT_FAILED


def _interrupted_message(by: str, policy: str, journal: Path, command: str) -> str:
    what = (
        "runs in flight were canceled"
        if policy == "cancel"
        else "runs in flight keep running in the cloud"
    )
    return f"interrupted{by}: {what}; journal {journal}. Resume with: {command}"


def _unwritten_lines(summary: Summary, table: SummaryCSV, command: str) -> list[str]:
    """What could not be written (result files, summary.csv), and that a resume writes it."""
    lines = []
    if summary.unwritten:
        first = summary.unwritten[0]
        lines.append(
            f"{len(summary.unwritten)} result files were not written (first: {first}); their "
            "runs are kept in the journal and a resume writes them"
        )
    if table.error is not None:
        lines.append(f"{table.path} was not written ({table.error}); a resume writes it")
    if lines:
        lines.append(f"the batch did not complete. Resume with: {command}")
    return lines


async def _refresh(progress: BatchProgress, counters: BatchCounters, started: float) -> None:
    while True:
        progress.refresh(counters, time.monotonic() - started)
        await asyncio.sleep(_REFRESH_SECONDS)


async def _value_of(outcome: RunOutcome) -> float | None:
    """The result value; for a scenario finished by an earlier process, read from its file."""
    if outcome.result is not None or not outcome.result_location or outcome.status != "succeeded":
        return outcome.value
    return await asyncio.to_thread(_value_in_file, Path(outcome.result_location))


def _value_in_file(path: Path) -> float | None:
    try:
        with path.open(encoding="utf-8") as source:
            return result_value(json.load(source))
    except (OSError, ValueError):
        return None


def count_scenarios(scenarios: Callable[[], Iterator[Scenario]]) -> int:
    """How many scenarios there are (one pass over the generator; raises ConfigError early for a
    bad source or manifest line, before anything is submitted)."""
    return sum(1 for _ in scenarios())
