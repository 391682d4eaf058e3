"""Metric definitions from a file: a JSON list of the SDK's `Metric` objects, exactly what
`Application.new_acceptance_test(metrics=...)` sends, checked before anything runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from asyncrun.acceptance.models import Metric
from asyncrun.errors import ConfigError

__all__ = ["EXAMPLE_METRIC", "load_metrics", "parse_metrics"]

EXAMPLE_METRIC = (
    '{"field": "result.value", "metric_type": "direct-comparison", "params": '
    '{"operator": "le", "tolerance": {"type": "relative", "value": 0.05}}, "statistic": "mean"}'
)


def load_metrics(path: Path) -> tuple[Metric, ...]:
    """The metrics of a file; ConfigError (one line) when it is not such a list."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--metrics {str(path)!r}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"--metrics {str(path)!r} is not UTF-8 text") from None
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"--metrics {str(path)!r} is not valid JSON ({exc})") from None
    try:
        return parse_metrics(document)
    except ConfigError as exc:
        raise ConfigError(f"--metrics {str(path)!r}: {exc}") from None


def parse_metrics(document: Any) -> tuple[Metric, ...]:
    """A non-empty list of metric objects, as `Metric`s (missing `statistic`: mean; missing
    tolerance: none)."""
    if not isinstance(document, list) or not document:
        raise ConfigError(f"expected a non-empty JSON list of metrics like [{EXAMPLE_METRIC}]")
    metrics = []
    for number, item in enumerate(document, start=1):
        if not isinstance(item, dict):
            raise ConfigError(f"metric {number} is not a JSON object")
        try:
            metrics.append(Metric.model_validate(item))
        except ValidationError as exc:
            raise ConfigError(f"metric {number}: {_first_problem(exc)}") from None
    return tuple(metrics)


def _first_problem(exc: ValidationError) -> str:
    """`params.operator: 'gte' is not one of eq, gt, ge, lt, le, ne`."""
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "metric"
    given = error.get("input")
    expected = error.get("ctx", {}).get("expected")
    if error["type"] == "enum" and expected:
        return f"{where}: {given!r} is not one of {expected}"
    if error["type"] == "missing":
        return f"{where} is missing"
    return f"{where}: {error['msg'].removeprefix('Value error, ')}"
