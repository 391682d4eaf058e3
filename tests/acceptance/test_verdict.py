"""The verdict's arithmetic (ACCEPTANCE_SPEC: a run's value of a metric, each side's
statistics, operators and tolerances), checked against numpy and hand-worked cases, and its
models against the official SDK's."""

from __future__ import annotations

import json
import math
import random
from typing import Any

import nextmv.cloud
import numpy as np
import pytest

from asyncrun.acceptance import (
    AcceptanceTestResults,
    RunValues,
    judge,
    pair_key,
    parse_metrics,
    result_statistics,
    value_at,
)
from asyncrun.acceptance.verdict import PERCENTILES, holds, pairs_of
from asyncrun.errors import ConfigError

from .support import metric


def test_a_value_is_looked_up_in_statistics_then_metrics_then_the_root() -> None:
    output = {
        "statistics": {"result": {"value": 3, "custom": {"late": 2.5}}},
        "metrics": {"cost": 7.5, "result": {"value": 99}},
        "gap": 0.25,
        "solution": {"value": 65},
    }
    assert value_at(output, "result.value") == 3.0  # statistics wins over metrics
    assert value_at(output, "result.custom.late") == 2.5
    assert value_at(output, "cost") == 7.5
    assert value_at(output, "gap") == 0.25
    assert value_at(output, "solution.value") == 65.0
    assert value_at(output, "result.missing") is None
    assert value_at({"metrics": {"value": 4}}, "value") == 4.0
    # Not a number in `statistics`: the next place is looked at.
    assert value_at({"statistics": {"cost": "n/a"}, "metrics": {"cost": 2}}, "cost") == 2.0
    assert value_at({"statistics": {"cost": {"total": 1}}, "cost": 3}, "cost") == 3.0


@pytest.mark.parametrize("given", [True, "3", None, [1], {"a": 1}, math.nan, math.inf])
def test_only_a_finite_number_is_a_value(given: Any) -> None:
    assert value_at({"metrics": {"x": given}}, "x") is None
    assert value_at({"x": given}, "x") is None


@pytest.mark.parametrize("output", [None, [], "text", 3, {"statistics": 5}])
def test_an_output_that_is_not_an_object_has_no_value(output: Any) -> None:
    assert value_at(output, "result.value") is None


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101])
def test_the_statistics_agree_with_numpy(n: int) -> None:
    rng = random.Random(n)
    values = [rng.uniform(-50, 500) for _ in range(n)]
    stats = result_statistics(values, instance_id="a", version_id="v", runs_total=n + 2)
    summary, percentiles = stats.distribution_summary_statistics, stats.distribution_percentiles
    assert stats.number_of_runs_total == n + 2
    assert summary.count == n
    assert (summary.min, summary.max) == (min(values), max(values))
    assert summary.mean == pytest.approx(np.mean(values), rel=1e-12)
    assert summary.std == pytest.approx(np.std(values, ddof=1) if n > 1 else 0.0, abs=1e-9)
    shifted = np.exp(np.mean(np.log(np.maximum(1.0, np.array(values) + 10)))) - 10
    assert summary.shifted_geometric_mean == pytest.approx(shifted, rel=1e-12)
    assert summary.shift_parameter == 10
    for name in PERCENTILES:
        expected = np.percentile(values, float(name[1:]))  # numpy's default: "linear"
        assert getattr(percentiles, name) == pytest.approx(expected, rel=1e-12), name


def test_the_statistics_by_hand() -> None:
    stats = result_statistics([0.0, 10.0, 4.0, 2.0], instance_id="a", version_id="", runs_total=4)
    summary, percentiles = stats.distribution_summary_statistics, stats.distribution_percentiles
    assert summary.mean == 4.0
    assert summary.std == pytest.approx(math.sqrt((16 + 36 + 0 + 4) / 3))
    assert summary.shifted_geometric_mean == pytest.approx((10 * 20 * 14 * 12) ** 0.25 - 10)
    # sorted 0 2 4 10: p50 at h = 1.5 -> 3; p25 at h = 0.75 -> 1.5; p99 at h = 2.97 -> 9.82
    assert (percentiles.p50, percentiles.p25) == (3.0, 1.5)
    assert percentiles.p99 == pytest.approx(9.82)


def test_the_shift_keeps_values_below_minus_nine_at_one() -> None:
    stats = result_statistics([-100.0, -20.0], instance_id="a", version_id="", runs_total=2)
    assert stats.distribution_summary_statistics.shifted_geometric_mean == pytest.approx(1 - 10)


def test_no_value_gives_zeros() -> None:
    stats = result_statistics([], instance_id="a", version_id="", runs_total=5)
    summary = stats.distribution_summary_statistics
    assert (summary.count, summary.min, summary.max, summary.mean, summary.std) == (0, 0, 0, 0, 0)
    assert summary.shifted_geometric_mean == 0
    assert all(getattr(stats.distribution_percentiles, p) == 0 for p in PERCENTILES)
    assert stats.number_of_runs_total == 5


