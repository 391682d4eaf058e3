"""`asyncrun report OUT`, and the acceptance verdict `asyncrun batch --metrics` ends with: the
verdict table, OUT/acceptance.json (the SDK's `AcceptanceTestResults`) and OUT/report.html."""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from asyncrun._metrics import check_metrics
from asyncrun.acceptance import (
    AcceptanceTestResults,
    Metric,
    SweepVerdict,
    judge_sweep,
    load_metrics,
    render_report,
)
from asyncrun.acceptance.report import condition_text
from asyncrun.acceptance.sweep import SUMMARY_FILE
from asyncrun.acceptance.verdict import statistic_value
from asyncrun.cli.args import EXIT_FAILED, EXIT_OK, EXIT_RUNS_FAILED, new_command, non_empty
from asyncrun.errors import ConfigError

__all__ = [
    "ACCEPTANCE_FILE",
    "REPORT_FILE",
    "check_metrics_arguments",
    "previous_versions",
    "register",
    "verdict_table",
    "write_verdict",
]

ACCEPTANCE_FILE = "acceptance.json"
REPORT_FILE = "report.html"

_EXAMPLES = (
    "asyncrun report results/            # again, from the acceptance.json of batch --metrics",
    "asyncrun report results/ --metrics metrics.json --instance-id stable --instance-id candidate",
)


def register(subparsers: Any) -> None:
    p = new_command(
        subparsers,
        "report",
        help="the acceptance verdict and report.html of a finished batch's --out folder "
        "(no network)",
        examples=_EXAMPLES,
    )
    p.add_argument("out", type=Path, metavar="OUT", help="the --out folder of a finished batch")
    add_metrics_arguments(p)
    p.set_defaults(func=run_report, check=check_report_arguments)


def add_metrics_arguments(parser: argparse.ArgumentParser, *, batch: bool = False) -> None:
    verb = "judge the sweep" if batch else "judge it"
    parser.add_argument(
        "--metrics",
        type=Path,
        default=None,
        metavar="FILE",
        help=f"{verb} on these metrics: a JSON list of the SDK's Metric objects (what "
        "new_acceptance_test(metrics=...) sends); needs two --instance-id, the first is the "
        "control, the second the candidate"
        + (
            " (default: no verdict; with it, exit 0 every metric passes, 1 one fails, 4 they "
            "pass but some runs failed)"
            if batch
            else " (default: those of OUT/acceptance.json)"
        ),
    )
    if not batch:
        parser.add_argument(
            "--instance-id",
            type=non_empty,
            action="append",
            metavar="ID",
            help="the control, then the candidate (default: those of OUT/acceptance.json)",
        )


def check_metrics_arguments(args: argparse.Namespace) -> None:
    """--metrics: a valid metrics file and exactly two distinct instances (stored in
    `args.acceptance`: metrics, control, candidate)."""
    args.acceptance = None
    if args.metrics is None:
        return
    metrics = load_metrics(args.metrics)
    instances = list(dict.fromkeys(args.instance_id or []))
    if len(instances) != 2:
        raise ConfigError(
            f"--metrics compares two instances: give --instance-id twice (the control, then "
            f"the candidate), got {len(instances)} distinct"
        )
    if any(name == "instance_id" for name, _ in (getattr(args, "grid", None) or [])):
        raise ConfigError("--metrics takes its instances from --instance-id, not --grid")
    args.acceptance = (metrics, instances[0], instances[1])


def check_report_arguments(args: argparse.Namespace) -> None:
    if not (args.out / SUMMARY_FILE).is_file():
        raise ConfigError(f"{str(args.out)!r} holds no {SUMMARY_FILE}: not the --out of a batch")
    if args.metrics is None and args.instance_id:
        raise ConfigError("--instance-id needs --metrics (or neither: OUT/acceptance.json's)")
    check_metrics_arguments(args)
    if args.acceptance is None:
        args.acceptance = _previous_setup(args.out)


