"""Experiments: input sets, batch experiments (scenario tests are batch experiments of type
"scenario") and acceptance tests, in the shapes of the official SDK (nextmv 1.13.0,
cloud/input_set.py, batch_experiment.py, acceptance_test.py).

An experiment holds no result of its own: its runs are ordinary runs of the run store (made by
EmulatorState.create_run, like any POST runs), its status is read from theirs on each request,
and its statistics are computed from their outputs once every run has finished, then kept.
Routes: experiment_routes.py; reading the runs: experiment_results.py; statistics:
acceptance.py.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from asyncrun.emulator import acceptance
from asyncrun.emulator.inputs import InputStore
from asyncrun.emulator.runs import TERMINAL, Run
from asyncrun.emulator.views import iso


@dataclass
class InputSet:
    id: str
    app_id: str
    name: str
    description: str
    input_ids: list[str]
    created: float
    updated: float

    def wire(self, inputs: InputStore) -> dict[str, Any]:
        """The SDK's `InputSet`; an input deleted since shows as its id only."""
        shown = []
        for input_id in self.input_ids:
            item = inputs.get(self.app_id, input_id)
            shown.append(item.wire() if item is not None else {"id": input_id})
        return {
            "id": self.id,
            "app_id": self.app_id,
            "name": self.name,
            "description": self.description,
            "input_ids": list(self.input_ids),
            "inputs": shown,
            "created_at": iso(self.created),
            "updated_at": iso(self.updated),
        }


@dataclass(frozen=True)
class PlannedRun:
    """One entry of a batch experiment's `runs` (the SDK's `BatchExperimentRun`)."""

    input_id: str
    instance_id: str | None
    version_id: str | None
    input_set_id: str | None
    option_set: str | None
    scenario_id: str | None
    repetition: int | None
    run_number: str | None


@dataclass
class Record:
    """A planned run with the run made for it and, once it succeeded, its output."""

    planned: PlannedRun
    run: Run | None
    output: Any


@dataclass
class BatchExperiment:
    id: str
    app_id: str
    name: str
    description: str
    type: str
    input_set_id: str
    option_sets: dict[str, dict[str, str]] | None
    planned: list[PlannedRun]
    created: float
    updated: float
    run_ids: list[str] = field(default_factory=list)
    # Computed once every run has finished (the runs cannot change after that).
    records: list[Record] | None = None
    summaries: list[dict[str, Any]] | None = None

    @property
    def instance_ids(self) -> list[str]:
        return list(dict.fromkeys(p.instance_id for p in self.planned if p.instance_id))


@dataclass
class AcceptanceTest:
    id: str
    app_id: str
    name: str
    description: str
    experiment_id: str
    control: dict[str, str]
    candidate: dict[str, str]
    metrics: list[dict[str, Any]]
    created: float
    updated: float
    results: dict[str, Any] | None = None


class ExperimentStore:
    """Input sets, batch experiments and acceptance tests per application."""

    def __init__(self) -> None:
        self.input_sets: dict[tuple[str, str], InputSet] = {}
        self.batches: dict[tuple[str, str], BatchExperiment] = {}
        self.acceptance: dict[tuple[str, str], AcceptanceTest] = {}
        self.runs_created = 0

    def snapshot(self) -> dict[str, int]:
        return {
            "input_sets": len(self.input_sets),
            "batch_experiments": len(self.batches),
            "acceptance_tests": len(self.acceptance),
            "experiment_runs": self.runs_created,
        }


def in_app(items: dict[tuple[str, str], Any], app_id: str) -> list[Any]:
    """An app's items, newest first."""
    found = [item for (app, _), item in items.items() if app == app_id]
    return sorted(found, key=lambda item: item.created, reverse=True)


# -- status and results -----------------------------------------------------------------------


def status_of(statuses: Iterable[str]) -> str:
    """started while a run has not finished; then completed when one succeeded, canceled
    when every run was canceled, else failed."""
    seen = list(statuses)
    if any(s not in TERMINAL for s in seen):
        return "started"
    if "succeeded" in seen:
        return "completed"
    if seen and all(s == "canceled" for s in seen):
        return "canceled"
    return "failed"


def grouped_summaries(found: list[Record]) -> list[dict[str, Any]]:
    """Distributions of every indicator per instance, per input and instance, and per
    scenario and option set (the cloud's `grouped_distributional_summaries`)."""
    groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Record]] = {}
    for record in found:
        p = record.planned
        version = record.run.version_id if record.run is not None else (p.version_id or "")
        instance = p.instance_id or ""
        keys = [
            (("instanceID", "versionID"), (instance, version)),
            (("inputID", "instanceID", "versionID"), (p.input_id, instance, version)),
        ]
        if p.option_set is not None:
            keys.append((("scenarioID", "optionSetID"), (p.scenario_id or "", p.option_set)))
        for key in keys:
            groups.setdefault(key, []).append(record)
    return [_summary(names, values, members) for (names, values), members in groups.items()]


def _summary(
    names: tuple[str, ...], values: tuple[str, ...], members: list[Record]
) -> dict[str, Any]:
    outputs = [m.output for m in members if m.output is not None]
    keys = list(dict.fromkeys(k for out in outputs for k in acceptance.indicators(out)))
    distributions = {}
    for key in keys:
        numbers = [v for out in outputs if (v := acceptance.value_of(out, key)) is not None]
        distributions[key] = acceptance.indicator_distribution(numbers)
    return {
        "group_keys": list(names),
        "group_values": list(values),
        "indicator_keys": keys,
        "indicator_distributions": distributions,
        "number_of_runs_total": len(members),
    }


def acceptance_results(
    test: AcceptanceTest, found: list[Record], versions: dict[str, str]
) -> dict[str, Any]:
    """The SDK's `AcceptanceTestResults`: per metric, the control's and the candidate's
    statistics over their runs and whether the comparison holds."""
    sides = {"control": test.control["instance_id"], "candidate": test.candidate["instance_id"]}
    members = {side: [r for r in found if r.planned.instance_id == i] for side, i in sides.items()}
    metric_results = []
    for metric in test.metrics:
        values = {
            side: [
                v
                for r in recs
                if r.output is not None
                and (v := acceptance.value_of(r.output, metric["field"])) is not None
            ]
            for side, recs in members.items()
        }
        statistics = {
            side: acceptance.result_statistics(
                sides[side], versions[side], len(members[side]), values[side]
            )
            for side in sides
        }
        passed = acceptance.passes(metric, values["control"], values["candidate"])
        metric_results.append({"metric": metric, "statistics": statistics, "passed": passed})
    return {
        "passed": all(m["passed"] for m in metric_results),
        "metric_results": metric_results,
    }


def version_used(found: list[Record], instance_id: str, fallback: str) -> str:
    """The version the instance's runs used (its current version when it has none)."""
    for record in found:
        if record.planned.instance_id == instance_id and record.run is not None:
            return record.run.version_id
    return fallback