# (operator, tolerance, control, candidate, holds)
CASES = [
    ("lt", None, 10, 9.99, True),
    ("lt", None, 10, 10, False),
    ("le", None, 10, 10, True),
    ("le", ("absolute", 0.5), 10, 10.5, True),
    ("le", ("absolute", 0.5), 10, 10.51, False),
    ("lt", ("relative", 0.05), 100, 104.9, True),
    ("lt", ("relative", 0.05), 100, 105, False),
    ("lt", ("relative", 0.05), -100, -95.1, True),  # |control| * 5 % = 5
    ("lt", ("relative", 0.05), -100, -95, False),
    ("gt", None, 10, 10.01, True),
    ("gt", None, 10, 10, False),
    ("ge", None, 10, 10, True),
    ("ge", ("absolute", 1), 10, 9, True),
    ("ge", ("absolute", 1), 10, 8.99, False),
    ("gt", ("relative", 0.1), 50, 45.01, True),
    ("gt", ("relative", 0.1), 50, 45, False),
    ("eq", None, 3, 3, True),
    ("eq", None, 3, 3.000001, False),
    ("eq", ("absolute", 0.1), 3, 2.95, True),
    ("eq", ("absolute", 0.1), 3, 2.85, False),
    ("eq", ("relative", 0.1), 3, 3.31, False),
    ("ne", None, 3, 3, False),
    ("ne", None, 3, 3.1, True),
    ("ne", ("absolute", 0.5), 3, 3.4, False),
    ("ne", ("absolute", 0.5), 3, 2.4, True),
    ("le", ("", 0), 1, 1, True),
]


@pytest.mark.parametrize(("operator", "tolerance", "control", "candidate", "expected"), CASES)
def test_operators_read_candidate_against_control_with_the_tolerance(
    operator: str, tolerance: Any, control: float, candidate: float, expected: bool
) -> None:
    (m,) = parse_metrics([metric("result.value", operator, tolerance=tolerance)])
    assert holds(m, control=control, candidate=candidate) is expected


def runs(values: dict[str, list[float | None]], metrics: int = 1) -> list[RunValues]:
    """Runs of instances side by side, each with the same value for every metric."""
    return [
        RunValues(f"in-{i}/instance_id={inst}", f"in-{i}", inst, "succeeded", (v,) * metrics)
        for inst, numbers in values.items()
        for i, v in enumerate(numbers)
    ]


def test_judge_takes_each_statistic_and_every_metric_must_pass() -> None:
    metrics = parse_metrics(
        [
            metric("result.value", "le", statistic="p50"),
            metric("result.value", "lt", statistic="max", tolerance=("absolute", 1)),
        ]
    )
    given = runs({"a": [1, 2, 3], "b": [1, 2, 4]}, metrics=2)
    result = judge(metrics, given, control="a", candidate="b", versions={"a": "v1"})
    assert [r.passed for r in result.metric_results or []] == [True, False]  # 2 <= 2; 4 !< 3 + 1
    assert result.passed is False
    first = (result.metric_results or [])[0].statistics
    assert (first.control.version_id, first.candidate.version_id) == ("v1", "")


def test_a_side_without_values_fails_the_metric_even_when_the_comparison_holds() -> None:
    (m,) = parse_metrics([metric("result.value", "ge")])
    result = judge([m], runs({"a": [None, None], "b": [1, 2]}), control="a", candidate="b")
    statistics = (result.metric_results or [])[0].statistics
    assert statistics.control.number_of_runs_total == 2
    assert statistics.control.distribution_summary_statistics.count == 0
    assert result.passed is False  # 1.5 >= 0, but the control had nothing to compare


def test_statistics_are_over_each_side_as_a_whole_pairs_only_for_differences() -> None:
    (m,) = parse_metrics([metric("result.value", "le")])
    given = runs({"a": [1, 2, None], "b": [None, 1, 5]})
    result = judge([m], given, control="a", candidate="b")
    statistics = (result.metric_results or [])[0].statistics
    assert statistics.control.distribution_summary_statistics.mean == 1.5  # 1, 2
    assert statistics.candidate.distribution_summary_statistics.mean == 3.0  # 1, 5
    pairs = pairs_of(given, 0, control="a", candidate="b")
    assert [(p.pair, p.difference) for p in pairs] == [("in-0", None), ("in-1", -1), ("in-2", None)]


