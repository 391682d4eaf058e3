"""The comparison benchmark's arithmetic (benchmarks/_figures.py): the benchmark itself is not
part of the test run, but the figures it reports must be computed right."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest


def _load() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "_figures.py"
    spec = importlib.util.spec_from_file_location("bench_figures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and typing resolve through sys.modules
    spec.loader.exec_module(module)
    return module


figures = _load()

SDK_429 = (
    "HTTPError: request to /v1/applications/bench-app/runs failed with status code 429 "
    'and message: {"error": "rate limit exceeded"}'
)


def test_spread_is_the_median_with_min_and_max() -> None:
    assert figures.spread([3.0, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0}
    assert figures.spread([4.0, 1.0]) == {"median": 2.5, "min": 1.0, "max": 4.0}
    with pytest.raises(ValueError):
        figures.spread([])


def test_p95_interpolates_between_ranks() -> None:
    assert figures.p95([float(i) for i in range(1, 21)]) == pytest.approx(19.05)
    assert figures.p95([0.7]) == 0.7


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        (SDK_429, "HTTPError 429 on POST runs"),
        (
            "HTTPError: request to /v1/applications/a/runs/run-1/metadata failed with status "
            "code 429 and message: {}",
            "HTTPError 429 on GET metadata",
        ),
        (
            "HTTPError: request to /v1/applications/a/runs/run-1?format=json failed with "
            "status code 503 and message: {}",
            "HTTPError 503 on GET run",
        ),
        ("ConnectionError: could not connect to http://127.0.0.1:1", "ConnectionError"),
    ],
)
def test_error_kinds_drop_ids(message: str, kind: str) -> None:
    assert figures.error_kind(message) == kind


def _child() -> dict[str, Any]:
    """Four runs: two right, one with another run's digest, one refused with a 429."""
    return {
        "t0": 1000.0,
        "t_end": 1010.0,
        "makespan_s": 10.0,
        "cpu_s": 0.2,
        "peak_rss_bytes": 64 * figures.MIB,
        "runs": [
            {"i": 1, "run_id": "r1", "seen": 1006.0, "status": "succeeded", "digest": "d1"},
            {"i": 0, "run_id": "r0", "seen": 1003.0, "status": "succeeded", "digest": "d0"},
            {"i": 2, "run_id": "r2", "seen": 1007.0, "status": "succeeded", "digest": "d0"},
            {"i": 3, "run_id": None, "seen": 1004.0, "status": None, "error": SDK_429},
        ],
    }


TIMELINE = [
    {"id": "r0", "created": 1000.1, "started": 1000.1, "ended": 1002.0},
    {"id": "r1", "created": 1000.2, "started": 1000.2, "ended": 1005.0},
    {"id": "r2", "created": 1000.3, "started": 1000.3, "ended": 1008.0},
]


def test_repetition_figures_count_right_wrong_and_failed_runs() -> None:
    rep = figures.repetition_figures(
        _child(),
        expected_digests=["d0", "d1", "d2", "d3"],
        timeline=TIMELINE,
        requests=18,
        polls=8,
        http_429=1,
        bound_s=8.0,
    )
    assert (rep["runs"], rep["completed"], rep["wrong_results"], rep["failed"]) == (4, 2, 1, 1)
    assert rep["completed_at_s"] == [3.0, 6.0]
    assert rep["finish_line_s"] == pytest.approx(8.0)
    assert rep["makespan_over_finish_line"] == pytest.approx(10.0 / 8.0)
    assert rep["makespan_over_bound"] == pytest.approx(1.25)
    assert rep["lag_median_s"] == pytest.approx(1.0)  # both right runs seen 1 s after their end
    assert (rep["requests_per_run"], rep["polls_per_run"]) == (4.5, 2.0)
    assert rep["client_cpu_ms_per_run"] == pytest.approx(50.0)
    assert rep["peak_rss_mb"] == 64.0
    assert rep["failure"] == {
        "first_failure_s": 4.0,
        "completed_before_first_failure": 1,
        "failed_runs": 1,
        "errors": {"HTTPError 429 on POST runs": 1},
        "example": SDK_429,
    }
    assert rep["failed_at_s"] == [4.0]


def test_a_clean_repetition_has_no_failure_entry() -> None:
    child = _child()
    child["runs"] = child["runs"][:2]
    rep = figures.repetition_figures(
        child,
        expected_digests=["d0", "d1"],
        timeline=TIMELINE,
        requests=8,
        polls=4,
        http_429=0,
        bound_s=None,
    )
    assert "failure" not in rep and "failed_at_s" not in rep
    assert rep["bound_s"] is None and rep["makespan_over_bound"] is None


def test_summaries_cover_the_repetitions_that_have_each_figure() -> None:
    reps = [
        {"makespan_s": 5.0, "lag_p95_s": 1.0, "http_429": 0},
        {"makespan_s": 3.0, "lag_p95_s": None, "http_429": 0},
        {"error": "Timeout: request to v1/applications/a/runs timed out after 20s"},
        {"makespan_s": 4.0, "lag_p95_s": 3.0, "http_429": 2},
    ]
    summary = figures.summarize(reps)
    assert summary["makespan_s"] == {"median": 4.0, "min": 3.0, "max": 5.0}
    assert summary["lag_p95_s"] == {"median": 2.0, "min": 1.0, "max": 3.0}
    assert summary["http_429"] == {"median": 0.0, "min": 0.0, "max": 2.0}
    assert "wrong_results" not in summary
    assert figures.median_repetition(reps) == 3
    assert figures.median_repetition([{"error": "x"}]) == -1


def test_the_result_document_holds_machine_params_and_each_clients_runs() -> None:
    reps = [{"makespan_s": 4.0, "completed": 10}, {"makespan_s": 6.0, "completed": 10}]
    doc = figures.result_document(
        case="sweep",
        mode="full",
        network="loopback",
        command="python benchmarks/compare.py",
        machine={"cores": 2, "loadavg_before": [1.0, 1.0, 1.0]},
        params={"runs": 10},
        clients={"asyncrun": ("run_batch", reps)},
    )
    assert json.loads(json.dumps(doc)) == doc
    assert set(doc) == {"case", "mode", "network", "command", "machine", "params", "clients"}
    entry = doc["clients"]["asyncrun"]
    assert entry["description"] == "run_batch"
    assert entry["summary"]["makespan_s"] == {"median": 5.0, "min": 4.0, "max": 6.0}
    assert entry["repetitions"] == reps


def test_every_client_gets_the_same_durations_from_the_seed() -> None:
    first = figures.run_durations(500, 1.0, 3.0, seed=7)
    assert first == figures.run_durations(500, 1.0, 3.0, seed=7)
    assert first != figures.run_durations(500, 1.0, 3.0, seed=8)
    assert all(1.0 <= d <= 3.0 for d in first)
    assert figures.scenario_input("sweep", 3) != figures.scenario_input("quota", 3)


def test_connections_count_the_client_not_the_harness_reads() -> None:
    stats = {
        "connections": {
            "opened": 42,
            "by_client": {
                "python-requests/2.32": {"connections": 40, "tls_handshakes": 40, "requests": 40},
                "Python-urllib/3.11": {"connections": 2, "tls_handshakes": 2, "requests": 2},
            },
        }
    }
    assert figures.client_connections(stats) == {"connections": 40, "tls_handshakes": 40}
    assert figures.client_connections({"requests": {}}) == {}
