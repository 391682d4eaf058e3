"""Input sets: the inputs an application's experiments run on, with the SDK's calls awaited
(nextmv 1.13 `cloud/application/_input_set.py`): POST/GET/PUT/DELETE
`{app}/experiments/inputsets[/{id}]`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from asyncrun._answers import parse
from asyncrun.errors import ConfigError
from asyncrun.experiments._core import (
    ExperimentsCore,
    as_models,
    create_once,
    dumps,
    entity_id,
    list_items,
    new_id,
)
from asyncrun.experiments.models import InputSet
from asyncrun.managed_inputs import validate_input_id
from asyncrun.models import ManagedInput

__all__ = ["InputSetsMixin", "input_set_body"]


def _path(app: ExperimentsCore, input_set_id: str | None = None) -> str:
    base = f"{app._base}/experiments/inputsets"
    if input_set_id is None:
        return base
    return f"{base}/{quote(entity_id('input set', input_set_id), safe='')}"


def _timestamp(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ConfigError(f"{name} must be a datetime, got {type(value).__name__}")
    # A naive time is the caller's local time: sent with its offset, not as UTC by accident.
    return value if value.tzinfo is not None else value.astimezone()


def _managed_inputs(inputs: Sequence[ManagedInput | Mapping[str, Any]]) -> list[dict[str, Any]]:
    checked = as_models(ManagedInput, inputs, "inputs")
    for item in checked:
        validate_input_id(item.id)
    return [item.to_dict() for item in checked]


def input_set_body(
    *,
    id: str | None,
    name: str | None,
    description: str | None,
    end_time: datetime | None,
    instance_id: str | None,
    maximum_runs: int | None,
    run_ids: Sequence[str] | None,
    start_time: datetime | None,
    inputs: Sequence[ManagedInput | Mapping[str, Any]] | None,
) -> dict[str, Any]:
    """The SDK's POST body, every argument checked first (ConfigError, nothing sent)."""
    set_id = new_id("input set", id, "input-set")
    start, end = _timestamp(start_time, "start_time"), _timestamp(end_time, "end_time")
    if start is not None and end is not None and start > end:
        raise ConfigError(f"start_time {start.isoformat()} is after end_time {end.isoformat()}")
    if maximum_runs is not None and (
        isinstance(maximum_runs, bool) or not isinstance(maximum_runs, int) or maximum_runs < 1
    ):
        raise ConfigError(f"maximum_runs must be a whole number >= 1, got {maximum_runs!r}")
    if instance_id is not None:
        entity_id("instance", instance_id)
    if (
        run_ids is None
        and inputs is None
        and instance_id is None
        and start_time is None
        and end_time is None
    ):
        raise ConfigError(
            "give run_ids, inputs, or an instance's runs in a time window (instance_id, "
            "start_time, end_time)"
        )
    body: dict[str, Any] = {"id": set_id, "name": name or set_id}
    if description is not None:
        body["description"] = description
    if end is not None:
        body["end_time"] = end.isoformat()
    if instance_id is not None:
        body["instance_id"] = instance_id
    if maximum_runs is not None:
        body["maximum_runs"] = maximum_runs
    if run_ids is not None:
        if isinstance(run_ids, str) or not run_ids:
            raise ConfigError("run_ids must be a non-empty list of run ids")
        body["run_ids"] = [entity_id("run", run_id) for run_id in run_ids]
    if start is not None:
        body["start_time"] = start.isoformat()
    if inputs is not None:
        if not inputs:
            raise ConfigError("inputs must be a non-empty list of managed inputs")
        body["inputs"] = _managed_inputs(inputs)
    return body


class InputSetsMixin:
    """Create, read, list, update and delete input sets (mixed into AsyncApplication)."""

    async def new_input_set(
        self: ExperimentsCore,
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        end_time: datetime | None = None,
        instance_id: str | None = None,
        maximum_runs: int | None = None,
        run_ids: list[str] | None = None,
        start_time: datetime | None = None,
        inputs: Sequence[ManagedInput | Mapping[str, Any]] | None = None,
    ) -> InputSet:
        """POST {app}/experiments/inputsets, from `run_ids` (those runs' inputs), from
        `inputs` (managed inputs of the app), or from the runs of `instance_id` (the app's
        default instance when not given) between `start_time` and `end_time`, at most
        `maximum_runs`. `id` defaults to a fresh `input-set-...` id, `name` to the id.

        Refused before any request: a bad id, start_time after end_time, maximum_runs < 1, an
        empty run_ids or inputs list. The POST is not retried once sent: after an ambiguous
        failure the input set is looked up by its id (found: returned)."""
        body = input_set_body(
            id=id,
            name=name,
            description=description,
            end_time=end_time,
            instance_id=instance_id,
            maximum_runs=maximum_runs,
            run_ids=run_ids,
            start_time=start_time,
            inputs=inputs,
        )

        async def create() -> InputSet:
            raw = await self._call("POST", _path(self), body=dumps(body), idempotent=False)
            return parse(InputSet, raw, "new_input_set")

        return await create_once(create, lambda: self.input_set(body["id"]))

    async def input_set(self: ExperimentsCore, input_set_id: str) -> InputSet:
        """GET {app}/experiments/inputsets/{id}."""
        return parse(InputSet, await self._call("GET", _path(self, input_set_id)), "input_set")

    async def list_input_sets(self: ExperimentsCore, no_pagination: bool = False) -> list[InputSet]:
        """Every input set of the application (all pages; `no_pagination=True`: one plain GET,
        as the SDK)."""
        what = "list_input_sets"
        return await list_items(self, _path(self), InputSet, what, no_pagination=no_pagination)

    async def update_input_set(
        self: ExperimentsCore,
        id: str,
        name: str | None = None,
        description: str | None = None,
        inputs: Sequence[ManagedInput | Mapping[str, Any]] | None = None,
    ) -> InputSet:
        """As the SDK: read the input set, change the given fields, PUT it back whole
        (`inputs`, when a non-empty list, replaces the managed inputs)."""
        path = _path(self, id)
        new_inputs = _managed_inputs(inputs) if inputs else None
        body = (await self.input_set(id)).to_dict()
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        if new_inputs is not None:
            body["inputs"] = new_inputs
        raw = await self._call("PUT", path, body=dumps(body))
        return parse(InputSet, raw, "update_input_set")

    async def delete_input_set(self: ExperimentsCore, input_set_id: str) -> None:
        """DELETE {app}/experiments/inputsets/{id}."""
        await self._call("DELETE", _path(self, input_set_id))