@pytest.mark.parametrize(
    ("key", "instance", "pair"),
    [
        ("in-7/instance_id=v2", "v2", "in-7"),
        ("in-7/instance_id=v2,seed=2", "v2", "in-7/seed=2"),
        ("dir/in-7/instance_id=v2,duration=10s,seed=2", "v2", "dir/in-7/duration=10s,seed=2"),
        ("in-7/instance_id=v22", "v2", "in-7/instance_id=v22"),  # another instance: untouched
        ("in-7", "v2", "in-7"),
        ("a/instance_id=x,y/instance_id=x", "x", "a/instance_id=x,y"),
    ],
)
def test_the_pair_of_a_run_is_its_key_without_the_instance(
    key: str, instance: str, pair: str
) -> None:
    assert pair_key(key, instance) == pair


DIRECT = {"metric_type": "direct-comparison"}
BAD_METRICS = [
    ({"field": "x"}, "not a non-empty JSON list"),
    ([], "metrics must be a non-empty list"),
    (["x"], "metrics[0] is 'x': expected a Metric or an object"),
    (
        [{**DIRECT, "field": "x", "params": {"operator": "gte"}}],
        "metrics[0]: params.operator 'gte' is unknown: one of 'eq', 'gt'",
    ),
    (
        [
            {**DIRECT, "field": "x", "params": {"operator": "lt"}},
            {**DIRECT, "field": "x", "params": {"operator": "lt"}, "statistic": "median"},
        ],
        "metrics[1]: statistic 'median' is unknown",
    ),
    ([{**DIRECT, "field": "x"}], "metrics[0]: params is missing"),
    ([{**DIRECT, "params": {"operator": "lt"}}], "metrics[0]: field is missing"),
    ([{**DIRECT, "field": "", "params": {"operator": "lt"}}], "field '' is wrong: expected"),
    ([{"field": "x", "params": {"operator": "lt"}}], "metrics[0]: metric_type is missing"),
    ([{"field": "x", "metric_type": "ratio", "params": {"operator": "lt"}}], "'ratio' is wrong"),
    (
        [{**DIRECT, "field": "x", "params": {"operator": "lt", "tolerance": {"type": "pct"}}}],
        "params.tolerance.type 'pct' is unknown",
    ),
    (
        [{**DIRECT, "field": "x", "params": {"operator": "lt", "tolerance": {"value": "0.1"}}}],
        "params.tolerance.value is '0.1': expected a finite number",
    ),
    (
        [{**DIRECT, "field": "x", "params": {"operator": "lt", "tolerance": {"value": True}}}],
        "params.tolerance.value is True: expected a finite number",
    ),
]


@pytest.mark.parametrize(("document", "message"), BAD_METRICS)
def test_a_bad_metric_list_is_refused_with_the_reason(document: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_metrics(document)
    text = str(caught.value)
    assert message.removeprefix("not a ") in text
    assert "\n" not in text


def test_null_means_the_default_and_other_fields_are_ignored() -> None:
    (m,) = parse_metrics(
        [
            {
                **DIRECT,
                "field": "x",
                "params": {"operator": "ge", "tolerance": None},
                "statistic": None,
                "note": "ignored, as the platform does",
            }
        ]
    )
    assert (m.statistic, m.params.tolerance.type, m.params.tolerance.value) == ("mean", "", 0)
    (m,) = parse_metrics(
        [{**DIRECT, "field": "x", "params": {"operator": "ge", "tolerance": {"type": None}}}]
    )
    assert (m.params.tolerance.type, m.params.tolerance.value) == ("", 0)


def test_the_sdk_metrics_json_is_what_the_file_holds() -> None:
    sdk = [
        nextmv.cloud.Metric(
            field="result.value",
            metric_type=nextmv.cloud.MetricType.direct_comparison,
            params=nextmv.cloud.MetricParams(
                operator=nextmv.cloud.Comparison.less_than_or_equal_to,
                tolerance=nextmv.cloud.MetricTolerance(
                    type=nextmv.cloud.MetricToleranceType.relative, value=0.05
                ),
            ),
            statistic=nextmv.cloud.StatisticType.p95,
        )
    ]
    sent = json.loads(json.dumps([m.to_dict() for m in sdk]))  # what new_acceptance_test sends
    (ours,) = parse_metrics(sent)
    assert ours.model_dump(mode="json") == sent[0]


def test_the_results_parse_as_the_sdks_acceptance_test_results() -> None:
    metrics = parse_metrics(
        [
            metric("result.value", "le", tolerance=("relative", 0.1)),
            {**DIRECT, "field": "x", "params": {"operator": "eq"}},
        ]
    )
    given = runs({"a": [1, 2, 3], "b": [1, 2, 3.5]}, metrics=2)
    result = judge(metrics, given, control="a", candidate="b")
    document = json.loads(json.dumps(result.model_dump(mode="json", exclude_none=True)))
    sdk = nextmv.cloud.AcceptanceTestResults.from_dict(document)
    assert sdk.to_dict() == document
    assert AcceptanceTestResults.model_validate(sdk.to_dict()) == result
    assert sdk.metric_results is not None and sdk.metric_results[1].metric.statistic == "mean"
