"""Experiment routes under `{app}/experiments/`: `inputsets`, `batch` (scenario tests are
batch experiments of type "scenario") and `acceptance`, as the official SDK (nextmv 1.13.0,
cloud/application/_input_set.py, _batch_scenario.py, _acceptance.py) and the Nextmv CLI call
them. Every request is validated in full before anything is stored or any run is made.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web

from asyncrun.emulator import acceptance, experiment_results, experiments, views
from asyncrun.emulator.experiments import AcceptanceTest, BatchExperiment, InputSet, PlannedRun
from asyncrun.emulator.ids import DEVINT, DEVINT_ALIASES
from asyncrun.emulator.input_routes import key_from_run
from asyncrun.emulator.inputs import ManagedInput, lookup
from asyncrun.emulator.runs import TERMINAL, ExperimentTag, Run
from asyncrun.emulator.state import STATE, EmulatorState
from asyncrun.emulator.submit import (
    CONTENT_TYPES,
    ManagedLookup,
    StoredInput,
    read_json_body,
    read_object,
    text_field,
)
from asyncrun.emulator.wire import ApiError, json_bytes, json_response, listing

_EXP = "/v1/applications/{app_id}/experiments"
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_ID_RULE = "1-100 characters of letters, digits, '.', '_' or '-'"
BATCH_TYPES = frozenset({"batch", "scenario"})

_Item = TypeVar("_Item", InputSet, BatchExperiment, AcceptanceTest)


def add_experiment_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(_EXP + "/inputsets", create_input_set)
    r.add_get(_EXP + "/inputsets", list_input_sets)
    r.add_get(_EXP + "/inputsets/{set_id}", get_input_set)
    r.add_put(_EXP + "/inputsets/{set_id}", update_input_set)
    r.add_delete(_EXP + "/inputsets/{set_id}", delete_input_set)
    r.add_post(_EXP + "/batch", create_batch)
    r.add_get(_EXP + "/batch", list_batches)
    r.add_get(_EXP + "/batch/{batch_id}", get_batch)
    r.add_get(_EXP + "/batch/{batch_id}/metadata", batch_metadata)
    r.add_get(_EXP + "/batch/{batch_id}/runs", batch_runs)
    r.add_patch(_EXP + "/batch/{batch_id}", update_batch)
    r.add_delete(_EXP + "/batch/{batch_id}", delete_batch)
    r.add_post(_EXP + "/acceptance", create_acceptance)
    r.add_get(_EXP + "/acceptance", list_acceptance)
    r.add_get(_EXP + "/acceptance/{test_id}", get_acceptance)
    r.add_patch(_EXP + "/acceptance/{test_id}", update_acceptance)
    r.add_delete(_EXP + "/acceptance/{test_id}", delete_acceptance)


class _Wired:
    """An answer already built, for wire.listing."""

    def __init__(self, body: dict[str, Any]) -> None:
        self._body = body

    def wire(self) -> dict[str, Any]:
        return self._body


def _state(request: web.Request) -> EmulatorState:
    return request.app[STATE]


def _app_id(request: web.Request) -> str:
    """The app of the request: 404 when unknown (unless apps are auto-created)."""
    app_id = request.match_info["app_id"]
    _state(request).apps.app_for_runs(app_id, create=False)
    return app_id


def _listing(request: web.Request, bodies: Sequence[dict[str, Any]]) -> web.Response:
    return listing(request.query, [_Wired(b) for b in bodies], _state(request).config.page_size)


def _found(
    request: web.Request, table: Mapping[tuple[str, str], _Item], id_key: str, what: str
) -> _Item:
    """The item the path names: 404 when its app or the item is unknown."""
    app_id = _app_id(request)
    item_id = request.match_info[id_key]
    found = table.get((app_id, item_id))
    if found is None:
        raise ApiError(404, f"{what} {item_id!r} not found")
    return found


def _names(item: _Item, body: dict[str, Any]) -> tuple[str, str]:
    """The name and description an update gives (checked), else the item's own."""
    name = text_field(body, "name") if body.get("name") is not None else item.name
    given = body.get("description") is not None
    description = text_field(body, "description") if given else item.description
    return name or item.name, description


def _new_id(body: dict[str, Any], prefix: str, taken: dict[tuple[str, str], Any], app: str) -> str:
    given = body.get("id")
    new_id = given if given else f"{prefix}-{secrets.token_hex(6)}"
    if not isinstance(new_id, str) or not _ID_RE.match(new_id):
        raise ApiError(400, f"invalid id {new_id!r}: {_ID_RULE}")
    if (app, new_id) in taken:
        raise ApiError(409, f"{prefix} {new_id!r} already exists")
    return new_id


