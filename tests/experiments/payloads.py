"""Answers shaped as the SDK's own models and docstring examples (nextmv 1.13 `cloud/`), used
as scripted replies and as model-parsing fixtures."""

from __future__ import annotations

from typing import Any

APP = "test-app"
EXP = f"/v1/applications/{APP}/experiments"
WHEN = "2024-01-01T00:00:00Z"

INPUT_SET: dict[str, Any] = {
    "app_id": APP,
    "id": "is-1",
    "name": "My Input Set",
    "description": "A collection of routing inputs",
    "input_ids": ["inp_111", "inp_222"],
    "created_at": WHEN,
    "updated_at": WHEN,
    "inputs": [],
}

MANAGED_INPUT_SET: dict[str, Any] = {
    **INPUT_SET,
    "id": "is-2",
    "input_ids": [],
    "inputs": [{"id": "mi-1", "name": "one"}, {"id": "mi-2", "name": "two"}],
}

METRIC: dict[str, Any] = {
    "field": "solution.objective",
    "metric_type": "direct-comparison",
    "params": {"operator": "lt", "tolerance": {"type": "relative", "value": 0.05}},
    "statistic": "mean",
}

SUMMARY = {
    "min": 10.0,
    "max": 20.0,
    "count": 10,
    "mean": 15.0,
    "std": 3.0,
    "shifted_geometric_mean": 14.5,
    "shift_parameter": 1.0,
}
PERCENTILES = {
    "p01": 10.5,
    "p05": 11.0,
    "p10": 12.0,
    "p25": 13.5,
    "p50": 15.0,
    "p75": 16.5,
    "p90": 18.0,
    "p95": 19.0,
    "p99": 19.5,
}


def result_statistics(instance_id: str, version_id: str) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "version_id": version_id,
        "number_of_runs_total": 10,
        "distribution_summary_statistics": SUMMARY,
        "distribution_percentiles": PERCENTILES,
    }


def acceptance_test(status: str = "completed", test_id: str = "at-1") -> dict[str, Any]:
    results = {
        "passed": True,
        "metric_results": [
            {
                "metric": METRIC,
                "statistics": {
                    "control": result_statistics("control-instance", "control-version"),
                    "candidate": result_statistics("candidate-instance", "candidate-version"),
                },
                "passed": True,
            }
        ],
    }
    return {
        "id": test_id,
        "name": "Performance acceptance test",
        "description": "Testing performance improvements",
        "app_id": APP,
        "experiment_id": test_id,
        "control": {"instance_id": "control-instance", "version_id": "control-version"},
        "candidate": {"instance_id": "candidate-instance", "version_id": "candidate-version"},
        "metrics": [METRIC],
        "created_at": WHEN,
        "updated_at": WHEN,
        "status": status,
        **({"results": results} if status == "completed" else {}),
    }


def batch_metadata(status: str = "completed", batch_id: str = "b-1") -> dict[str, Any]:
    return {
        "id": batch_id,
        "name": "My Batch Experiment",
        "description": "",
        "created_at": WHEN,
        "updated_at": WHEN,
        "status": status,
        "number_of_requested_runs": 2,
        "number_of_runs": 2,
        "number_of_completed_runs": 2 if status == "completed" else 0,
        "type": "batch",
        "app_id": APP,
    }


def batch_experiment(batch_id: str = "b-1") -> dict[str, Any]:
    meta = batch_metadata(batch_id=batch_id)
    del meta["app_id"]
    return {
        **meta,
        "input_set_id": "is-1",
        "instance_ids": ["inst-a", "inst-b"],
        "grouped_distributional_summaries": [
            {"group_keys": ["instanceID"], "group_values": ["inst-a"], "indicator_keys": []}
        ],
    }


def experiment_run(run_id: str, instance_id: str, input_id: str) -> dict[str, Any]:
    return {
        "id": run_id,
        "user_email": "dev@example.com",
        "name": "",
        "description": "",
        "created_at": WHEN,
        "application_id": APP,
        "application_instance_id": instance_id,
        "application_version_id": "v1",
        "run_type": {"type": "standard"},
        "execution_class": "6c9500mb870s",
        "runtime": "python",
        "status_v2": "succeeded",
        "experiment_id": "b-1",
        "input_id": input_id,
        "input_set_id": "is-1",
        "option_set": None,
    }


BATCH_RUNS = {
    "runs": [
        experiment_run("run-1", "inst-a", "inp_111"),
        experiment_run("run-2", "inst-b", "inp_111"),
    ]
}

INSTANCE: dict[str, Any] = {
    "id": "inst-a",
    "application_id": APP,
    "version_id": "v1",
    "name": "A",
    "description": "",
    "configuration": {},
    "locked": False,
    "created_at": WHEN,
    "updated_at": WHEN,
}