def _previous_setup(out: Path) -> tuple[tuple[Metric, ...], str, str]:
    """The metrics and instances of the verdict written before into OUT/acceptance.json."""
    path = out / ACCEPTANCE_FILE
    try:
        previous = AcceptanceTestResults.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(
            f"{str(out)!r} holds no {ACCEPTANCE_FILE}: give --metrics FILE and two --instance-id"
        ) from None
    except (OSError, ValidationError) as exc:
        raise ConfigError(
            f"{str(path)!r} is not an acceptance verdict ({type(exc).__name__})"
        ) from None
    results = previous.metric_results or []
    if not results:
        raise ConfigError(f"{str(path)!r} names no metric: give --metrics FILE")
    try:  # the file may have been edited by hand: its metrics meet the --metrics rules
        metrics = tuple(check_metrics([r.metric for r in results]))
    except ConfigError as exc:
        raise ConfigError(f"{str(path)!r}: {exc}") from None
    first = results[0].statistics
    return (
        metrics,
        first.control.instance_id,
        first.candidate.instance_id,
    )


def previous_versions(out: Path) -> dict[str, str]:
    """The version each instance ran, as an earlier verdict of this folder recorded it (the
    folder's files do not hold it)."""
    try:
        previous = AcceptanceTestResults.model_validate_json((out / ACCEPTANCE_FILE).read_bytes())
    except (OSError, ValidationError):
        return {}
    versions: dict[str, str] = {}
    for result in previous.metric_results or []:
        for stats in (result.statistics.control, result.statistics.candidate):
            if stats.version_id:
                versions[stats.instance_id] = stats.version_id
    return versions


def run_report(args: argparse.Namespace) -> int:
    return write_verdict(args, {}, Console())


def write_verdict(args: argparse.Namespace, versions: Mapping[str, str], console: Console) -> int:
    """Judge the sweep in `args.out` on `args.acceptance` (metrics, control, candidate), print
    the table, write acceptance.json and report.html. `versions`: the instances' versions this
    session saw, over those of an earlier verdict. Exit code: 0 every metric passed, 1 one
    failed, 4 every metric passed but some runs of the two instances did not succeed."""
    out = args.out
    metrics, control, candidate = args.acceptance
    # Runs finished by an earlier session of a resumed batch carry no metadata here.
    known = {**previous_versions(out), **versions}
    verdict = judge_sweep(out, metrics, control=control, candidate=candidate, versions=known)
    document = verdict.results.model_dump(mode="json", exclude_none=True)
    _write_text(out / ACCEPTANCE_FILE, json.dumps(document, indent=2) + "\n")
    _write_text(out / REPORT_FILE, render_report(verdict))
    console.print(verdict_table(verdict))
    passed = verdict.results.passed
    if verdict.unsuccessful:
        console.print(
            f"{verdict.unsuccessful} runs of the two instances did not succeed (no value; "
            "see summary.csv)"
        )
    console.print(
        f"acceptance {'PASSED' if passed else 'FAILED'}: {out / ACCEPTANCE_FILE}, "
        f"report {out / REPORT_FILE}",
        style="bold green" if passed else "bold red",
    )
    if not passed:
        return EXIT_FAILED
    return EXIT_RUNS_FAILED if verdict.unsuccessful else EXIT_OK


def _write_text(path: Path, text: str) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)


def verdict_table(verdict: SweepVerdict) -> Table:
    """One row per metric: the field, the statistic, the condition, both sides' values,
    the runs with a value on each side, pass or fail."""
    table = Table(
        title=escape(
            f"acceptance: candidate {verdict.candidate!r} against control {verdict.control!r}"
        ),
        show_header=True,
    )
    table.add_column("metric")
    table.add_column("statistic")
    table.add_column("passes when")
    for name in ("control", "candidate", "diff", "values c/d"):
        table.add_column(name, justify="right")
    table.add_column("verdict")
    for result in verdict.results.metric_results or []:
        statistic = result.metric.statistic
        c = statistic_value(result.statistics.control, statistic)
        d = statistic_value(result.statistics.candidate, statistic)
        counts = (
            f"{result.statistics.control.distribution_summary_statistics.count}/"
            f"{result.statistics.candidate.distribution_summary_statistics.count}"
        )
        table.add_row(
            escape(result.metric.field),
            str(statistic),
            escape(condition_text(result.metric)),
            f"{c:.6g}",
            f"{d:.6g}",
            f"{d - c:+.6g}",
            counts,
            "[green]pass[/]" if result.passed else "[red]FAIL[/]",
        )
    return table