# -- input sets -------------------------------------------------------------------------------


def _input_set(request: web.Request) -> InputSet:
    return _found(request, _state(request).experiments.input_sets, "set_id", "input set")


async def create_input_set(request: web.Request) -> web.StreamResponse:
    """From `run_ids`, from managed `inputs`, or from the runs of an instance in a time window
    (`instance_id`, `start_time`, `end_time`, `maximum_runs`)."""
    state, app_id = _state(request), _app_id(request)
    body = read_json_body(await request.read())
    set_id = _new_id(body, "input-set", state.experiments.input_sets, app_id)
    name = text_field(body, "name") or set_id
    description = text_field(body, "description")
    if body.get("run_ids") is not None:
        input_ids = _inputs_from_runs(state, app_id, _runs_named(state, app_id, body["run_ids"]))
    elif body.get("inputs") is not None:
        input_ids = _known_inputs(state, app_id, body["inputs"])
    else:
        input_ids = _inputs_from_runs(state, app_id, _runs_in_window(state, app_id, body))
    now = time.time()
    item = InputSet(set_id, app_id, name, description, input_ids, now, now)
    state.experiments.input_sets[(app_id, set_id)] = item
    return json_response(item.wire(state.inputs))


def _runs_named(state: EmulatorState, app_id: str, run_ids: Any) -> list[Run]:
    if not isinstance(run_ids, list) or not all(isinstance(r, str) for r in run_ids):
        raise ApiError(400, "run_ids must be a list of run ids")
    if not run_ids:
        raise ApiError(400, "run_ids is empty: an input set needs at least one input")
    runs = []
    for run_id in run_ids:
        run = state.store.get(app_id, run_id)
        if run is None:
            raise ApiError(404, f"run {run_id!r} not found in application {app_id!r}")
        runs.append(run)
    return runs


def _inputs_from_runs(state: EmulatorState, app_id: str, runs: list[Run]) -> list[str]:
    """A managed input made from each run's input (listed like any managed input)."""
    input_ids = []
    now = time.time()
    for run in runs:
        input_id = f"input-{secrets.token_hex(8)}"
        item = ManagedInput(
            id=input_id,
            app_id=app_id,
            seq=state.inputs.next_seq(),
            name=run.name or f"input of {run.id}",
            description=f"from run {run.id}",
            upload_id=None,
            run_id=run.id,
            format={"input": {"type": run.input_type}, "output": {"type": run.output_type}},
            key=key_from_run(state, app_id, run.id, input_id),
            created=now,
            updated=now,
        )
        state.inputs.add(item)
        input_ids.append(input_id)
    return input_ids


def _known_inputs(state: EmulatorState, app_id: str, raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "inputs must be a non-empty list of managed inputs ({id: ...})")
    input_ids = []
    for entry in raw:
        input_id = entry.get("id") if isinstance(entry, dict) else entry
        if not isinstance(input_id, str):
            raise ApiError(400, "every entry of inputs needs an id")
        if state.inputs.get(app_id, input_id) is None:
            raise ApiError(404, f"managed input {input_id!r} not found")
        input_ids.append(input_id)
    return input_ids


def _runs_in_window(state: EmulatorState, app_id: str, body: dict[str, Any]) -> list[Run]:
    """The succeeded runs of the instance created between start_time and end_time, newest
    first, at most maximum_runs of them."""
    if not any(body.get(k) is not None for k in ("instance_id", "start_time", "end_time")):
        raise ApiError(400, "give run_ids, inputs, or instance_id with start_time and end_time")
    instance_id = _window_instance(state, app_id, text_field(body, "instance_id"))
    start = _time(body, "start_time", float("-inf"))
    end = _time(body, "end_time", float("inf"))
    limit = body.get("maximum_runs")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ApiError(400, "maximum_runs must be a whole number >= 1")
    now = time.monotonic()
    runs = [
        r
        for r in state.store.newest_first(app_id, None, None)
        if r.instance_id == instance_id
        and start <= r.created_wall <= end
        and r.status(now) == "succeeded"
    ][:limit]
    if not runs:
        raise ApiError(400, f"no succeeded run of instance {instance_id!r} in that time window")
    return runs


