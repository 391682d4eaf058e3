"""`asyncrun input-set create|get|list|update|delete`: input sets with the Nextmv CLI's flags
(`nextmv cloud input-set`)."""

from __future__ import annotations

import argparse
from typing import Any

from asyncrun.application import AsyncApplication
from asyncrun.cli import experiment_render as render
from asyncrun.cli.args import json_text
from asyncrun.cli.experiment_common import (
    Kind,
    Shown,
    action_command,
    command_group,
    id_flag,
    json_objects,
    kept_commands,
    name_flags,
    rfc3339,
)

__all__ = ["register"]

_INPUT_SET = Kind("input set", "--input-set-id", "-s")


def register(subparsers: Any) -> None:
    group = command_group(
        subparsers,
        "input-set",
        "input sets (the inputs experiments run on): create, get, list, update, delete",
        [
            "asyncrun input-set create --app-id knapsack --input-set-id xs --run-ids RUN1 "
            "--run-ids RUN2",
            "asyncrun input-set create --app-id knapsack --instance-id stable "
            "--start-time 2024-01-01T00:00:00Z --end-time 2024-01-31T23:59:59Z --maximum-runs 20",
        ],
        "input_set_command",
    )
    p = action_command(
        group, "create", "create an input set from runs, managed inputs or a window", _is_create
    )
    id_flag(p, _INPUT_SET, required=False)
    name_flags(p)
    p.add_argument(
        "--run-ids",
        "-r",
        action="append",
        default=None,
        help="a run whose input is in the set (repeatable)",
    )
    p.add_argument(
        "--managed-inputs",
        type=json_text,
        default=None,
        help='managed inputs, JSON: [{"id": "..."}, ...]',
    )
    p.add_argument(
        "--instance-id",
        "-i",
        default=None,
        help="take the runs of this instance (default: the app's default)",
    )
    p.add_argument(
        "--start-time", type=rfc3339, default=None, help="runs created from this time (RFC 3339)"
    )
    p.add_argument(
        "--end-time", type=rfc3339, default=None, help="runs created until this time (RFC 3339)"
    )
    p.add_argument(
        "--maximum-runs",
        "-m",
        type=int,
        default=None,
        help="at most this many runs (default: the server's)",
    )
    updater = kept_commands(
        group,
        _INPUT_SET,
        get=("show an input set", _is_get),
        listing=("list the app's input sets", _is_list),
        update=("rename an input set or replace its managed inputs", _is_update),
        delete=("delete an input set", _INPUT_SET.deleting(AsyncApplication.delete_input_set)),
    )
    updater.add_argument(
        "--managed-inputs", type=json_text, default=None, help="the new managed inputs, JSON"
    )


# ---------------------------------------------------------------- input sets


def _managed_inputs(args: argparse.Namespace) -> list[dict[str, Any]] | None:
    if not args.managed_inputs:
        return None
    return json_objects([args.managed_inputs], "--managed-inputs")


async def _is_create(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    inputs = _managed_inputs(args)
    created = await app.new_input_set(
        id=args.input_set_id,
        name=args.name,
        description=args.description,
        end_time=args.end_time,
        instance_id=args.instance_id,
        maximum_runs=args.maximum_runs,
        run_ids=args.run_ids,
        start_time=args.start_time,
        inputs=inputs,
    )
    return Shown(created, render.input_set_table)


async def _is_get(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    return Shown(await app.input_set(args.input_set_id), render.input_set_table)


async def _is_list(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    return Shown(await app.list_input_sets(args.no_pagination), render.input_sets_table)


async def _is_update(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    inputs = _managed_inputs(args)
    updated = await app.update_input_set(args.input_set_id, args.name, args.description, inputs)
    return Shown(updated, render.input_set_table)
