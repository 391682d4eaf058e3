"""Scenario tests: option sets over input sets, on the batch experiment API (`type=scenario`),
with the SDK's calls awaited (nextmv 1.13 `cloud/application/_batch_scenario.py`)."""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping, Sequence
from typing import Any

from asyncrun.errors import ConfigError
from asyncrun.experiments._core import ExperimentsCore, as_models, entity_id, new_id
from asyncrun.experiments.batch_experiments import (
    BatchExperimentsMixin,
    batch_experiment_body,
    check_polling,
    list_batches,
)
from asyncrun.experiments.models import (
    BatchExperiment,
    BatchExperimentInformation,
    BatchExperimentMetadata,
    BatchExperimentRun,
    InputSet,
    Scenario,
    ScenarioInputType,
)
from asyncrun.managed_inputs import validate_input_id
from asyncrun.polling import PollingOptions

__all__ = ["ScenarioTestsMixin", "option_sets", "scenarios_by_id"]

_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]+")
_ID_MAX = 40  # the SDK's safe_name_and_id keeps ids within this
_SLUG = string.ascii_lowercase + string.digits
_AUTO_MAXIMUM_RUNS = 20  # what the SDK sends for the input sets it makes for a scenario


def scenarios_by_id(scenarios: Sequence[Scenario]) -> dict[str, Scenario]:
    """Each scenario under its id (`scenario-<n>`, counting from 1, when it has none)."""
    found: dict[str, Scenario] = {}
    for index, scenario in enumerate(scenarios, start=1):
        scenario_id = scenario.scenario_id or f"scenario-{index}"
        if scenario_id in found:
            raise ConfigError(f"duplicate scenario id {scenario_id!r}")
        found[scenario_id] = scenario
    return found


def option_sets(scenarios: Mapping[str, Scenario]) -> dict[str, dict[str, dict[str, str]]]:
    """Per scenario id, its option sets `<scenario id>_<n>` (every combination of its values)."""
    return {
        scenario_id: {
            f"{scenario_id}_{index}": combination
            for index, combination in enumerate(scenario.option_combinations())
        }
        for scenario_id, scenario in scenarios.items()
    }


def _name_and_id(prefix: str, entity: str) -> tuple[str, str]:
    """As the SDK's `safe_name_and_id`: `prefix-<kebab words>-<8 random>` within 40
    characters, and its Start Case name."""
    slug = "".join(secrets.choice(_SLUG) for _ in range(8))
    room = _ID_MAX - 3 - len(prefix) - (len(slug) + 1)
    parts = [prefix]
    for word in _NOT_ALNUM.sub(" ", entity).lower().split():
        if len("-".join([*parts, word])) >= room:
            break
        parts.append(word)
    safe = "-".join(parts) + f"-{slug}"
    return " ".join(w.capitalize() for w in safe.split("-")), safe


def _check(scenarios: Sequence[Scenario | Mapping[str, Any]], repetitions: int | None) -> int:
    if isinstance(scenarios, str | bytes | Mapping) or not scenarios:
        raise ConfigError("scenarios must be a non-empty list of Scenario (or dicts)")
    reps = 0 if repetitions is None else repetitions
    if isinstance(reps, bool) or not isinstance(reps, int) or reps < 0:
        raise ConfigError(f"repetitions must be a whole number >= 0, got {repetitions!r}")
    return reps


