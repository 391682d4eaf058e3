"""`asyncrun app|version|instance ...`: custom apps from the command line, with the Nextmv CLI's
flag names. create, get, list, update and promote print JSON on stdout (the wire shapes), so
scripts can pipe them; messages go to stderr."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from asyncrun.application import AsyncApplication
from asyncrun.apps.models import InstanceConfiguration
from asyncrun.cli.args import app_id, assignment, new_command, non_empty, wire_json
from asyncrun.cli.common import add_client_arguments, check_client_arguments, client_from_args
from asyncrun.client import AsyncClient

Action = Callable[[AsyncClient, argparse.Namespace], Awaitable[Any]]


def register(subparsers: Any) -> None:
    _register_app(subparsers)
    _register_version(subparsers)
    _register_instance(subparsers)


def _group(subparsers: Any, name: str, help: str, examples: Sequence[str]) -> Any:
    parser = new_command(subparsers, name, help=help, examples=examples)
    return parser.add_subparsers(
        dest=f"{name}_command",
        required=True,
        metavar="ACTION",
        help=f"what to do (`asyncrun {name} ACTION --help` for its options)",
    )


def _action(
    group: Any,
    name: str,
    help: str,
    action: Action,
    *,
    with_app: bool = True,
    examples: Sequence[str] = (),
) -> argparse.ArgumentParser:
    parser = new_command(group, name, help=help, examples=examples)
    if with_app:
        parser.add_argument("--app-id", type=app_id, required=True, help="the application id")
    add_client_arguments(parser)
    parser.set_defaults(func=lambda args: _execute(action, args), check=check_client_arguments)
    return parser


def _texts(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", type=non_empty, default=None, help="a name (default: the id)")
    parser.add_argument("--description", default=None, help="a description")


def _register_app(subparsers: Any) -> None:
    group = _group(
        subparsers,
        "app",
        "custom apps: create, get, list, update, delete, push, promote",
        [
            "asyncrun app create --app-id knapsack",
            "asyncrun app push --app-id knapsack --app-dir examples/knapsack",
            "asyncrun app promote --app-id knapsack --version-id v1 --instance-id stable",
        ],
    )
    p = _action(
        group,
        "create",
        "create an application (prints it as JSON)",
        _app_create,
        examples=["asyncrun app create --app-id knapsack --name Knapsack"],
    )
    _texts(p)
    p.add_argument("--default-instance-id", default=None, help="runs without --instance-id go here")
    _action(group, "get", "print an application as JSON", _app_get)
    _action(group, "list", "print every application as a JSON list", _app_list, with_app=False)
    p = _action(
        group, "update", "change an application's name, description or default", _app_update
    )
    _texts(p)
    p.add_argument("--default-instance-id", default=None, help="runs without --instance-id go here")
    _action(group, "delete", "delete an application", _app_delete)
    p = _action(
        group,
        "push",
        "package --app-dir as its app.yaml says and push it (devint runs it then)",
        _app_push,
        examples=["asyncrun app push --app-id knapsack --app-dir examples/knapsack"],
    )
    p.add_argument(
        "--app-dir", type=Path, default=Path("."), help="the app's directory (default .)"
    )
    p = _action(
        group,
        "promote",
        "a new version from the current binary, on the default instance or --instance-id "
        "(created if missing, then the default); prints the instance",
        _app_promote,
        examples=["asyncrun app promote --app-id knapsack --version-id v2 --instance-id stable"],
    )
    p.add_argument("--version-id", required=True, help="the version id")
    p.add_argument("--name", default=None, help="the version's name (default: its id)")
    p.add_argument(
        "--instance-id",
        default=None,
        help="the instance to promote to, created if missing, then the default "
        "(default: the app's default instance)",
    )


def _register_version(subparsers: Any) -> None:
    group = _group(
        subparsers,
        "version",
        "versions of an app: create, get, list, update, delete",
        ["asyncrun version create --app-id knapsack --version-id v2"],
    )
    p = _action(group, "create", "a version pinning the app's current binary", _version_create)
    p.add_argument("--version-id", default=None, help="the id (default: generated)")
    _texts(p)
    p = _action(group, "get", "print a version as JSON", _version_get)
    p.add_argument("--version-id", required=True, help="the version id")
    _action(group, "list", "print the app's versions as a JSON list", _version_list)
    p = _action(group, "update", "change a version's name or description", _version_update)
    p.add_argument("--version-id", required=True, help="the version id")
    _texts(p)
    p = _action(group, "delete", "delete a version no instance uses", _version_delete)
    p.add_argument("--version-id", required=True, help="the version id")


def _register_instance(subparsers: Any) -> None:
    group = _group(
        subparsers,
        "instance",
        "instances of an app: create, get, list, update, delete",
        ["asyncrun instance update --app-id knapsack --instance-id candidate --version-id v2"],
    )
    p = _action(
        group,
        "create",
        "an instance running --version-id",
        _instance_create,
        examples=[
            "asyncrun instance create --app-id knapsack --instance-id candidate "
            "--version-id v2 --option duration=5"
        ],
    )
    p.add_argument("--instance-id", default=None, help="the id (default: generated)")
    p.add_argument("--version-id", required=True, help="the version id")
    _texts(p)
    _instance_options(p)
    p = _action(group, "get", "print an instance as JSON", _instance_get)
    p.add_argument("--instance-id", required=True, help="the instance id")
    _action(group, "list", "print the app's instances as a JSON list", _instance_list)
    p = _action(group, "update", "point an instance at a version, rename it", _instance_update)
    p.add_argument("--instance-id", required=True, help="the instance id")
    p.add_argument("--version-id", default=None, help="the version to run (default: unchanged)")
    _texts(p)
    _instance_options(p)
    p = _action(group, "delete", "delete an instance (not the app's default)", _instance_delete)
    p.add_argument("--instance-id", required=True, help="the instance id")


def _instance_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--option",
        action="append",
        metavar="K=V",
        type=assignment,
        help="a default run option of the instance (repeatable; replaces the instance's options)",
    )


# ---------------------------------------------------------------- running an action


def _execute(action: Action, args: argparse.Namespace) -> int:
    """Errors are main's to show: ConfigError and InputError exit 2, API errors 1."""
    code: int = asyncio.run(_with_client(action, args))
    return code