def _window_instance(state: EmulatorState, app_id: str, given: str) -> str:
    app = state.apps.app_for_runs(app_id, create=False)
    wanted = given or (app.default_instance if app is not None else None) or DEVINT
    if wanted in DEVINT_ALIASES:
        return DEVINT
    if app is not None and not app.auto and wanted not in app.instances:
        raise ApiError(404, f"instance {wanted!r} not found in application {app_id!r}")
    return wanted


def _time(body: dict[str, Any], key: str, default: float) -> float:
    raw = body.get(key)
    if raw is None:
        return default
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ApiError(400, f"{key} must be an ISO 8601 time") from exc
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


async def list_input_sets(request: web.Request) -> web.StreamResponse:
    state, app_id = _state(request), _app_id(request)
    sets = experiments.in_app(state.experiments.input_sets, app_id)
    return _listing(request, [s.wire(state.inputs) for s in sets])


async def get_input_set(request: web.Request) -> web.StreamResponse:
    return json_response(_input_set(request).wire(_state(request).inputs))


async def update_input_set(request: web.Request) -> web.StreamResponse:
    """name, description, and `inputs` (a non-empty list replaces the set's inputs)."""
    state, item = _state(request), _input_set(request)
    body = read_json_body(await request.read())
    names = _names(item, body)
    inputs = body.get("inputs")
    input_ids = _known_inputs(state, item.app_id, inputs) if inputs else item.input_ids
    item.name, item.description = names
    item.input_ids = input_ids
    item.updated = time.time()
    return json_response(item.wire(state.inputs))


async def delete_input_set(request: web.Request) -> web.StreamResponse:
    item = _input_set(request)
    # Its managed inputs stay (they are the app's), and so do experiments made from it.
    del _state(request).experiments.input_sets[(item.app_id, item.id)]
    return json_response({})


# -- batch experiments ------------------------------------------------------------------------


def _batch(request: web.Request) -> BatchExperiment:
    return _found(request, _state(request).experiments.batches, "batch_id", "batch experiment")


async def create_batch(request: web.Request) -> web.StreamResponse:
    """Runs every planned run: `runs`, or each input of `input_set_id` on each of
    `instance_ids`; `option_sets` name the options of a run's `option_set`."""
    state, app_id = _state(request), _app_id(request)
    body = read_json_body(await request.read())
    batch_id = _new_id(body, "batch experiment", state.experiments.batches, app_id)
    kind = body.get("type") or "batch"
    if kind not in BATCH_TYPES:
        raise ApiError(400, f"type must be one of {sorted(BATCH_TYPES)} (got {kind!r})")
    option_sets = _option_sets(body.get("option_sets"))
    content_type = body.get("content_type")
    if content_type is not None and content_type not in CONTENT_TYPES:
        raise ApiError(400, f"content_type must be one of {sorted(CONTENT_TYPES)}")
    planned = _planned_runs(state, app_id, body, option_sets)
    now = time.time()
    first_set = next((p.input_set_id for p in planned if p.input_set_id), "")
    batch = BatchExperiment(
        id=batch_id,
        app_id=app_id,
        name=text_field(body, "name") or batch_id,
        description=text_field(body, "description"),
        type=kind,
        input_set_id=text_field(body, "input_set_id") or first_set or "",
        option_sets=option_sets,
        planned=planned,
        created=now,
        updated=now,
    )
    state.experiments.batches[(app_id, batch_id)] = batch
    try:
        await _start_runs(state, batch, content_type)
    except ApiError:
        # A run the checks above let through was refused: nothing of the experiment stays.
        _forget_batch(state, batch)
        raise
    return json_response(await _batch_wire(state, batch, full=True))


def _option_sets(raw: Any) -> dict[str, dict[str, str]] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not all(
        isinstance(options, dict)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in options.items())
        for options in raw.values()
    ):
        raise ApiError(400, "option_sets must map names to objects of string options")
    return {str(name): dict(options) for name, options in raw.items()}


def _planned_runs(
    state: EmulatorState,
    app_id: str,
    body: dict[str, Any],
    option_sets: dict[str, dict[str, str]] | None,
) -> list[PlannedRun]:
    default_set = body.get("input_set_id")
    if default_set is not None:
        _known_input_set(state, app_id, default_set)
    raw = body.get("runs")
    if raw is None:
        planned = _cross_product(state, app_id, default_set, body.get("instance_ids"))
    else:
        if not isinstance(raw, list) or not raw:
            raise ApiError(400, "runs must be a non-empty list of batch experiment runs")
        planned = [_planned(i, entry, default_set) for i, entry in enumerate(raw)]
    for p in planned:
        _check_planned(state, app_id, p, option_sets)
    return planned


