"""`asyncrun run`: submit one run; with --wait (or --output) wait for it and show the result."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from asyncrun.application import AsyncApplication
from asyncrun.batch.schedule import BATCH_POLLING
from asyncrun.cli.args import (
    EXIT_FAILED,
    app_id,
    assignment,
    check_out_dir,
    check_readable,
    check_writable_file,
    new_command,
    non_empty,
    positive_float,
)
from asyncrun.cli.common import add_client_arguments, check_client_arguments, client_from_args
from asyncrun.cli.stop_signals import StopSignals
from asyncrun.errors import ConfigError
from asyncrun.models import ContentFormat, StatusV2


def register(subparsers: Any) -> None:
    p = new_command(
        subparsers,
        "run",
        help="submit one run; with --wait or --output, wait for it and show its output",
        examples=(
            "asyncrun run --app-id my-app input.json --option solve.duration=10s --wait",
            "asyncrun run --app-id my-app --input-json '{\"demand\": [3, 4]}' --output out.json",
            "asyncrun run --app-id my-app inputs/ --output out/     # a multi-file run",
        ),
    )
    p.add_argument("--app-id", required=True, type=app_id, help="the Nextmv application to run")
    p.add_argument(
        "input",
        nargs="?",
        type=Path,
        help="an input file (.json is sent as JSON, anything else as text) or a directory "
        "(multi-file); or give --input-json",
    )
    p.add_argument(
        "--input-json",
        default=None,
        help="the input as JSON text (default: none, give INPUT instead)",
    )
    p.add_argument(
        "--instance-id",
        type=non_empty,
        default=None,
        help="instance to run on (default: the application's default instance)",
    )
    p.add_argument(
        "--option",
        action="append",
        type=assignment,
        metavar="NAME=VALUE",
        help="a run option (repeatable; default: none)",
    )
    p.add_argument("--name", type=non_empty, default=None, help="run name (default: no name)")
    p.add_argument("--wait", action="store_true", help="wait for the run to finish")
    p.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write the output to this file (a folder for multi-file outputs); implies --wait "
        "(default: print it)",
    )
    p.add_argument(
        "--timeout",
        type=_timeout,
        default=-1,
        help="seconds to wait for the run, -1 for no limit",
    )
    add_client_arguments(p)
    p.set_defaults(func=run_one, check=check_run_arguments)


def _timeout(text: str) -> float:
    if text.strip() == "-1":
        return -1.0
    return positive_float(text)


def check_run_arguments(args: argparse.Namespace) -> None:
    if (args.input is None) == (args.input_json is None):
        raise ConfigError("give an input file or directory, or --input-json (one of them)")
    if args.input is not None:
        check_readable(args.input, "input")
    if args.output is not None and args.output.is_dir():  # a multi-file output goes there
        check_out_dir(args.output, "--output")
    elif args.output is not None:
        check_writable_file(args.output, "--output")
    check_client_arguments(args)


def _input_arguments(args: argparse.Namespace) -> dict[str, Any]:
    if args.input_json is not None:
        try:
            return {"input": json.loads(args.input_json)}
        except ValueError:
            raise ConfigError("--input-json is not valid JSON") from None
    path: Path = args.input
    if path.is_dir():
        return {"dir_path": path}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if path.suffix.lower() == ".json":
        try:
            return {"input": json.loads(text)}
        except ValueError:
            raise ConfigError(f"{path} is not valid JSON") from None
    return {"input": text}


def run_one(args: argparse.Namespace) -> int:
    signals = StopSignals()
    return asyncio.run(signals.guard(_run(args, Console(), signals)))


async def _run(args: argparse.Namespace, console: Console, signals: StopSignals) -> int:
    kwargs = _input_arguments(args)
    options = dict(args.option or [])
    async with client_from_args(args) as client:
        app = client.application(args.app_id)
        run_id = await app.new_run(
            instance_id=args.instance_id, name=args.name, options=options or None, **kwargs
        )
        print(run_id, flush=True)
        if not (args.wait or args.output):
            return 0
        try:
            return await _follow(args, app, run_id, console)
        except asyncio.CancelledError:
            if signals.received is not None:
                print(
                    f"interrupted ({signals.name}): run {run_id} keeps running in the cloud",
                    file=sys.stderr,
                )
            raise


async def _follow(
    args: argparse.Namespace, app: AsyncApplication, run_id: str, console: Console
) -> int:
    """Wait for the run, then show or write its output."""
    polling = BATCH_POLLING.model_copy(update={"max_duration": args.timeout})
    info = await app.run_metadata_with_polling(run_id, polling)
    status = info.metadata.status_v2
    console.print(f"run {run_id}: {status}", highlight=False)
    if status != StatusV2.succeeded:
        if info.metadata.error:
            console.print(f"error: {info.metadata.error}", highlight=False)
        return EXIT_FAILED
    multi_file = info.metadata.output_type != ContentFormat.json
    result = await app.run_result(run_id, info=info, output_dir=args.output if multi_file else None)
    if args.output is None:
        json.dump(result.output, sys.stdout, indent=2)
        print()
    elif not multi_file:
        text = json.dumps(result.output, indent=2)
        await asyncio.to_thread(args.output.write_text, text, "utf-8")
        console.print(f"output written to {args.output}")
    else:
        console.print(f"output extracted into {args.output}")
    return 0
