"""Acceptance tests: a candidate instance against a control on named metrics, with the SDK's
calls awaited (nextmv 1.13 `cloud/application/_acceptance.py`): POST/GET/PATCH/DELETE
`{app}/experiments/acceptance[/{id}]`, on top of a batch experiment of the same id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from asyncrun._answers import parse
from asyncrun._metrics import check_metrics
from asyncrun.errors import APIError, ConfigError, NotFoundError
from asyncrun.experiments._core import (
    ExperimentsCore,
    create_once,
    dumps,
    entity_id,
    list_items,
    new_id,
    poll_experiment,
)
from asyncrun.experiments.batch_experiments import check_polling, to_runs, update_body
from asyncrun.experiments.models import AcceptanceTest, Metric
from asyncrun.polling import PollingOptions

__all__ = ["AcceptanceTestsMixin"]


def _path(app: ExperimentsCore, acceptance_test_id: str | None = None) -> str:
    base = f"{app._base}/experiments/acceptance"
    if acceptance_test_id is None:
        return base
    return f"{base}/{quote(entity_id('acceptance test', acceptance_test_id), safe='')}"


class AcceptanceTestsMixin:
    """Create, read, poll, list, update and delete acceptance tests (mixed into
    AsyncApplication)."""

    async def new_acceptance_test(
        self: ExperimentsCore,
        candidate_instance_id: str,
        baseline_instance_id: str,
        metrics: Sequence[Metric | Mapping[str, Any]],
        id: str | None = None,
        name: str | None = None,
        input_set_id: str | None = None,
        description: str | None = None,
    ) -> AcceptanceTest:
        """Compare `candidate_instance_id` against `baseline_instance_id` (the control) on
        `metrics`. With `input_set_id`, a batch experiment of both instances over the input set
        is created first (same id); without, `id` must name a batch experiment that exists.

        Refused before any request (ConfigError): bad ids, a metric list `check_metrics`
        refuses (the emulator's and the platform's rules: empty, no field, an unknown metric
        type, statistic, operator or tolerance type, a tolerance that is not a finite number),
        and no input_set_id without an id (a fresh id cannot name an existing experiment)."""
        entity_id("candidate instance", candidate_instance_id)
        entity_id("baseline instance", baseline_instance_id)
        checked = check_metrics(metrics)
        if input_set_id is None and not id:
            raise ConfigError(
                "give input_set_id (a batch experiment is created on it), or the id of an "
                "existing batch experiment as id"
            )
        test_id = new_id("acceptance test", id, "acceptance")
        name = name or test_id
        if input_set_id is None:
            await _existing_experiment(self, test_id)
        else:
            input_set = await self.input_set(input_set_id)
            runs = to_runs([candidate_instance_id, baseline_instance_id], input_set)
            created = await self.new_batch_experiment(
                name=name, description=description, id=test_id, runs=runs
            )
            if created != test_id:
                raise APIError(
                    f"new_acceptance_test: batch experiment {created!r} was created instead "
                    f"of {test_id!r}"
                )
        body: dict[str, Any] = {
            "candidate": {"instance_id": candidate_instance_id},
            "control": {"instance_id": baseline_instance_id},
            "metrics": [metric.to_dict() for metric in checked],
            "experiment_id": test_id,
            "name": name,
            "id": test_id,
        }
        if description is not None:
            body["description"] = description

        async def create() -> AcceptanceTest:
            raw = await self._call("POST", _path(self), body=dumps(body), idempotent=False)
            return parse(AcceptanceTest, raw, "new_acceptance_test")

        return await create_once(create, lambda: self.acceptance_test(test_id))

    async def acceptance_test(self: ExperimentsCore, acceptance_test_id: str) -> AcceptanceTest:
        """GET {app}/experiments/acceptance/{id}: its status and, once final, `results`."""
        raw = await self._call("GET", _path(self, acceptance_test_id))
        return parse(AcceptanceTest, raw, "acceptance_test")

    async def acceptance_test_with_polling(
        self: ExperimentsCore,
        acceptance_test_id: str,
        polling_options: PollingOptions | None = None,
    ) -> AcceptanceTest:
        """Poll until the test is final (completed, failed, draft, canceled, delete-failed);
        the last answer. Bounded by the options (a day by default; PollingTimeoutError) and
        cancellable."""
        check_polling(polling_options)
        entity_id("acceptance test", acceptance_test_id)
        return await poll_experiment(
            self,
            lambda: self.acceptance_test(acceptance_test_id),
            lambda test: test.status,
            polling_options,
            kind="acceptance test",
            experiment_id=acceptance_test_id,
        )

    async def new_acceptance_test_with_result(
        self: ExperimentsCore,
        candidate_instance_id: str,
        baseline_instance_id: str,
        metrics: Sequence[Metric | Mapping[str, Any]],
        id: str | None = None,
        name: str | None = None,
        input_set_id: str | None = None,
        description: str | None = None,
        polling_options: PollingOptions | None = None,
    ) -> AcceptanceTest:
        """`new_acceptance_test`, then `acceptance_test_with_polling`."""
        check_polling(polling_options)
        test = await AcceptanceTestsMixin.new_acceptance_test(
            self,
            candidate_instance_id,
            baseline_instance_id,
            metrics,
            id=id,
            name=name,
            input_set_id=input_set_id,
            description=description,
        )
        return await AcceptanceTestsMixin.acceptance_test_with_polling(
            self, test.id, polling_options
        )

    async def list_acceptance_tests(
        self: ExperimentsCore, no_pagination: bool = False
    ) -> list[AcceptanceTest]:
        """GET {app}/experiments/acceptance (every page)."""
        what = "list_acceptance_tests"
        return await list_items(
            self, _path(self), AcceptanceTest, what, no_pagination=no_pagination
        )

    async def update_acceptance_test(
        self: ExperimentsCore,
        acceptance_test_id: str,
        name: str | None = None,
        description: str | None = None,
    ) -> AcceptanceTest:
        """PATCH {app}/experiments/acceptance/{id} with the new name and/or description (one
        of them at least, as the SDK requires)."""
        path = _path(self, acceptance_test_id)
        raw = await self._call("PATCH", path, body=dumps(update_body(name, description)))
        return parse(AcceptanceTest, raw, "update_acceptance_test")

    async def delete_acceptance_test(self: ExperimentsCore, acceptance_test_id: str) -> None:
        """DELETE {app}/experiments/acceptance/{id} (with its batch experiment)."""
        await self._call("DELETE", _path(self, acceptance_test_id))


async def _existing_experiment(app: ExperimentsCore, experiment_id: str) -> None:
    try:
        await app.batch_experiment_metadata(experiment_id)
    except NotFoundError:
        raise ConfigError(
            f"batch experiment {experiment_id!r} does not exist: give input_set_id to create "
            "one for the acceptance test"
        ) from None
