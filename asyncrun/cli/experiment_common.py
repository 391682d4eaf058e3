"""What the input-set and experiment commands share: the parser conventions (the Nextmv CLI's
flag names), running an action with a client, and showing its value as a table, `--json` or
`--output PATH`."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType

from asyncrun.application import AsyncApplication
from asyncrun.cli.args import app_id, check_writable_file, new_command, non_empty, wire_json
from asyncrun.cli.common import add_client_arguments, check_client_arguments, client_from_args
from asyncrun.errors import ConfigError
from asyncrun.experiments import DEFAULT_EXPERIMENT_POLLING
from asyncrun.polling import PollingOptions

__all__ = [
    "Action",
    "Command",
    "Delete",
    "Kind",
    "Shown",
    "Update",
    "action_command",
    "command_group",
    "done",
    "id_flag",
    "json_objects",
    "kept_commands",
    "name_flags",
    "no_pagination_flag",
    "polling_of",
    "rfc3339",
    "wait_flags",
    "waits",
    "yes_flag",
]


@dataclass(frozen=True)
class Shown:
    """What a command shows: the value (a model or a list of models; None: nothing), how to
    draw it as a table, and the exit code it implies."""

    value: Any = None
    draw: Callable[[Any], RenderableType] | None = None
    code: int = 0


Action = Callable[[AsyncApplication, argparse.Namespace], Awaitable[Shown]]
Command = tuple[str, Action]
"""A command's help and its action."""
Delete = Callable[[AsyncApplication, str], Awaitable[None]]
Update = Callable[[AsyncApplication, str, str | None, str | None], Awaitable[Any]]


@dataclass(frozen=True)
class Kind:
    """What a command group acts on: its name in help texts and its id flag (the Nextmv
    CLI's long and short names)."""

    what: str
    flag: str
    short: str

    def id_of(self, args: argparse.Namespace) -> str:
        """The id the command line gave with the flag."""
        given: str = getattr(args, self.flag.removeprefix("--").replace("-", "_"))
        return given

    def deleting(self, delete: Delete) -> Action:
        """The delete action: `delete` the item the flag names, and say so."""

        async def action(app: AsyncApplication, args: argparse.Namespace) -> Shown:
            await delete(app, self.id_of(args))
            return done(f"deleted {self.what} {self.id_of(args)}")

        return action

    def renaming(self, update: Update, draw: Callable[[Any], RenderableType]) -> Action:
        """The update action of --name and --description; it shows the answer with `draw`."""

        async def action(app: AsyncApplication, args: argparse.Namespace) -> Shown:
            updated = await update(app, self.id_of(args), args.name, args.description)
            return Shown(updated, draw)

        return action


def command_group(
    subparsers: Any,
    name: str,
    help: str,
    examples: Sequence[str],
    dest: str,
    *,
    metavar: str = "ACTION",
    what: str = "what to do",
) -> Any:
    parser = new_command(subparsers, name, help=help, examples=examples)
    return parser.add_subparsers(
        dest=dest, required=True, metavar=metavar, help=f"{what} ({metavar} --help: its options)"
    )


def action_command(
    group: Any, name: str, help: str, action: Action, examples: Sequence[str] = ()
) -> Any:
    parser = new_command(group, name, help=help, examples=examples)
    parser.add_argument("--app-id", "-a", type=app_id, required=True, help="the application id")
    parser.add_argument(
        "--json", action="store_true", help="print the wire JSON instead of a table"
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        metavar="PATH",
        help="also write the JSON to PATH",
    )
    add_client_arguments(parser)
    parser.set_defaults(func=lambda args: _execute(action, args), check=_check)
    return parser


def _check(args: argparse.Namespace) -> None:
    """Before the client opens: credentials, a writable --output, a usable --timeout."""
    check_client_arguments(args)
    if args.output is not None:
        check_writable_file(args.output, "--output")
    if getattr(args, "timeout", None) is not None:
        polling_of(args)


