"""Metric definitions from a file: a JSON list of the SDK's `Metric` objects, exactly what
`Application.new_acceptance_test(metrics=...)` sends, checked by the same rules before anything
runs (`asyncrun._metrics.check_metrics`, the rules the emulator's acceptance test applies)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from asyncrun._metrics import EXAMPLE_METRIC, Metric, check_metrics
from asyncrun.errors import ConfigError

__all__ = ["EXAMPLE_METRIC", "load_metrics", "parse_metrics"]


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
    """A JSON document's metrics, checked (missing or null `statistic`: mean; missing or null
    tolerance: none); a list of `asyncrun.Metric` is taken as well."""
    if not isinstance(document, list):
        raise ConfigError(f"expected a non-empty JSON list of metrics like [{EXAMPLE_METRIC}]")
    return tuple(check_metrics(document))