class ScenarioTestsMixin:
    """Create, read, poll, list, update and delete scenario tests (mixed into
    AsyncApplication)."""

    async def new_scenario_test(
        self: ExperimentsCore,
        scenarios: Sequence[Scenario | Mapping[str, Any]],
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        repetitions: int | None = 0,
        content_type: str | None = None,
    ) -> str:
        """Create a scenario test; its id. Each scenario runs its instance on its inputs (an
        input set, managed input ids, or new data uploaded as managed inputs), once per
        combination of its configuration's values, `repetitions` + 1 times.

        As the SDK: each scenario's instance is read (it must exist), an input set is read or
        created for it, then one batch experiment of type `scenario` holds every run.
        Refused before any request: no scenario, a duplicate scenario id, a bad id,
        repetitions < 0, a scenario input that does not fit its type."""
        reps = _check(scenarios, repetitions)
        by_id = scenarios_by_id(as_models(Scenario, scenarios, "scenarios"))
        for scenario in by_id.values():
            entity_id("instance", scenario.instance_id)
            if scenario.scenario_input.scenario_input_type == ScenarioInputType.INPUT:
                for input_id in scenario.scenario_input.scenario_input_data:
                    validate_input_id(input_id)  # type: ignore[arg-type]
        test_id = new_id("scenario test", id, "scenario")
        sets = option_sets(by_id)
        flat = {key: options for per in sets.values() for key, options in per.items()}
        batch_experiment_body(  # every check of the batch body, before the first request
            name=name,
            input_set_id=None,
            description=description,
            id=test_id,
            option_sets=flat,
            runs=None,
            type="scenario",
            content_type=content_type,
        )
        input_sets: dict[str, InputSet] = {}
        for scenario_id, scenario in by_id.items():
            await self.instance(scenario.instance_id)
            input_sets[scenario_id] = await _input_set_for(self, scenario, scenario_id)
        runs = _scenario_runs(by_id, sets, input_sets, reps)
        return await BatchExperimentsMixin.new_batch_experiment(
            self,
            id=test_id,
            name=name,
            description=description,
            type="scenario",
            option_sets=flat,
            runs=runs,
            content_type=content_type,
        )

    async def new_scenario_test_with_result(
        self: ExperimentsCore,
        scenarios: Sequence[Scenario | Mapping[str, Any]],
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        repetitions: int | None = 0,
        content_type: str | None = None,
        polling_options: PollingOptions | None = None,
    ) -> BatchExperiment:
        """`new_scenario_test`, then `scenario_test_with_polling`."""
        check_polling(polling_options)
        test_id = await ScenarioTestsMixin.new_scenario_test(
            self, scenarios, id, name, description, repetitions, content_type
        )
        return await self.batch_experiment_with_polling(test_id, polling_options)

    async def scenario_test(self: ExperimentsCore, scenario_test_id: str) -> BatchExperiment:
        """The scenario test as a batch experiment, with its runs."""
        return await self.batch_experiment(scenario_test_id)

    async def scenario_test_metadata(
        self: ExperimentsCore, scenario_test_id: str
    ) -> BatchExperimentMetadata:
        return await self.batch_experiment_metadata(scenario_test_id)

    async def scenario_test_with_polling(
        self: ExperimentsCore,
        scenario_test_id: str,
        polling_options: PollingOptions | None = None,
    ) -> BatchExperiment:
        """Poll until the scenario test is final, then read it with its runs."""
        return await self.batch_experiment_with_polling(scenario_test_id, polling_options)

    async def list_scenario_tests(
        self: ExperimentsCore, no_pagination: bool = False
    ) -> list[BatchExperimentMetadata]:
        """GET {app}/experiments/batch?type=scenario (every page)."""
        return await list_batches(self, "scenario", no_pagination, "list_scenario_tests")

    async def update_scenario_test(
        self: ExperimentsCore,
        scenario_test_id: str,
        name: str | None = None,
        description: str | None = None,
    ) -> BatchExperimentInformation:
        return await BatchExperimentsMixin.update_batch_experiment(
            self, scenario_test_id, name, description
        )

    async def delete_scenario_test(self: ExperimentsCore, scenario_test_id: str) -> None:
        await BatchExperimentsMixin.delete_batch_experiment(self, scenario_test_id)


async def _input_set_for(app: ExperimentsCore, scenario: Scenario, scenario_id: str) -> InputSet:
    """The scenario's input set: read, or made from its managed inputs or its new data."""
    source = scenario.scenario_input
    if source.scenario_input_type == ScenarioInputType.INPUT_SET:
        assert isinstance(source.scenario_input_data, str)
        return await app.input_set(source.scenario_input_data)
    if source.scenario_input_type == ScenarioInputType.INPUT:
        inputs: list[dict[str, Any]] = [{"id": str(i)} for i in source.scenario_input_data]
    else:
        inputs = []
        for data in source.scenario_input_data:
            name, input_id = _name_and_id("man-input", scenario_id)
            managed = await app.new_managed_input(
                id=input_id,
                name=name,
                description=f"Automatically created from scenario test: {input_id}",
                input=data,
            )
            inputs.append(managed.to_dict())
    name, set_id = _name_and_id("inpset", scenario_id)
    return await app.new_input_set(
        id=set_id,
        name=name,
        description=f"Automatically created from scenario test: {set_id}",
        maximum_runs=_AUTO_MAXIMUM_RUNS,
        inputs=inputs,
    )


def _scenario_runs(
    by_id: Mapping[str, Scenario],
    sets: Mapping[str, Mapping[str, Any]],
    input_sets: Mapping[str, InputSet],
    repetitions: int,
) -> list[BatchExperimentRun]:
    """Scenario x option set x input x repetition, `run_number` counting from 1 (the SDK's
    order)."""
    runs: list[BatchExperimentRun] = []
    for scenario_id, scenario_sets in sets.items():
        input_set = input_sets[scenario_id]
        for set_key in scenario_sets:
            for input_id in input_set.all_input_ids():
                for repetition in range(repetitions + 1):
                    runs.append(
                        BatchExperimentRun(
                            input_id=input_id,
                            input_set_id=input_set.id,
                            instance_id=by_id[scenario_id].instance_id,
                            option_set=set_key,
                            scenario_id=scenario_id,
                            repetition=repetition,
                            run_number=str(len(runs) + 1),
                        )
                    )
    return runs
