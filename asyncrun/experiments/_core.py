"""What the experiment mixins share: the application they are mixed into (a Protocol), ids
checked before any request, JSON bodies, paged lists, and the bounded, cancellable poll."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from asyncrun._answers import loads, model, pages
from asyncrun._app_core import AppCore
from asyncrun.apps.management import new_entity_id
from asyncrun.apps.models import Instance
from asyncrun.errors import (
    AmbiguousSubmitError,
    APIError,
    ConfigError,
    NotFoundError,
    PollingTimeoutError,
)
from asyncrun.experiments.models import (
    TERMINAL_EXPERIMENT_STATUSES,
    AcceptanceTest,
    BatchExperiment,
    BatchExperimentMetadata,
    BatchExperimentRun,
    ExperimentRun,
    InputSet,
)
from asyncrun.models import ManagedInput
from asyncrun.polling import PollingOptions, poll

__all__ = [
    "DEFAULT_EXPERIMENT_POLLING",
    "ExperimentsCore",
    "as_models",
    "create_once",
    "dumps",
    "entity_id",
    "is_finished",
    "list_items",
    "new_id",
    "poll_experiment",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NEW_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")

DEFAULT_EXPERIMENT_POLLING = PollingOptions(max_duration=24 * 3600.0)
"""The SDK's schedule, bounded: an experiment that never finishes stops the wait after a day
(the SDK's default would poll forever). Pass `polling_options=` to choose another bound."""


class ExperimentsCore(AppCore, Protocol):
    """The application as the experiment mixins see it: its plumbing (AppCore) and the calls
    of the other mixins they build on."""

    id: str

    async def instance(self, instance_id: str) -> Instance: ...

    async def input_set(self, input_set_id: str) -> InputSet: ...

    async def new_input_set(
        self,
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        end_time: Any = None,
        instance_id: str | None = None,
        maximum_runs: int | None = None,
        run_ids: list[str] | None = None,
        start_time: Any = None,
        inputs: Sequence[ManagedInput | Mapping[str, Any]] | None = None,
    ) -> InputSet: ...

    async def new_managed_input(
        self,
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        upload_id: str | None = None,
        run_id: str | None = None,
        format: Any = None,
        *,
        input: Any = None,
    ) -> ManagedInput: ...

    async def batch_experiment(self, batch_id: str) -> BatchExperiment: ...

    async def batch_experiment_runs(self, batch_id: str) -> list[ExperimentRun]: ...

    async def batch_experiment_metadata(self, batch_id: str) -> BatchExperimentMetadata: ...

    async def batch_experiment_with_polling(
        self, batch_id: str, polling_options: PollingOptions | None = None
    ) -> BatchExperiment: ...

    async def acceptance_test(self, acceptance_test_id: str) -> AcceptanceTest: ...

    async def new_batch_experiment(
        self,
        name: str | None = None,
        input_set_id: str | None = None,
        description: str | None = None,
        id: str | None = None,
        option_sets: Mapping[str, Mapping[str, str]] | None = None,
        runs: Sequence[BatchExperimentRun | Mapping[str, Any]] | None = None,
        type: str | None = "batch",
        content_type: str | None = None,
    ) -> str: ...


def entity_id(kind: str, value: object) -> str:
    """An id for a path: a non-empty printable string (URL-escaped by the caller)."""
    if not isinstance(value, str) or not value or _CONTROL.search(value):
        raise ConfigError(f"invalid {kind} id {value!r}: it must be a non-empty printable string")
    return value


def new_id(kind: str, value: str | None, prefix: str) -> str:
    """The id of an experiment entity to create: the given one, checked (1-100 letters,
    digits, '.', '_' or '-', starting with a letter or digit), else a fresh `prefix-...` one
    as the SDK's safe_id makes."""
    if not value:
        return new_entity_id(prefix)
    if not isinstance(value, str) or not _NEW_ID.fullmatch(value):
        raise ConfigError(
            f"invalid {kind} id {value!r}: 1-100 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        )
    return value


async def create_once(create: Callable[[], Awaitable[T]], lookup: Callable[[], Awaitable[T]]) -> T:
    """A create that is never sent twice: when its POST got no answer, the entity is looked up
    by the id the client chose. Found: it was created, here it is. Not found: the POST may
    still land, so the AmbiguousSubmitError is raised (a second POST of that id would be a 409,
    never a duplicate)."""
    try:
        return await create()
    except AmbiguousSubmitError as exc:
        try:
            return await lookup()
        except NotFoundError:
            raise exc from None


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


def as_models(kind: type[M], values: Sequence[M | Mapping[str, Any]], what: str) -> list[M]:
    """Each value as `kind` (a dict is validated): a wrong shape is a ConfigError, before any
    request."""
    result: list[M] = []
    for index, value in enumerate(values):
        if isinstance(value, kind):
            result.append(value)
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"{what}[{index}]: expected a {kind.__name__} or a dict")
        try:
            result.append(kind.model_validate(dict(value)))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConfigError(f"{what}[{index}] is not a {kind.__name__}: {problems}") from None
    return result


async def list_items(
    app: AppCore,
    path: str,
    kind: type[M],
    what: str,
    *,
    params: Mapping[str, str] | None = None,
    no_pagination: bool = False,
) -> list[M]:
    """Every item of a paged list (`items`, following `next_page_token`), as the SDK's
    `request_with_pagination` reads it; `no_pagination`: one plain GET whose answer is the
    list, as the SDK's `no_pagination=True`."""
    extra = dict(params or {})
    if no_pagination:
        answer = loads(await app._call("GET", path, params=params), what)
        if answer is None:
            return []
        if not isinstance(answer, list):
            raise APIError(f"{what}: the answer is not a list")
        return [model(kind, item, what) for item in answer]

    def fetch(page: dict[str, str]) -> Awaitable[bytes]:
        return app._call("GET", path, params={**extra, **page})

    return [
        model(kind, item, what) async for items in pages(fetch, "items", what) for item in items
    ]


def is_finished(status: object) -> bool:
    return status in TERMINAL_EXPERIMENT_STATUSES


async def poll_experiment(
    app: AppCore,
    fetch: Callable[[], Awaitable[T]],
    status_of: Callable[[T], object],
    options: PollingOptions | None,
    *,
    kind: str,
    experiment_id: str,
) -> T:
    """Fetch until the status is final (the SDK's terminal set). Bounded by the options'
    max_duration / max_tries (a day by default) and by max_unreachable; a `stop()` that ends
    it early, or a budget run out, is a PollingTimeoutError naming the experiment. Task
    cancellation goes through (the sleeps are plain awaits)."""
    try:
        outcome = await poll(
            fetch,
            lambda value: is_finished(status_of(value)),
            options or DEFAULT_EXPERIMENT_POLLING,
            run_id=experiment_id,
            clock=app._clock,
            sleep=app._sleep,
            rng=app._rng,
        )
    except PollingTimeoutError as exc:
        # The poll loop speaks of runs; say which experiment ran out of budget.
        message = str(exc).replace(f"run {experiment_id}", f"{kind} {experiment_id}", 1)
        raise PollingTimeoutError(message, run_id=experiment_id, info=exc.info) from None
    if not outcome.done:
        status = status_of(outcome.value) if outcome.value is not None else "not read"
        raise PollingTimeoutError(
            f"polling of {kind} {experiment_id} was stopped by stop() before it finished "
            f"(status {status!s})",
            run_id=experiment_id,
            info=outcome.value,
        )
    assert outcome.value is not None
    return outcome.value