def _cross_product(
    state: EmulatorState, app_id: str, set_id: Any, instance_ids: Any
) -> list[PlannedRun]:
    if set_id is None:
        raise ApiError(400, "give runs, or input_set_id with instance_ids")
    if (
        not isinstance(instance_ids, list)
        or not instance_ids
        or not all(isinstance(i, str) and i for i in instance_ids)
    ):
        raise ApiError(400, "instance_ids must be a non-empty list of instance ids")
    input_set = _known_input_set(state, app_id, set_id)
    return [
        PlannedRun(input_id, instance_id, None, set_id, None, None, None, None)
        for instance_id in instance_ids
        for input_id in input_set.input_ids
    ]


def _planned(i: int, entry: Any, default_set: Any) -> PlannedRun:
    where = f"runs[{i}]"
    if not isinstance(entry, dict):
        raise ApiError(400, f"{where} must be an object")
    fields = {}
    for key in ("input_id", "instance_id", "version_id", "input_set_id", "option_set"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or not value):
            raise ApiError(400, f"{where}.{key} must be a non-empty string")
        fields[key] = value
    if fields["input_id"] is None:
        raise ApiError(400, f"{where}.input_id is required")
    if fields["instance_id"] is None and fields["version_id"] is None:
        raise ApiError(400, f"{where} needs an instance_id or a version_id")
    repetition = entry.get("repetition")
    if repetition is not None and (isinstance(repetition, bool) or not isinstance(repetition, int)):
        raise ApiError(400, f"{where}.repetition must be a whole number")
    scenario, number = entry.get("scenario_id"), entry.get("run_number")
    return PlannedRun(
        input_id=fields["input_id"],
        instance_id=fields["instance_id"],
        version_id=fields["version_id"],
        input_set_id=fields["input_set_id"] or default_set,
        option_set=fields["option_set"],
        scenario_id=str(scenario) if scenario is not None else None,
        repetition=repetition,
        run_number=str(number) if number is not None else None,
    )


def _known_input_set(state: EmulatorState, app_id: str, set_id: Any) -> InputSet:
    found = state.experiments.input_sets.get((app_id, str(set_id)))
    if not isinstance(set_id, str) or found is None:
        raise ApiError(404, f"input set {set_id!r} not found")
    return found


def _check_planned(
    state: EmulatorState,
    app_id: str,
    p: PlannedRun,
    option_sets: dict[str, dict[str, str]] | None,
) -> None:
    """404 naming an unknown input set, input, instance or version; 400 for an option set
    the experiment does not define."""
    if p.input_set_id is not None:
        _known_input_set(state, app_id, p.input_set_id)
    if state.inputs.get(app_id, p.input_id) is None and state.store.get(app_id, p.input_id) is None:
        raise ApiError(404, f"input {p.input_id!r} not found (neither a managed input nor a run)")
    if p.option_set is not None and p.option_set not in (option_sets or {}):
        raise ApiError(400, f"option set {p.option_set!r} is not in option_sets")
    app = state.apps.app_for_runs(app_id, create=False)
    if p.instance_id is not None:
        state.apps.resolve(app, p.instance_id)
    elif app is None:
        raise ApiError(404, f"version {p.version_id!r} not found in application {app_id!r}")
    else:
        state.apps.resolve_version(app, str(p.version_id))


async def _start_runs(state: EmulatorState, batch: BatchExperiment, content_type: Any) -> None:
    managed = _input_lookup(state, batch.app_id)
    for p in batch.planned:
        body: dict[str, Any] = {
            "input_id": p.input_id,
            "options": dict((batch.option_sets or {}).get(p.option_set or "", {})),
        }
        if content_type is not None:
            body["configuration"] = {"format": {"input": {"type": content_type}}}
        run = await state.create_run(
            batch.app_id,
            json_bytes(body),
            p.instance_id,
            version_id=None if p.instance_id else p.version_id,
            managed=managed,
        )
        run.experiment = ExperimentTag(
            experiment_id=batch.id,
            experiment_type=batch.type,
            input_id=p.input_id,
            input_set_id=p.input_set_id,
            option_set=p.option_set,
            scenario_id=p.scenario_id,
            repetition=p.repetition,
        )
        batch.run_ids.append(run.id)
    state.experiments.runs_created += len(batch.run_ids)


