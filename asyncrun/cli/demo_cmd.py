"""`asyncrun demo`: a 200-scenario sweep against an in-process emulator, with the progress bar,
result files, summary CSV and summary table of `asyncrun batch`. Needs no account."""

from __future__ import annotations

import argparse
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Console

from asyncrun import _runtime
from asyncrun.batch.scenario import Scenario, with_grid
from asyncrun.cli.args import check_out_dir, new_command, non_negative_float, positive_int
from asyncrun.cli.common import execute_batch, limits_named
from asyncrun.cli.stop_signals import StopSignals
from asyncrun.client import AsyncClient
from asyncrun.errors import ConfigError

_GRID = (("solve.duration", ("1s", "5s")), ("seed", ("1", "2")))
_FAIL_EVERY = 40  # a few scenarios fail on purpose, to show how failures are reported


def register(subparsers: Any) -> None:
    p = new_command(
        subparsers,
        "demo",
        help="a sweep against an in-process emulator (no account needed)",
        examples=(
            "asyncrun demo",
            "asyncrun demo --scenarios 2000 --max-in-flight 500 --duration 0.5 2",
        ),
    )
    p.add_argument("--scenarios", type=positive_int, default=200, help="how many scenarios to run")
    p.add_argument(
        "--max-in-flight",
        type=positive_int,
        default=50,
        help="runs submitted and not yet finished, at most",
    )
    p.add_argument(
        "--duration",
        type=non_negative_float,
        nargs=2,
        metavar=("LOW", "HIGH"),
        default=(1.0, 5.0),
        help="run durations in seconds, uniform between LOW and HIGH",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("demo-out"),
        help="folder for the result files and summary.csv",
    )
    p.set_defaults(func=run_demo, check=check_demo_arguments)


def check_demo_arguments(args: argparse.Namespace) -> None:
    low, high = args.duration
    if low > high:
        raise ConfigError(f"--duration LOW HIGH: LOW ({low}) is above HIGH ({high})")
    check_out_dir(args.out)


def demo_scenarios(count: int) -> Iterator[Scenario]:
    """`count` scenarios: instances crossed with a 2 x 2 option grid."""
    instances = (
        Scenario(
            key=f"inst-{i:03d}",
            input={"instance": i, "demand": [(i * 7 + j) % 13 for j in range(8)]},
            options={"emulator.fail": "infeasible (on purpose)"} if i % _FAIL_EVERY == 7 else {},
        )
        for i in itertools.count()
    )
    return itertools.islice(with_grid(instances, _GRID), count)


def run_demo(args: argparse.Namespace) -> int:
    console = Console()
    console.print(
        f"asyncrun demo: {args.scenarios} scenarios, at most {args.max_in_flight} in flight, "
        "against an in-process emulator"
    )
    signals = StopSignals()
    return _runtime.run(signals.guard(_demo(args, console, signals)))


async def _demo(args: argparse.Namespace, console: Console, signals: StopSignals) -> int:
    from asyncrun.emulator import EmulatorConfig, serve  # an aiohttp server: imported when served

    config = EmulatorConfig(duration=(args.duration[0], args.duration[1]))
    with tempfile.TemporaryDirectory(prefix="asyncrun-demo-") as temp:
        # The journal is scratch; the results are what the user looks at, so they outlive it.
        out: Path = args.out
        async with (
            serve(config) as emulator,
            # Its own emulator on this machine's loopback: a proxy of the environment could not
            # reach it, so the proxy variables are not read.
            AsyncClient(
                api_key="demo-key",
                url=emulator.url,
                limits=limits_named("unlimited"),
                trust_env=False,
            ) as client,
        ):
            await execute_batch(
                client.application("demo-app"),
                lambda: demo_scenarios(args.scenarios),
                total=args.scenarios,
                max_in_flight=args.max_in_flight,
                journal=Path(temp) / "journal.db",
                out=out,
                on_interrupt="cancel",
                argv=["demo"],
                console=console,
                signals=signals,
            )
            stats = emulator.stats()
        duplicates = sum(1 for n in stats["runs_per_name"].values() if n > 1)
        console.print(
            f"emulator: {stats['runs_created']} runs created, {duplicates} names submitted twice"
        )
    # The demo has failing scenarios on purpose: finishing the sweep is success.
    return 0