async def _with_client(action: Action, args: argparse.Namespace) -> int:
    async with client_from_args(args) as client:
        shown = await action(client, args)
    if shown is not None:
        json.dump(wire_json(shown), sys.stdout, indent=2)
        print()
    return 0


def _app(client: AsyncClient, args: argparse.Namespace) -> AsyncApplication:
    return client.application(args.app_id)


def _configuration(args: argparse.Namespace) -> InstanceConfiguration | None:
    if not args.option:
        return None
    return InstanceConfiguration(options=dict(args.option))


def _done(message: str) -> None:
    Console(stderr=True).print(message, highlight=False)


# ---------------------------------------------------------------- app


async def _app_create(client: AsyncClient, args: argparse.Namespace) -> Any:
    app = await client.new_application(
        args.app_id, args.name, args.description, args.default_instance_id
    )
    return await app.get()


async def _app_get(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).get()


async def _app_list(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await client.list_applications()


async def _app_update(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).update(
        name=args.name, description=args.description, default_instance_id=args.default_instance_id
    )


async def _app_delete(client: AsyncClient, args: argparse.Namespace) -> Any:
    await _app(client, args).delete()
    _done(f"deleted application {args.app_id}")


async def _app_push(client: AsyncClient, args: argparse.Namespace) -> Any:
    await _app(client, args).push(args.app_dir)
    _done(f"pushed {args.app_dir} to {args.app_id}: instance devint (alias latest) runs it now")


async def _app_promote(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).promote(
        args.version_id, name=args.name, instance_id=args.instance_id
    )


# ---------------------------------------------------------------- version


async def _version_create(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).new_version(args.version_id, args.name, args.description)


async def _version_get(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).version(args.version_id)


async def _version_list(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).list_versions()


async def _version_update(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).update_version(args.version_id, args.name, args.description)


async def _version_delete(client: AsyncClient, args: argparse.Namespace) -> Any:
    await _app(client, args).delete_version(args.version_id)
    _done(f"deleted version {args.version_id}")


# ---------------------------------------------------------------- instance


async def _instance_create(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).new_instance(
        args.version_id, args.instance_id, args.name, args.description, _configuration(args)
    )


async def _instance_get(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).instance(args.instance_id)


async def _instance_list(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).list_instances()


async def _instance_update(client: AsyncClient, args: argparse.Namespace) -> Any:
    return await _app(client, args).update_instance(
        args.instance_id,
        name=args.name,
        version_id=args.version_id,
        description=args.description,
        configuration=_configuration(args),
    )


async def _instance_delete(client: AsyncClient, args: argparse.Namespace) -> Any:
    await _app(client, args).delete_instance(args.instance_id)
    _done(f"deleted instance {args.instance_id}")