def _input_lookup(state: EmulatorState, app_id: str) -> ManagedLookup:
    """Inputs of experiment runs: a managed input, or the input of an earlier run."""
    managed = lookup(state.inputs, state.storage, app_id)

    async def read(input_id: Any, input_type: str | None) -> tuple[str, StoredInput]:
        source = state.store.get(app_id, input_id) if isinstance(input_id, str) else None
        if source is None or state.inputs.get(app_id, input_id) is not None:
            return await managed(input_id, input_type)
        key = source.input_key or f"inputs/run-{source.id}/input.json"
        if not state.storage.exists(key):
            state.storage.put_bytes(key, json_bytes(source.inline_input))
        kind = input_type or source.input_type
        digest, files, failure = await read_object(state.storage.path(key), kind)
        return kind, StoredInput(key, state.storage.size(key), digest, files, failure)

    return read


async def _batch_wire(
    state: EmulatorState, batch: BatchExperiment, *, full: bool
) -> dict[str, Any]:
    """BatchExperiment (full) or BatchExperimentMetadata; the summaries once complete."""
    now = time.monotonic()
    statuses = experiment_results.run_statuses(state, batch, now)
    status = experiments.status_of(statuses)
    out: dict[str, Any] = {
        "id": batch.id,
        "app_id": batch.app_id,
        "name": batch.name,
        "description": batch.description,
        "type": batch.type,
        "status": status,
        "created_at": views.iso(batch.created),
        "updated_at": views.iso(batch.updated),
        "number_of_requested_runs": len(batch.planned),
        "number_of_runs": len(batch.run_ids),
        "number_of_completed_runs": sum(s in TERMINAL for s in statuses),
        "option_sets": batch.option_sets,
    }
    if full:
        out["input_set_id"] = batch.input_set_id
        out["instance_ids"] = batch.instance_ids
        if status != "started":
            summaries = await experiment_results.summaries(state, batch, now)
            out["grouped_distributional_summaries"] = summaries
    return out


async def list_batches(request: web.Request) -> web.StreamResponse:
    """`type=batch` or `type=scenario` keeps that kind (as the SDK's two listings ask)."""
    state, app_id = _state(request), _app_id(request)
    kind = request.query.get("type")
    batches = [
        b
        for b in experiments.in_app(state.experiments.batches, app_id)
        if kind is None or b.type == kind
    ]
    return _listing(request, [await _batch_wire(state, b, full=False) for b in batches])


async def get_batch(request: web.Request) -> web.StreamResponse:
    return json_response(await _batch_wire(_state(request), _batch(request), full=True))


async def batch_metadata(request: web.Request) -> web.StreamResponse:
    return json_response(await _batch_wire(_state(request), _batch(request), full=False))


async def batch_runs(request: web.Request) -> web.StreamResponse:
    state, batch = _state(request), _batch(request)
    now = time.monotonic()
    runs = [r for r in experiment_results.runs_of(state, batch) if r is not None]
    return json_response({"runs": [views.list_item(r, now) for r in runs]})


async def update_batch(request: web.Request) -> web.StreamResponse:
    state, batch = _state(request), _batch(request)
    body = read_json_body(await request.read())
    batch.name, batch.description = _names(batch, body)
    batch.updated = time.time()
    return json_response(await _batch_wire(state, batch, full=False))


async def delete_batch(request: web.Request) -> web.StreamResponse:
    state, batch = _state(request), _batch(request)
    if (batch.app_id, batch.id) in state.experiments.acceptance:
        raise ApiError(
            409, f"batch experiment {batch.id!r} is acceptance test {batch.id!r}: delete that"
        )
    _forget_batch(state, batch)
    return json_response({})


def _forget_batch(state: EmulatorState, batch: BatchExperiment) -> None:
    """The experiment and its runs (an unfinished one is canceled first)."""
    now = time.monotonic()
    for run in experiment_results.runs_of(state, batch):
        if run is None:
            continue
        if run.cancel(now):
            state.commands.kill(run)
        state.forget(run)
    del state.experiments.batches[(batch.app_id, batch.id)]


# -- acceptance tests -------------------------------------------------------------------------


def _acceptance(request: web.Request) -> AcceptanceTest:
    return _found(request, _state(request).experiments.acceptance, "test_id", "acceptance test")


