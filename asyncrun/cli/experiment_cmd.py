"""`asyncrun input-set ...` and `asyncrun experiment batch|acceptance|scenario ...`: the
platform's experiments from the command line, with the Nextmv CLI's flag names
(`nextmv cloud input-set|batch|acceptance|scenario`).

`experiment` groups the three kinds because `asyncrun batch` is the client-side sweep: a
Nextmv CLI line ports by writing `asyncrun experiment batch create` for `nextmv cloud batch
create` (and `asyncrun input-set` for `nextmv cloud input-set`), same flags. Every command
prints a rich table, or with `--json` the wire JSON; `--output PATH` also writes the JSON to
PATH. `create --wait` (or `--output`) waits for the result, at most `--timeout` seconds; with
--wait, an acceptance test that does not pass and an experiment that failed exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from rich.console import Console, RenderableType

from asyncrun.application import AsyncApplication
from asyncrun.cli import experiment_render as render
from asyncrun.cli.args import EXIT_FAILED, app_id, json_text, new_command, non_empty
from asyncrun.cli.common import add_client_arguments, check_client_arguments, client_from_args
from asyncrun.errors import ConfigError
from asyncrun.experiments import (
    DEFAULT_EXPERIMENT_POLLING,
    AcceptanceTest,
    ExperimentStatus,
    to_runs,
)
from asyncrun.polling import PollingOptions

__all__ = ["register"]

Action = Callable[[AsyncApplication, argparse.Namespace], Awaitable["Shown"]]


class Shown:
    """What a command shows: the value (a model or a list of models), how to draw it, and
    the exit code it implies."""

    def __init__(self, value: Any, draw: Callable[[Any], RenderableType], code: int = 0) -> None:
        self.value = value
        self.draw = draw
        self.code = code


def register(subparsers: Any) -> None:
    _register_input_set(subparsers)
    _register_experiment(subparsers)


# ---------------------------------------------------------------- parsers


def _group(subparsers: Any, name: str, help: str, examples: Sequence[str], dest: str) -> Any:
    parser = new_command(subparsers, name, help=help, examples=examples)
    return parser.add_subparsers(
        dest=dest, required=True, metavar="ACTION", help="what to do (ACTION --help: its options)"
    )


def _action(group: Any, name: str, help: str, action: Action, examples: Sequence[str] = ()) -> Any:
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
    parser.set_defaults(func=lambda args: _execute(action, args), check=check_client_arguments)
    return parser


def _id_flag(parser: Any, flag: str, short: str, what: str, *, required: bool) -> None:
    help = f"the {what} id" + ("" if required else " (default: generated)")
    parser.add_argument(flag, short, type=non_empty, required=required, default=None, help=help)


def _texts(parser: Any) -> None:
    parser.add_argument(
        "--name", "-n", type=non_empty, default=None, help="a name (default: the id)"
    )
    parser.add_argument("--description", "-d", default=None, help="a description")


def _waiting(parser: Any, what: str) -> None:
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


def _yes(parser: Any) -> None:
    parser.add_argument(
        "--yes",
        "-y",
        action="store_true",
        help="accepted for the Nextmv CLI's scripts (never asks)",
    )


def _no_pagination(parser: Any) -> None:
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


def _register_input_set(subparsers: Any) -> None:
    group = _group(
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
    p = _action(
        group, "create", "create an input set from runs, managed inputs or a window", _is_create
    )
    _id_flag(p, "--input-set-id", "-s", "input set", required=False)
    _texts(p)
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
    p = _action(group, "get", "show an input set", _is_get)
    _id_flag(p, "--input-set-id", "-s", "input set", required=True)
    p = _action(group, "list", "list the app's input sets", _is_list)
    _no_pagination(p)
    p = _action(group, "update", "rename an input set or replace its managed inputs", _is_update)
    _id_flag(p, "--input-set-id", "-s", "input set", required=True)
    _texts(p)
    p.add_argument(
        "--managed-inputs", type=json_text, default=None, help="the new managed inputs, JSON"
    )
    p = _action(group, "delete", "delete an input set", _is_delete)
    _id_flag(p, "--input-set-id", "-s", "input set", required=True)
    _yes(p)


def _register_experiment(subparsers: Any) -> None:
    kinds = _group(
        subparsers,
        "experiment",
        "the platform's experiments: batch experiments, acceptance tests, scenario tests",
        [
            "asyncrun experiment batch create --app-id knapsack --input-set-id xs "
            "--instance-id stable --instance-id candidate --wait",
            "asyncrun experiment acceptance create --app-id knapsack --candidate-instance-id "
            "candidate --baseline-instance-id stable --input-set-id xs --metrics METRIC --wait",
        ],
        "experiment_kind",
    )
    _register_batch(kinds)
    _register_acceptance(kinds)
    _register_scenario(kinds)


def _kind_group(kinds: Any, name: str, help: str) -> Any:
    parser = new_command(kinds, name, help=help)
    return parser.add_subparsers(
        dest=f"{name}_command", required=True, metavar="ACTION", help="what to do"
    )


def _register_batch(kinds: Any) -> None:
    group = _kind_group(kinds, "batch", "batch experiments: create, get, list, update, delete")
    p = _action(
        group,
        "create",
        "create a batch experiment of --runs (inputs on instances or versions), or of "
        "--instance-id on every input of --input-set-id",
        _batch_create,
        examples=[
            "asyncrun experiment batch create --app-id knapsack --batch-experiment-id b1 "
            '--runs \'{"input_id": "in-1", "instance_id": "stable"}\' --wait'
        ],
    )
    _id_flag(p, "--batch-experiment-id", "-b", "batch experiment", required=False)
    _texts(p)
    p.add_argument("--input-set-id", "-i", default=None, help="the input set of the runs")
    p.add_argument(
        "--runs",
        "-r",
        type=json_text,
        action="append",
        default=None,
        help="a run or a list of runs, JSON (repeatable)",
    )
    p.add_argument(
        "--instance-id",
        action="append",
        default=None,
        metavar="INSTANCE_ID",
        help="also run this instance on every input of --input-set-id (repeatable; asyncrun's "
        "shorthand for the --runs the SDK's to_runs makes)",
    )
    p.add_argument(
        "--option-sets",
        type=json_text,
        default=None,
        help='option sets, JSON: {"fast": {"solve.duration": "1s"}}',
    )
    _waiting(p, "batch experiment")
    p = _action(group, "get", "show a batch experiment and its runs", _batch_get)
    _id_flag(p, "--batch-experiment-id", "-b", "batch experiment", required=True)
    _waiting(p, "batch experiment")
    p = _action(group, "list", "list the app's batch experiments", _batch_list)
    _no_pagination(p)
    p = _action(group, "update", "rename a batch experiment", _batch_update)
    _id_flag(p, "--batch-experiment-id", "-b", "batch experiment", required=True)
    _texts(p)
    p = _action(group, "delete", "delete a batch experiment and its runs", _batch_delete)
    _id_flag(p, "--batch-experiment-id", "-b", "batch experiment", required=True)
    _yes(p)


def _register_acceptance(kinds: Any) -> None:
    group = _kind_group(kinds, "acceptance", "acceptance tests: create, get, list, update, delete")
    p = _action(
        group,
        "create",
        "compare a candidate instance against a baseline on --metrics",
        _acceptance_create,
        examples=[
            "asyncrun experiment acceptance create --app-id knapsack --candidate-instance-id "
            "candidate --baseline-instance-id stable --input-set-id xs --wait --metrics "
            '\'{"field": "result.value", "metric_type": "direct-comparison", "params": '
            '{"operator": "ge", "tolerance": {"type": "relative", "value": 0.05}}, '
            '"statistic": "mean"}\''
        ],
    )
    _id_flag(p, "--acceptance-test-id", "-t", "acceptance test", required=False)
    _texts(p)
    p.add_argument(
        "--candidate-instance-id",
        "-c",
        type=non_empty,
        required=True,
        help="the instance under test",
    )
    p.add_argument(
        "--baseline-instance-id", "-b", type=non_empty, required=True, help="the control instance"
    )
    p.add_argument(
        "--metrics",
        "-m",
        type=json_text,
        action="append",
        required=True,
        help="a metric or a list of metrics, JSON (repeatable)",
    )
    p.add_argument(
        "--input-set-id",
        "-i",
        default=None,
        help="run both instances on this input set (without it, --acceptance-test-id names "
        "an existing batch experiment)",
    )
    _waiting(p, "acceptance test")
    p = _action(group, "get", "show an acceptance test and its verdict", _acceptance_get)
    _id_flag(p, "--acceptance-test-id", "-t", "acceptance test", required=True)
    _waiting(p, "acceptance test")
    p = _action(group, "list", "list the app's acceptance tests", _acceptance_list)
    _no_pagination(p)
    p = _action(group, "update", "rename an acceptance test", _acceptance_update)
    _id_flag(p, "--acceptance-test-id", "-t", "acceptance test", required=True)
    _texts(p)
    p = _action(group, "delete", "delete an acceptance test and its experiment", _acceptance_delete)
    _id_flag(p, "--acceptance-test-id", "-t", "acceptance test", required=True)
    _yes(p)


def _register_scenario(kinds: Any) -> None:
    group = _kind_group(kinds, "scenario", "scenario tests: create, get, list, update, delete")
    p = _action(
        group,
        "create",
        "run --scenarios (an instance, its inputs, option values to combine)",
        _scenario_create,
        examples=[
            "asyncrun experiment scenario create --app-id knapsack --wait --scenarios "
            '\'{"instance_id": "stable", "scenario_input": {"scenario_input_type": '
            '"input_set", "scenario_input_data": "xs"}, "configuration": [{"name": '
            '"duration", "values": ["1", "2"]}]}\''
        ],
    )
    _id_flag(p, "--scenario-test-id", "-i", "scenario test", required=False)
    _texts(p)
    p.add_argument(
        "--scenarios",
        "-s",
        type=json_text,
        action="append",
        required=True,
        help="a scenario or a list of scenarios, JSON (repeatable)",
    )
    p.add_argument(
        "--repetitions", "-r", type=int, default=0, help="extra executions of each run (0: once)"
    )
    _waiting(p, "scenario test")
    p = _action(group, "get", "show a scenario test and its runs", _scenario_get)
    _id_flag(p, "--scenario-test-id", "-i", "scenario test", required=True)
    _waiting(p, "scenario test")
    p = _action(group, "list", "list the app's scenario tests", _scenario_list)
    _no_pagination(p)
    p = _action(group, "update", "rename a scenario test", _scenario_update)
    _id_flag(p, "--scenario-test-id", "-i", "scenario test", required=True)
    _texts(p)
    p = _action(group, "delete", "delete a scenario test and its runs", _scenario_delete)
    _id_flag(p, "--scenario-test-id", "-i", "scenario test", required=True)
    _yes(p)


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


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _show(shown: Shown, args: argparse.Namespace) -> None:
    if shown.value is None:
        return
    text = json.dumps(_plain(shown.value), indent=2)
    if args.output is not None:
        args.output.write_text(text + "\n", encoding="utf-8")
        Console(stderr=True).print(f"wrote {args.output}", highlight=False)
    if args.json:
        print(text)
    else:
        Console().print(shown.draw(shown.value))


def _done(message: str) -> Shown:
    Console(stderr=True).print(message, highlight=False)
    return Shown(None, render.input_set_table)


def _objects(values: Sequence[Any] | None, flag: str) -> list[dict[str, Any]]:
    """Each value of a repeatable JSON flag: an object, or a list of objects, flattened."""
    found: list[dict[str, Any]] = []
    for value in values or []:
        items = value if isinstance(value, list) else [value]
        for item in items:
            if not isinstance(item, dict):
                raise ConfigError(f"{flag}: expected JSON objects, got {json.dumps(item)}")
            found.append(item)
    return found


def _polling(args: argparse.Namespace) -> PollingOptions:
    if args.timeout != -1 and args.timeout <= 0:
        raise ConfigError(f"--timeout must be > 0 seconds, or -1 for no limit (got {args.timeout})")
    return DEFAULT_EXPERIMENT_POLLING.model_copy(update={"max_duration": args.timeout})


def _waits(args: argparse.Namespace) -> bool:
    return bool(args.wait or args.output is not None)


def _experiment_code(status: object) -> int:
    return EXIT_FAILED if status in (ExperimentStatus.FAILED, ExperimentStatus.CANCELED) else 0


def _acceptance_code(test: AcceptanceTest) -> int:
    passed = test.status == ExperimentStatus.COMPLETED and test.results and test.results.passed
    return 0 if passed else EXIT_FAILED


# ---------------------------------------------------------------- input sets


async def _is_create(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    inputs = _objects([args.managed_inputs], "--managed-inputs") if args.managed_inputs else None
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
    inputs = _objects([args.managed_inputs], "--managed-inputs") if args.managed_inputs else None
    updated = await app.update_input_set(args.input_set_id, args.name, args.description, inputs)
    return Shown(updated, render.input_set_table)


async def _is_delete(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    await app.delete_input_set(args.input_set_id)
    return _done(f"deleted input set {args.input_set_id}")


# ---------------------------------------------------------------- batch experiments


def _draw_batches(what: str) -> Callable[[Any], RenderableType]:
    return lambda batches: render.batches_table(batches, what)


async def _batch_create(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    polling = _polling(args)
    if args.option_sets is not None and not isinstance(args.option_sets, dict):
        raise ConfigError("--option-sets: expected a JSON object of option sets")
    runs: list[Any] = _objects(args.runs, "--runs")
    if args.instance_id and not args.input_set_id:
        raise ConfigError("--instance-id runs an instance on an input set: give --input-set-id")
    if not runs and not args.instance_id:
        raise ConfigError("give --runs, or --instance-id with --input-set-id")
    if args.instance_id:
        runs += to_runs(args.instance_id, await app.input_set(args.input_set_id))
    batch_id = await app.new_batch_experiment(
        name=args.name,
        input_set_id=args.input_set_id,
        description=args.description,
        id=args.batch_experiment_id,
        option_sets=args.option_sets,
        runs=runs,
    )
    return await _batch_shown(app, batch_id, args, polling)


async def _batch_shown(
    app: AsyncApplication, batch_id: str, args: argparse.Namespace, polling: PollingOptions
) -> Shown:
    if not _waits(args):
        meta = await app.batch_experiment_metadata(batch_id)
        return Shown(meta, render.batch_table)
    batch = await app.batch_experiment_with_polling(batch_id, polling)
    return Shown(batch, render.batch_table, _experiment_code(batch.status))


async def _batch_get(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    if _waits(args):
        return await _batch_shown(app, args.batch_experiment_id, args, _polling(args))
    return Shown(await app.batch_experiment(args.batch_experiment_id), render.batch_table)


async def _batch_list(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    batches = await app.list_batch_experiments(args.no_pagination)
    return Shown(batches, _draw_batches("batch experiments"))


async def _batch_update(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    info = await app.update_batch_experiment(args.batch_experiment_id, args.name, args.description)
    return Shown(info, render.batch_table)


async def _batch_delete(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    await app.delete_batch_experiment(args.batch_experiment_id)
    return _done(f"deleted batch experiment {args.batch_experiment_id}")


# ---------------------------------------------------------------- acceptance tests


async def _acceptance_create(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    polling = _polling(args)
    test = await app.new_acceptance_test(
        candidate_instance_id=args.candidate_instance_id,
        baseline_instance_id=args.baseline_instance_id,
        metrics=_objects(args.metrics, "--metrics"),
        id=args.acceptance_test_id,
        name=args.name,
        input_set_id=args.input_set_id,
        description=args.description,
    )
    if not _waits(args):
        return Shown(test, render.acceptance_table)
    done = await app.acceptance_test_with_polling(test.id, polling)
    return Shown(done, render.acceptance_table, _acceptance_code(done))


async def _acceptance_get(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    if not _waits(args):
        return Shown(await app.acceptance_test(args.acceptance_test_id), render.acceptance_table)
    done = await app.acceptance_test_with_polling(args.acceptance_test_id, _polling(args))
    return Shown(done, render.acceptance_table, _acceptance_code(done))


async def _acceptance_list(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    tests = await app.list_acceptance_tests(args.no_pagination)
    return Shown(tests, render.acceptance_tests_table)


async def _acceptance_update(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    test = await app.update_acceptance_test(args.acceptance_test_id, args.name, args.description)
    return Shown(test, render.acceptance_table)


async def _acceptance_delete(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    await app.delete_acceptance_test(args.acceptance_test_id)
    return _done(f"deleted acceptance test {args.acceptance_test_id}")


# ---------------------------------------------------------------- scenario tests


async def _scenario_create(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    polling = _polling(args)
    test_id = await app.new_scenario_test(
        _objects(args.scenarios, "--scenarios"),
        id=args.scenario_test_id,
        name=args.name,
        description=args.description,
        repetitions=args.repetitions,
    )
    return await _batch_shown(app, test_id, args, polling)


async def _scenario_get(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    if _waits(args):
        return await _batch_shown(app, args.scenario_test_id, args, _polling(args))
    return Shown(await app.scenario_test(args.scenario_test_id), render.batch_table)


async def _scenario_list(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    tests = await app.list_scenario_tests(args.no_pagination)
    return Shown(tests, _draw_batches("scenario tests"))


async def _scenario_update(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    info = await app.update_scenario_test(args.scenario_test_id, args.name, args.description)
    return Shown(info, render.batch_table)


async def _scenario_delete(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    await app.delete_scenario_test(args.scenario_test_id)
    return _done(f"deleted scenario test {args.scenario_test_id}")
