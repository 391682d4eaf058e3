"""`asyncrun experiment batch|acceptance|scenario ...`: the platform's experiments from the
command line, with the Nextmv CLI's flag names (`nextmv cloud batch|acceptance|scenario`).

`experiment` groups the three kinds because `asyncrun batch` is the client-side sweep: a
Nextmv CLI line ports by writing `asyncrun experiment batch create` for `nextmv cloud batch
create` (input sets: input_set_cmd.py), same flags. Every command prints a rich table, or
with `--json` the wire JSON; `--output PATH` also writes the JSON to PATH
(experiment_common.py). `create --wait` (or `--output`) waits for the result, at most
`--timeout` seconds; with --wait, an acceptance test that does not pass and an experiment that
failed exit 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from rich.console import RenderableType

from asyncrun.application import AsyncApplication
from asyncrun.cli import experiment_render as render
from asyncrun.cli.args import EXIT_FAILED, json_text, new_command, non_empty
from asyncrun.cli.experiment_common import (
    Kind,
    Shown,
    action_command,
    command_group,
    id_flag,
    json_objects,
    kept_commands,
    name_flags,
    polling_of,
    wait_flags,
    waits,
)
from asyncrun.errors import ConfigError
from asyncrun.experiments import ExperimentStatus, to_runs
from asyncrun.polling import PollingOptions

__all__ = ["register"]

_BATCH = Kind("batch experiment", "--batch-experiment-id", "-b")
_ACCEPTANCE = Kind("acceptance test", "--acceptance-test-id", "-t")
_SCENARIO = Kind("scenario test", "--scenario-test-id", "-i")


def register(subparsers: Any) -> None:
    kinds = command_group(
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
        metavar="KIND",
        what="which kind of experiment",
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
    p = action_command(
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
    id_flag(p, _BATCH, required=False)
    name_flags(p)
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
    wait_flags(p, _BATCH.what)
    kept_commands(
        group,
        _BATCH,
        get=("show a batch experiment and its runs", _batch_get),
        listing=("list the app's batch experiments", _batch_list),
        update=(
            "rename a batch experiment",
            _BATCH.renaming(AsyncApplication.update_batch_experiment, render.batch_table),
        ),
        delete=(
            "delete a batch experiment and its runs",
            _BATCH.deleting(AsyncApplication.delete_batch_experiment),
        ),
        wait=True,
    )


def _register_acceptance(kinds: Any) -> None:
    group = _kind_group(kinds, "acceptance", "acceptance tests: create, get, list, update, delete")
    p = action_command(
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
    id_flag(p, _ACCEPTANCE, required=False)
    name_flags(p)
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
    wait_flags(p, _ACCEPTANCE.what)
    kept_commands(
        group,
        _ACCEPTANCE,
        get=("show an acceptance test and its verdict", _acceptance_get),
        listing=("list the app's acceptance tests", _acceptance_list),
        update=(
            "rename an acceptance test",
            _ACCEPTANCE.renaming(AsyncApplication.update_acceptance_test, render.acceptance_table),
        ),
        delete=(
            "delete an acceptance test and its experiment",
            _ACCEPTANCE.deleting(AsyncApplication.delete_acceptance_test),
        ),
        wait=True,
    )


def _register_scenario(kinds: Any) -> None:
    group = _kind_group(kinds, "scenario", "scenario tests: create, get, list, update, delete")
    p = action_command(
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
    id_flag(p, _SCENARIO, required=False)
    name_flags(p)
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
    wait_flags(p, _SCENARIO.what)
    kept_commands(
        group,
        _SCENARIO,
        get=("show a scenario test and its runs", _scenario_get),
        listing=("list the app's scenario tests", _scenario_list),
        update=(
            "rename a scenario test",
            _SCENARIO.renaming(AsyncApplication.update_scenario_test, render.batch_table),
        ),
        delete=(
            "delete a scenario test and its runs",
            _SCENARIO.deleting(AsyncApplication.delete_scenario_test),
        ),
        wait=True,
    )


def _experiment_code(status: object) -> int:
    return EXIT_FAILED if status in (ExperimentStatus.FAILED, ExperimentStatus.CANCELED) else 0


async def _judged(app: AsyncApplication, test_id: str, polling: PollingOptions) -> Shown:
    """The acceptance test once final; exit 1 unless it completed and passed."""
    test = await app.acceptance_test_with_polling(test_id, polling)
    passed = test.status == ExperimentStatus.COMPLETED and test.results and test.results.passed
    return Shown(test, render.acceptance_table, 0 if passed else EXIT_FAILED)


# ---------------------------------------------------------------- batch experiments


def _draw_batches(what: str) -> Callable[[Any], RenderableType]:
    return lambda batches: render.batches_table(batches, what)


async def _batch_create(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    polling = polling_of(args)
    if args.option_sets is not None and not isinstance(args.option_sets, dict):
        raise ConfigError("--option-sets: expected a JSON object of option sets")
    runs: list[Any] = json_objects(args.runs, "--runs")
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
    if not waits(args):
        meta = await app.batch_experiment_metadata(batch_id)
        return Shown(meta, render.batch_table)
    batch = await app.batch_experiment_with_polling(batch_id, polling)
    return Shown(batch, render.batch_table, _experiment_code(batch.status))


async def _batch_get(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    if waits(args):
        return await _batch_shown(app, args.batch_experiment_id, args, polling_of(args))
    return Shown(await app.batch_experiment(args.batch_experiment_id), render.batch_table)


async def _batch_list(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    batches = await app.list_batch_experiments(args.no_pagination)
    return Shown(batches, _draw_batches("batch experiments"))


# ---------------------------------------------------------------- acceptance tests


async def _acceptance_create(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    polling = polling_of(args)
    test = await app.new_acceptance_test(
        candidate_instance_id=args.candidate_instance_id,
        baseline_instance_id=args.baseline_instance_id,
        metrics=json_objects(args.metrics, "--metrics"),
        id=args.acceptance_test_id,
        name=args.name,
        input_set_id=args.input_set_id,
        description=args.description,
    )
    if not waits(args):
        return Shown(test, render.acceptance_table)
    return await _judged(app, test.id, polling)


async def _acceptance_get(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    if not waits(args):
        return Shown(await app.acceptance_test(args.acceptance_test_id), render.acceptance_table)
    return await _judged(app, args.acceptance_test_id, polling_of(args))


async def _acceptance_list(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    tests = await app.list_acceptance_tests(args.no_pagination)
    return Shown(tests, render.acceptance_tests_table)


# ---------------------------------------------------------------- scenario tests


async def _scenario_create(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    polling = polling_of(args)
    test_id = await app.new_scenario_test(
        json_objects(args.scenarios, "--scenarios"),
        id=args.scenario_test_id,
        name=args.name,
        description=args.description,
        repetitions=args.repetitions,
    )
    return await _batch_shown(app, test_id, args, polling)


async def _scenario_get(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    if waits(args):
        return await _batch_shown(app, args.scenario_test_id, args, polling_of(args))
    return Shown(await app.scenario_test(args.scenario_test_id), render.batch_table)


async def _scenario_list(app: AsyncApplication, args: argparse.Namespace) -> Shown:
    tests = await app.list_scenario_tests(args.no_pagination)
    return Shown(tests, _draw_batches("scenario tests"))
