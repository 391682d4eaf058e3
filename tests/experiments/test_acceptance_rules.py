"""The emulator's statistics and comparison rules on the edge cases of the acceptance spec
(docs/guides/emulator-experiments.md): lookup order, what counts as a value, small and clamped
distributions, relative tolerance on a negative control, and every operator."""

from __future__ import annotations

import math
import statistics
from typing import Any

import pytest

from asyncrun.emulator import acceptance
from asyncrun.emulator.wire import ApiError


def metric(operator: str, statistic: str = "mean", tolerance: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "field": "v",
        "metric_type": "direct-comparison",
        "params": {"operator": operator, "tolerance": tolerance},
        "statistic": statistic,
    }
    return acceptance.check_metrics([body])[0]


def test_a_value_is_looked_up_in_statistics_then_metrics_then_the_root() -> None:
    output = {"statistics": {"a": {"b": 1}}, "metrics": {"a": {"b": 2}, "c": 3}, "a": {"d": 4}}
    assert acceptance.value_of(output, "a.b") == 1.0
    assert acceptance.value_of(output, "c") == 3.0
    assert acceptance.value_of(output, "a.d") == 4.0
    assert acceptance.value_of(output, "a.e") is None
    # Only finite numbers count: not a bool, a string, NaN or infinity.
    for bad in (True, "5", math.nan, math.inf, None, [1]):
        assert acceptance.value_of({"statistics": {"x": bad}}, "x") is None


def test_distributions_of_no_one_and_clamped_values() -> None:
    empty = acceptance.distribution([])
    assert empty["count"] == 0 and all(v == 0 for k, v in empty.items())
    one = acceptance.distribution([5.0])
    assert (one["std"], one["p01"], one["p99"], one["min"], one["max"]) == (0, 5, 5, 5, 5)
    # ln(max(1, x + 10)): -20 and -9.5 count as ln(1) = 0.
    clamped = acceptance.distribution([-20.0, -9.5, 0.0])
    assert clamped["shifted_geometric_mean"] == pytest.approx(math.exp(math.log(10) / 3) - 10)
    assert clamped["std"] == pytest.approx(statistics.stdev([-20.0, -9.5, 0.0]))  # n - 1
    assert clamped["p25"] == pytest.approx(-14.75)  # h = 0.5 between -20 and -9.5


@pytest.mark.parametrize(
    ("operator", "control", "candidate", "tolerance", "passed"),
    [
        ("gt", [10.0], [9.5], ("absolute", 0.5), False),  # 9.5 > 9.5 is false
        ("ge", [10.0], [9.5], ("absolute", 0.5), True),
        ("lt", [10.0], [10.5], ("absolute", 0.5), False),
        ("le", [10.0], [10.5], ("absolute", 0.5), True),
        ("eq", [-10.0], [-10.5], ("relative", 0.05), True),  # t = |-10| * 0.05
        ("ne", [-10.0], [-10.5], ("relative", 0.05), False),
        ("ne", [1.0], [1.5], None, True),
        ("eq", [1.0], [1.0], {"type": "", "value": 7}, True),  # type "" means no tolerance
        ("eq", [1.0], [2.0], {"type": "", "value": 7}, False),
        ("gt", [], [5.0], None, False),  # no value on a side fails
    ],
)
def test_operators_and_tolerances(
    operator: str, control: list[float], candidate: list[float], tolerance: Any, passed: bool
) -> None:
    if isinstance(tolerance, tuple):
        tolerance = {"type": tolerance[0], "value": tolerance[1]}
    assert acceptance.passes(metric(operator, "mean", tolerance), control, candidate) is passed


def test_metric_defaults_and_refusals() -> None:
    normal = acceptance.check_metrics(
        [{"field": "v", "metric_type": "direct-comparison", "params": {"operator": "gt"}}]
    )[0]
    assert normal["statistic"] == "mean"
    assert normal["params"]["tolerance"] == {"type": "", "value": 0.0}
    for bad, why in [
        ("not a list", "non-empty"),
        ([{"field": "v", "metric_type": "ratio", "params": {"operator": "gt"}}], "metric_type"),
        ([{"field": "v", "metric_type": "direct-comparison"}], "params is required"),
        (
            [
                {
                    "field": "v",
                    "metric_type": "direct-comparison",
                    "params": {"operator": "gt", "tolerance": {"type": "absolute", "value": "x"}},
                }
            ],
            "finite number",
        ),
    ]:
        with pytest.raises(ApiError) as caught:
            acceptance.check_metrics(bad)
        assert caught.value.status == 400 and why in caught.value.message
