"""Batch experiments: runs of instances or versions over inputs, with the SDK's calls awaited
(nextmv 1.13 `cloud/application/_batch_scenario.py`): POST/GET/PATCH/DELETE
`{app}/experiments/batch[/{id}]`, `GET .../{id}/runs`, `GET .../{id}/metadata`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from asyncrun._answers import loads, model, parse
from asyncrun.errors import APIError, ConfigError
from asyncrun.experiments._core import (
    ExperimentsCore,
    as_models,
    create_once,
    dumps,
    entity_id,
    list_items,
    new_id,
    poll_experiment,
)
from asyncrun.experiments.models import (
    BatchExperiment,
    BatchExperimentInformation,
    BatchExperimentMetadata,
    BatchExperimentRun,
    ExperimentRun,
    InputSet,
)
from asyncrun.models import ContentFormat
from asyncrun.polling import PollingOptions

__all__ = [
    "BatchExperimentsMixin",
    "batch_experiment_body",
    "batch_path",
    "check_polling",
    "list_batches",
    "to_runs",
    "update_body",
]


def batch_path(app: ExperimentsCore, batch_id: str | None = None, suffix: str = "") -> str:
    base = f"{app._base}/experiments/batch"
    if batch_id is None:
        return base
    return f"{base}/{quote(entity_id('batch experiment', batch_id), safe='')}{suffix}"


def _option_sets(option_sets: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    if not isinstance(option_sets, Mapping):
        raise ConfigError("option_sets must be a dict of option set id -> {option: value}")
    checked: dict[str, dict[str, str]] = {}
    for key, options in option_sets.items():
        entity_id("option set", key)
        if not isinstance(options, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in options.items()
        ):
            raise ConfigError(f"option set {key!r}: options must be a dict of strings to strings")
        checked[key] = dict(options)
    return checked


def _runs(
    runs: Sequence[BatchExperimentRun | Mapping[str, Any]], option_sets: Mapping[str, Any]
) -> list[dict[str, Any]]:
    if isinstance(runs, str | bytes | Mapping) or not runs:
        raise ConfigError("runs must be a non-empty list of BatchExperimentRun (or dicts)")
    checked = as_models(BatchExperimentRun, runs, "runs")
    for run in checked:
        entity_id("input", run.input_id)
        if run.option_set is not None and run.option_set not in option_sets:
            raise ConfigError(
                f"run of input {run.input_id!r} names option set {run.option_set!r}, which "
                "option_sets does not define"
            )
    return [run.to_dict() for run in checked]


def to_runs(instance_ids: Sequence[str], input_set: InputSet) -> list[BatchExperimentRun]:
    """One run per instance and input of the set, instance by instance (the SDK's `to_runs`)."""
    return [
        BatchExperimentRun(input_id=input_id, instance_id=instance_id, input_set_id=input_set.id)
        for instance_id in instance_ids
        for input_id in input_set.all_input_ids()
    ]


def batch_experiment_body(
    *,
    name: str | None,
    input_set_id: str | None,
    description: str | None,
    id: str | None,
    option_sets: Mapping[str, Mapping[str, str]] | None,
    runs: Sequence[BatchExperimentRun | Mapping[str, Any]] | None,
    type: str | None,
    content_type: str | None,
    prefix: str = "batch",
) -> dict[str, Any]:
    """The SDK's POST body, every argument checked first (ConfigError, nothing sent)."""
    batch_id = new_id("batch experiment", id, prefix)
    body: dict[str, Any] = {"id": batch_id, "name": name or batch_id}
    if input_set_id is not None:
        body["input_set_id"] = entity_id("input set", input_set_id)
    if description is not None:
        body["description"] = description
    sets = _option_sets(option_sets) if option_sets is not None else {}
    if option_sets is not None:
        body["option_sets"] = sets
    if runs is not None:
        body["runs"] = _runs(runs, sets)
    if type is not None:
        body["type"] = type
    if content_type is not None:
        if content_type not in {f.value for f in ContentFormat}:
            known = ", ".join(f.value for f in ContentFormat)
            raise ConfigError(f"unknown content_type {content_type!r} (known: {known})")
        body["content_type"] = content_type
    return body


def update_body(name: str | None, description: str | None) -> dict[str, str]:
    """`{name?, description?}`; at least one of them (else there is nothing to update)."""
    if not name and not description:
        raise ConfigError("give a name or a description to update")
    body = {"name": name, "description": description}
    return {key: value for key, value in body.items() if value is not None}


def _runs_of(raw: bytes, what: str) -> list[ExperimentRun]:
    answer = loads(raw, what)
    runs = answer.get("runs") if isinstance(answer, dict) else answer
    if runs is None:
        return []
    if not isinstance(runs, list):
        raise APIError(f"{what}: the answer has no list of runs")
    return [model(ExperimentRun, run, what) for run in runs]


def check_polling(options: PollingOptions | None) -> None:
    if options is not None and not isinstance(options, PollingOptions):
        raise ConfigError("polling_options must be an asyncrun.PollingOptions")
    if options is not None and not math.isfinite(options.max_duration):
        raise ConfigError("polling_options.max_duration must be finite (-1 for no limit)")


class BatchExperimentsMixin:
    """Create, read, poll, list, update and delete batch experiments (mixed into
    AsyncApplication)."""

    async def new_batch_experiment(
        self: ExperimentsCore,
        name: str | None = None,
        input_set_id: str | None = None,
        description: str | None = None,
        id: str | None = None,
        option_sets: Mapping[str, Mapping[str, str]] | None = None,
        runs: Sequence[BatchExperimentRun | Mapping[str, Any]] | None = None,
        type: str | None = "batch",
        content_type: str | None = None,
    ) -> str:
        """POST {app}/experiments/batch; the new experiment's id.

        `runs`: each an input (`input_id`) on an `instance_id` or a `version_id`, optionally
        with an `option_set` (a key of `option_sets`). `id` defaults to a fresh `batch-...`
        id, `name` to the id. Refused before any request: a bad id, an empty runs list, a run
        without instance or version, an option set that is not defined, option values that are
        not strings, an unknown content_type. The POST is not retried once sent: after an
        ambiguous failure the experiment is looked up by its id (found: its id is returned)."""
        body = batch_experiment_body(
            name=name,
            input_set_id=input_set_id,
            description=description,
            id=id,
            option_sets=option_sets,
            runs=runs,
            type=type,
            content_type=content_type,
        )
        return await _post_batch(self, body)

    async def batch_experiment(self: ExperimentsCore, batch_id: str) -> BatchExperiment:
        """GET {app}/experiments/batch/{id}, with its runs (`.runs`) from GET .../runs."""
        raw = await self._call("GET", batch_path(self, batch_id))
        experiment = parse(BatchExperiment, raw, "batch_experiment")
        experiment.runs = await self.batch_experiment_runs(batch_id)
        return experiment

    async def batch_experiment_runs(self: ExperimentsCore, batch_id: str) -> list[ExperimentRun]:
        """GET {app}/experiments/batch/{id}/runs: the experiment's runs (what the SDK puts in
        `BatchExperiment.runs`), each with its input, instance, option set and status."""
        raw = await self._call("GET", batch_path(self, batch_id, "/runs"))
        return _runs_of(raw, "batch_experiment_runs")

    async def batch_experiment_metadata(
        self: ExperimentsCore, batch_id: str
    ) -> BatchExperimentMetadata:
        """GET {app}/experiments/batch/{id}/metadata (no runs: what polling reads)."""
        raw = await self._call("GET", batch_path(self, batch_id, "/metadata"))
        return parse(BatchExperimentMetadata, raw, "batch_experiment_metadata")

    async def batch_experiment_with_polling(
        self: ExperimentsCore, batch_id: str, polling_options: PollingOptions | None = None
    ) -> BatchExperiment:
        """Poll the metadata until the experiment is final (completed, failed, draft, canceled,
        delete-failed), then read it with its runs. Bounded by the options (a day by default;
        PollingTimeoutError) and cancellable."""
        check_polling(polling_options)
        entity_id("batch experiment", batch_id)
        await poll_experiment(
            self,
            lambda: self.batch_experiment_metadata(batch_id),
            lambda meta: meta.status,
            polling_options,
            kind="batch experiment",
            experiment_id=batch_id,
        )
        return await self.batch_experiment(batch_id)

    async def new_batch_experiment_with_result(
        self: ExperimentsCore,
        name: str | None = None,
        input_set_id: str | None = None,
        description: str | None = None,
        id: str | None = None,
        option_sets: Mapping[str, Mapping[str, str]] | None = None,
        runs: Sequence[BatchExperimentRun | Mapping[str, Any]] | None = None,
        type: str | None = "batch",
        polling_options: PollingOptions | None = None,
        content_type: str | None = None,
    ) -> BatchExperiment:
        """`new_batch_experiment`, then `batch_experiment_with_polling`."""
        check_polling(polling_options)
        batch_id = await self.new_batch_experiment(
            name, input_set_id, description, id, option_sets, runs, type, content_type
        )
        return await self.batch_experiment_with_polling(batch_id, polling_options)

    async def list_batch_experiments(
        self: ExperimentsCore, no_pagination: bool = False
    ) -> list[BatchExperimentMetadata]:
        """GET {app}/experiments/batch?type=batch (every page)."""
        return await list_batches(self, "batch", no_pagination, "list_batch_experiments")

    async def update_batch_experiment(
        self: ExperimentsCore,
        batch_experiment_id: str,
        name: str | None = None,
        description: str | None = None,
    ) -> BatchExperimentInformation:
        """PATCH {app}/experiments/batch/{id} with the new name and/or description."""
        path = batch_path(self, batch_experiment_id)
        raw = await self._call("PATCH", path, body=dumps(update_body(name, description)))
        return parse(BatchExperimentInformation, raw, "update_batch_experiment")

    async def delete_batch_experiment(self: ExperimentsCore, batch_id: str) -> None:
        """DELETE {app}/experiments/batch/{id} (its runs go with it)."""
        await self._call("DELETE", batch_path(self, batch_id))


async def _post_batch(app: ExperimentsCore, body: dict[str, Any]) -> str:
    async def lookup() -> str:
        return (await app.batch_experiment_metadata(body["id"])).id

    return await create_once(lambda: _create_batch(app, body), lookup)


async def _create_batch(app: ExperimentsCore, body: dict[str, Any]) -> str:
    raw = await app._call("POST", batch_path(app), body=dumps(body), idempotent=False)
    answer = loads(raw, "new_batch_experiment")
    if not isinstance(answer, dict) or not isinstance(answer.get("id"), str):
        raise APIError("new_batch_experiment: the answer has no id")
    batch_id: str = answer["id"]
    return batch_id


async def list_batches(
    app: ExperimentsCore, kind: str, no_pagination: bool, what: str
) -> list[BatchExperimentMetadata]:
    """GET {app}/experiments/batch?type=KIND: every page, or one plain GET as the SDK's
    `no_pagination=True`."""
    return await list_items(
        app,
        batch_path(app),
        BatchExperimentMetadata,
        what,
        params={"type": kind},
        no_pagination=no_pagination,
    )
