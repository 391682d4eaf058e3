"""What the input-set and experiment commands show: rich tables of input sets, batch
experiments (and scenario tests) with their runs, and acceptance tests with their verdict per
metric. `--json` prints the wire shape instead (see experiment_cmd.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from asyncrun.experiments.models import (
    AcceptanceTest,
    BatchExperiment,
    BatchExperimentInformation,
    InputSet,
    MetricResult,
    ResultStatistics,
)

__all__ = [
    "MAX_ROWS",
    "acceptance_table",
    "acceptance_tests_table",
    "batch_table",
    "batches_table",
    "input_set_table",
    "input_sets_table",
    "statistic_value",
]

MAX_ROWS = 50
"""Runs shown in a batch experiment's table (the rest are counted; --json has them all)."""


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else ""


def _fields(title: str, rows: Sequence[tuple[str, Any]]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for name, value in rows:
        if value not in (None, ""):
            table.add_row(name, Text(str(value)))
    return table


# ---------------------------------------------------------------- input sets


def input_set_table(input_set: InputSet) -> RenderableType:
    ids = input_set.all_input_ids()
    return _fields(
        f"input set {input_set.id}",
        [
            ("name", input_set.name),
            ("description", input_set.description),
            ("inputs", len(ids)),
            ("input ids", ", ".join(ids)),
            ("created", _when(input_set.created_at)),
        ],
    )


def input_sets_table(input_sets: Sequence[InputSet]) -> RenderableType:
    table = Table(title=f"input sets ({len(input_sets)})", title_justify="left")
    for column in ("id", "name", "inputs", "created"):
        table.add_column(column, justify="right" if column == "inputs" else "left")
    for item in input_sets:
        table.add_row(
            item.id, item.name or "", str(len(item.all_input_ids())), _when(item.created_at)
        )
    return table


# ---------------------------------------------------------------- batch experiments


def _status(value: object) -> Text:
    text = str(value or "")
    style = {"completed": "green", "succeeded": "green", "failed": "red", "canceled": "yellow"}
    return Text(text, style=style.get(text, ""))


def batch_table(batch: BatchExperimentInformation) -> RenderableType:
    """A batch experiment or scenario test: what it is, and its runs when it has them (a
    BatchExperiment read with its runs; metadata has none)."""
    runs = batch.runs or [] if isinstance(batch, BatchExperiment) else []
    done = batch.number_of_completed_runs
    total = batch.number_of_runs if batch.number_of_runs is not None else len(runs)
    header = _fields(
        f"{batch.type or 'batch'} {batch.id}",
        [
            ("name", batch.name),
            ("status", batch.status),
            ("runs", f"{done if done is not None else '?'} of {total} completed"),
            ("input set", getattr(batch, "input_set_id", None)),
            ("instances", ", ".join(getattr(batch, "instance_ids", []))),
            ("option sets", ", ".join(sorted(batch.option_sets or {}))),
        ],
    )
    if not runs:
        return header
    table = Table(title="runs", title_justify="left")
    for column in (
        "run",
        "instance",
        "version",
        "option set",
        "scenario",
        "rep",
        "input",
        "status",
    ):
        table.add_column(column)
    for run in runs[:MAX_ROWS]:
        table.add_row(
            run.id,
            run.application_instance_id,
            run.application_version_id,
            run.option_set or "",
            run.scenario_id or "",
            "" if run.repetition is None else str(run.repetition),
            run.input_id or "",
            _status(run.status_v2),
        )
    tally = Counter(str(run.status_v2) for run in runs)
    caption = ", ".join(f"{n} {status}" for status, n in sorted(tally.items()))
    if len(runs) > MAX_ROWS:
        caption += f" ({len(runs) - MAX_ROWS} more runs not shown: --json has them all)"
    table.caption = caption
    return Group(header, table)


def batches_table(batches: Sequence[BatchExperimentInformation], what: str) -> RenderableType:
    table = Table(title=f"{what} ({len(batches)})", title_justify="left")
    for column in ("id", "name", "status", "runs", "created"):
        table.add_column(column)
    for item in batches:
        runs = "" if item.number_of_runs is None else str(item.number_of_runs)
        table.add_row(item.id, item.name or "", _status(item.status), runs, _when(item.created_at))
    return table


# ---------------------------------------------------------------- acceptance tests


def statistic_value(stats: ResultStatistics, statistic: str) -> float | None:
    """The metric's statistic on one side, from its summary statistics or its percentiles."""
    for group in (stats.distribution_summary_statistics, stats.distribution_percentiles):
        value = getattr(group, str(statistic), None)
        if isinstance(value, int | float):
            return float(value)
    return None


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6g}"


def _verdict(passed: bool | None) -> Text:
    if passed is None:
        return Text("")
    return Text("pass", style="green") if passed else Text("FAIL", style="bold red")


def _metric_row(result: MetricResult) -> list[Any]:
    metric = result.metric
    tolerance = metric.params.tolerance
    kind = str(tolerance.type) or "none"
    shown = f"{tolerance.value:g} {kind}" if kind != "none" else "none"
    statistic = str(metric.statistic)
    return [
        metric.field,
        statistic,
        str(metric.params.operator),
        shown,
        _number(statistic_value(result.statistics.control, statistic)),
        _number(statistic_value(result.statistics.candidate, statistic)),
        str(result.statistics.control.distribution_summary_statistics.count),
        str(result.statistics.candidate.distribution_summary_statistics.count),
        _verdict(result.passed),
    ]


def acceptance_table(test: AcceptanceTest) -> RenderableType:
    results = test.results
    control = test.control.instance_id if test.control else ""
    candidate = test.candidate.instance_id if test.candidate else ""
    header = _fields(
        f"acceptance test {test.id}",
        [
            ("name", test.name),
            ("status", test.status),
            ("control", control),
            ("candidate", candidate),
            ("experiment", test.experiment_id),
            ("error", results.error if results else None),
        ],
    )
    if results is None or not results.metric_results:
        return header
    table = Table(title="metrics (candidate against control)", title_justify="left")
    for column in ("metric", "statistic", "op", "tolerance", "control", "candidate"):
        table.add_column(column, justify="right" if column in ("control", "candidate") else "left")
    table.add_column("n control", justify="right")
    table.add_column("n candidate", justify="right")
    table.add_column("verdict")
    for result in results.metric_results:
        table.add_row(*_metric_row(result))
    passed = sum(1 for r in results.metric_results if r.passed)
    table.caption = f"{passed} of {len(results.metric_results)} metrics pass"
    verdict = Text.assemble("verdict: ", _verdict(results.passed))
    return Group(header, table, verdict)


def acceptance_tests_table(tests: Sequence[AcceptanceTest]) -> RenderableType:
    table = Table(title=f"acceptance tests ({len(tests)})", title_justify="left")
    for column in ("id", "name", "status", "control", "candidate", "verdict"):
        table.add_column(column)
    for test in tests:
        table.add_row(
            test.id,
            test.name or "",
            _status(test.status),
            test.control.instance_id if test.control else "",
            test.candidate.instance_id if test.candidate else "",
            _verdict(test.results.passed if test.results else None),
        )
    return table