async def create_acceptance(request: web.Request) -> web.StreamResponse:
    """An acceptance test on an existing batch experiment with the same id."""
    state, app_id = _state(request), _app_id(request)
    body = read_json_body(await request.read())
    metrics = acceptance.check_metrics(body.get("metrics"))
    experiment_id = body.get("experiment_id")
    if not isinstance(experiment_id, str) or not experiment_id:
        raise ApiError(400, "experiment_id is required: the batch experiment to judge")
    test_id = body.get("id") or experiment_id
    if test_id != experiment_id:
        raise ApiError(400, "an acceptance test has the id of its batch experiment")
    if (app_id, test_id) in state.experiments.acceptance:
        raise ApiError(409, f"acceptance test {test_id!r} already exists")
    batch = state.experiments.batches.get((app_id, experiment_id))
    if batch is None:
        raise ApiError(404, f"batch experiment {experiment_id!r} not found")
    control = _side(state, app_id, batch, body, "control")
    candidate = _side(state, app_id, batch, body, "candidate")
    now = time.time()
    test = AcceptanceTest(
        id=test_id,
        app_id=app_id,
        name=text_field(body, "name") or test_id,
        description=text_field(body, "description"),
        experiment_id=experiment_id,
        control=control,
        candidate=candidate,
        metrics=metrics,
        created=now,
        updated=now,
    )
    state.experiments.acceptance[(app_id, test_id)] = test
    return json_response(await _acceptance_wire(state, test))


def _side(
    state: EmulatorState, app_id: str, batch: BatchExperiment, body: dict[str, Any], side: str
) -> dict[str, str]:
    """{instance_id, version_id} of the control or the candidate: a known instance with runs
    in the experiment."""
    raw = body.get(side)
    instance_id = raw.get("instance_id") if isinstance(raw, dict) else None
    if not isinstance(instance_id, str) or not instance_id:
        raise ApiError(400, f"{side}.instance_id is required")
    app = state.apps.app_for_runs(app_id, create=False)
    target = state.apps.resolve(app, instance_id)
    if instance_id not in batch.instance_ids:
        raise ApiError(
            400, f"{side} instance {instance_id!r} has no run in batch experiment {batch.id!r}"
        )
    return {"instance_id": instance_id, "version_id": target.version_id}


async def _acceptance_wire(state: EmulatorState, test: AcceptanceTest) -> dict[str, Any]:
    """The SDK's AcceptanceTest; `results` once its batch experiment has finished."""
    batch = state.experiments.batches[(test.app_id, test.experiment_id)]
    now = time.monotonic()
    status = experiments.status_of(experiment_results.run_statuses(state, batch, now))
    if status != "started" and test.results is None:
        test.results = await _results(state, test, batch, status, now)
    return {
        "id": test.id,
        "app_id": test.app_id,
        "name": test.name,
        "description": test.description,
        "experiment_id": test.experiment_id,
        "control": dict(test.control),
        "candidate": dict(test.candidate),
        "metrics": test.metrics,
        "status": status,
        "results": test.results,
        "created_at": views.iso(test.created),
        "updated_at": views.iso(test.updated),
    }


async def _results(
    state: EmulatorState, test: AcceptanceTest, batch: BatchExperiment, status: str, now: float
) -> dict[str, Any]:
    if status != "completed":
        return {"passed": False, "error": f"the batch experiment {status}: no run succeeded"}
    found = await experiment_results.records(state, batch, now)
    versions = {
        "control": experiments.version_used(
            found, test.control["instance_id"], test.control["version_id"]
        ),
        "candidate": experiments.version_used(
            found, test.candidate["instance_id"], test.candidate["version_id"]
        ),
    }
    return experiments.acceptance_results(test, found, versions)


async def list_acceptance(request: web.Request) -> web.StreamResponse:
    state, app_id = _state(request), _app_id(request)
    tests = experiments.in_app(state.experiments.acceptance, app_id)
    return _listing(request, [await _acceptance_wire(state, t) for t in tests])


async def get_acceptance(request: web.Request) -> web.StreamResponse:
    return json_response(await _acceptance_wire(_state(request), _acceptance(request)))


async def update_acceptance(request: web.Request) -> web.StreamResponse:
    state, test = _state(request), _acceptance(request)
    body = read_json_body(await request.read())
    test.name, test.description = _names(test, body)
    test.updated = time.time()
    return json_response(await _acceptance_wire(state, test))


async def delete_acceptance(request: web.Request) -> web.StreamResponse:
    """The test and its batch experiment, with the experiment's runs."""
    state, test = _state(request), _acceptance(request)
    del state.experiments.acceptance[(test.app_id, test.id)]
    batch = state.experiments.batches.get((test.app_id, test.experiment_id))
    if batch is not None:
        _forget_batch(state, batch)
    return json_response({})