def id_flag(parser: Any, kind: Kind, *, required: bool) -> None:
    help = f"the {kind.what} id" + ("" if required else " (default: generated)")
    parser.add_argument(
        kind.flag, kind.short, type=non_empty, required=required, default=None, help=help
    )


def kept_commands(
    group: Any,
    kind: Kind,
    *,
    get: Command,
    listing: Command,
    update: Command,
    delete: Command,
    wait: bool = False,
) -> Any:
    """The get, list, update and delete commands of `kind` (get with --wait when `wait`);
    the update parser, for flags of its own."""
    p = action_command(group, "get", *get)
    id_flag(p, kind, required=True)
    if wait:
        wait_flags(p, kind.what)
    no_pagination_flag(action_command(group, "list", *listing))
    updater = action_command(group, "update", *update)
    id_flag(updater, kind, required=True)
    name_flags(updater)
    p = action_command(group, "delete", *delete)
    id_flag(p, kind, required=True)
    yes_flag(p)
    return updater


def name_flags(parser: Any) -> None:
    parser.add_argument(
        "--name", "-n", type=non_empty, default=None, help="a name (default: the id)"
    )
    parser.add_argument("--description", "-d", default=None, help="a description")


def wait_flags(parser: Any, what: str) -> None:
    parser.add_argument(
        "--wait", "-w", action="store_true", help=f"wait for the {what} to finish and show it"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_EXPERIMENT_POLLING.max_duration,
        metavar="SECONDS",
        help="give up waiting after SECONDS (-1: no limit)",
    )


def yes_flag(parser: Any) -> None:
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="accepted for the Nextmv CLI's scripts (never asks)",
    )


def no_pagination_flag(parser: Any) -> None:
    parser.add_argument(
        "--no-pagination", action="store_true", help="one request, without following pages"
    )


def rfc3339(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an RFC 3339 time like 2024-01-01T00:00:00Z, got {text!r}"
        ) from None


# ---------------------------------------------------------------- running an action


def _execute(action: Action, args: argparse.Namespace) -> int:
    """Errors are main's to show: ConfigError exits 2 (nothing was sent), API errors 1."""
    code: int = asyncio.run(_with_app(action, args))
    return code


async def _with_app(action: Action, args: argparse.Namespace) -> int:
    async with client_from_args(args) as client:
        shown = await action(client.application(args.app_id), args)
    _show(shown, args)
    return shown.code


def _show(shown: Shown, args: argparse.Namespace) -> None:
    if shown.value is None or shown.draw is None:
        return
    text = json.dumps(wire_json(shown.value), indent=2)
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
        Console(stderr=True).print(f"wrote {args.output}", highlight=False)
    if args.json:
        print(text)
    else:
        Console().print(shown.draw(shown.value))


def done(message: str) -> Shown:
    Console(stderr=True).print(message, highlight=False)
    return Shown()


def json_objects(values: Sequence[Any] | None, flag: str) -> list[dict[str, Any]]:
    """Each value of a repeatable JSON flag: an object, or a list of objects, flattened."""
    found: list[dict[str, Any]] = []
    for value in values or []:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, dict):
                raise ConfigError(f"{flag}: expected JSON objects, got {json.dumps(item)}")
            found.append(item)
    return found


def polling_of(args: argparse.Namespace) -> PollingOptions:
    """--timeout as polling options: the SDK's schedule, at most that many seconds."""
    timeout = args.timeout
    if timeout != -1 and not (math.isfinite(timeout) and timeout > 0):
        raise ConfigError(f"--timeout must be > 0 seconds, or -1 for no limit (got {timeout})")
    return DEFAULT_EXPERIMENT_POLLING.model_copy(update={"max_duration": args.timeout})


def waits(args: argparse.Namespace) -> bool:
    return bool(args.wait or args.output is not None)
