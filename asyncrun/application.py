"""AsyncApplication: the Nextmv run API of one application (new_run, polling, results, ...).

Bodies, paths and queries are the official SDK's for the same call; what differs is safety:
ids are validated and URL-escaped, an unsupported input raises instead of sending null, the
body is serialised once, and a large output costs 2 requests after polling instead of 5.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Mapping,
    Sequence,
)
from datetime import datetime
from os import PathLike, fspath
from pathlib import Path
from typing import Any
from urllib.parse import quote

from asyncrun import payload
from asyncrun._answers import loads as _loads
from asyncrun._answers import model_pages
from asyncrun._answers import parse as _parse
from asyncrun._input_shaping import (
    configuration_wire,
    directory_input,
    options_dict,
    prepare_input,
    run_configuration,
)
from asyncrun._json import compact_encoder
from asyncrun._reachability import Reachability
from asyncrun._types import Clock, Sleep
from asyncrun.apps.management import ApplicationManagement
from asyncrun.batch import runner as batch_runner
from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.interrupts import Interrupt
from asyncrun.batch.outcome import RunOutcome
from asyncrun.batch.reconcile import SUBMIT_MARGIN
from asyncrun.config import Bucket, Limits, Timeouts
from asyncrun.errors import (
    AmbiguousSubmitError,
    APIError,
    ConfigError,
    InputError,
    PollingTimeoutError,
    RunCanceledError,
    RunFailedError,
)
from asyncrun.experiments import ExperimentsMixin
from asyncrun.managed_inputs import ManagedInputsMixin, validate_input_id
from asyncrun.models import (
    ContentFormat,
    ManagedInput,
    Run,
    RunConfiguration,
    RunInformation,
    RunListing,
    RunLog,
    RunResult,
    RunsPage,
    RunType,
    StatusV2,
    UploadURL,
)
from asyncrun.polling import PollingOptions, poll
from asyncrun.run_data import RunDataMixin, one_of
from asyncrun.transport import Transport

__all__ = ["AsyncApplication", "validate_app_id", "validate_run_id"]

logger = logging.getLogger("asyncrun")

INLINE_LIMIT = payload.INLINE_LIMIT
"""JSON inputs and outputs strictly larger than this go through presigned URLs (the SDK's rule)."""
CONSOLE_URL = "https://cloud.nextmv.io"

_APP_ID = re.compile(r"[a-z0-9][a-z0-9.-]{1,28}[a-z0-9]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Characters quote() keeps as they are: an id made of these alone needs no escaping (run ids
# are; a result read of each run in flight skips the quoting).
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+")
_COMPACT = compact_encoder()


def _escaped(value: str) -> str:
    return value if _UNRESERVED.fullmatch(value) else quote(value, safe="")


def validate_app_id(app_id: str) -> str:
    """3-30 characters of [a-z0-9.-], not starting or ending with '.' or '-'."""
    if not isinstance(app_id, str) or not _APP_ID.fullmatch(app_id):
        raise ConfigError(
            f"invalid application id {app_id!r}: 3-30 characters of lowercase letters, digits, "
            "'.' and '-', not starting or ending with '.' or '-'"
        )
    return app_id


def validate_run_id(run_id: str) -> str:
    """Non-empty, no control characters (it is URL-escaped before use)."""
    if not isinstance(run_id, str) or not run_id or _CONTROL.search(run_id):
        raise ConfigError(f"invalid run id {run_id!r}: it must be a non-empty printable string")
    return run_id


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.astimezone()


class AsyncApplication(RunDataMixin, ManagedInputsMixin, ExperimentsMixin, ApplicationManagement):
    """The run API of one Nextmv application. Get one from `AsyncClient.application(app_id)`.

    Run input, output and live logs: run_data.py; managed inputs: managed_inputs.py; the app,
    version and instance calls, push and promote: apps/management.py; input sets, batch
    experiments, acceptance tests and scenario tests: experiments/.
    """

    def __init__(
        self,
        transport: Transport,
        app_id: str,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.id = validate_app_id(app_id)
        self._transport = transport
        self._base = f"v1/applications/{quote(app_id, safe='')}"
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    def __repr__(self) -> str:
        return f"AsyncApplication(id={self.id!r})"

    @property
    def limits(self) -> Limits:
        """The client's connection and rate limits (shared by all its applications)."""
        return self._transport.limits

    @property
    def timeouts(self) -> Timeouts:
        """The client's timeouts (a batch derives how long a POST may still land from them)."""
        return self._transport.timeouts

    @property
    def reachability(self) -> Reachability:
        """Whether the client's requests could connect lately (shared by its applications)."""
        return self._transport.reachability

    # ---------------------------------------------------------------- plumbing

    def _run_path(self, run_id: str, suffix: str = "") -> str:
        return f"{self._base}/runs/{_escaped(validate_run_id(run_id))}{suffix}"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        bucket: Bucket = "general",
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotent: bool = True,
        express: bool = False,
    ) -> bytes:
        resp = await self._transport.request(
            method,
            path,
            bucket=bucket,
            idempotent=idempotent,
            params=params,
            body=body,
            express=express,
        )
        return resp.body

    # ---------------------------------------------------------------- submitting

    async def new_run(
        self,
        input: Any = None,
        instance_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        upload_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        configuration: RunConfiguration | Mapping[str, Any] | None = None,
        batch_experiment_id: str | None = None,
        *,
        dir_path: str | PathLike[str] | None = None,
        input_dir_path: str | PathLike[str] | None = None,
        managed_input_id: str | None = None,
        compresslevel: int = payload.DEFAULT_COMPRESSLEVEL,
    ) -> str:
        """Submit a run; return its id.

        `input`: dict / list / pydantic model / str / Input; or pass `upload_id=` of an input
        already uploaded. JSON over 5 MiB and all text input go through a presigned upload.
        `options` values that are not str are JSON-encoded. Without a `configuration` the
        input/output format is filled in as the SDK does. POST runs is never retried once it may
        have reached the server: then AmbiguousSubmitError (with `run_name=name`) is raised.

        `dir_path=` (or an Input in the multi-file / csv-archive format whose data is a
        directory path) packs the directory as tar.gz (gzip `compresslevel`, 1 by default) in a
        worker thread, uploads it and runs it as multi-file (csv-archive for that format).
        `input_dir_path` is the SDK's spelling of `dir_path`.

        `managed_input_id=` (or `input=` a ManagedInput) runs a managed input: nothing is
        uploaded, the body names it with `input_id`. Without a `configuration` the format is
        the managed input's (a ManagedInput carries it; an id costs one GET, as in the SDK).
        """
        dir_path = one_of(dir_path, input_dir_path, "dir_path", "input_dir_path")
        opts = options_dict(options)
        input_id: str | None = None
        inline: str | None = None
        if isinstance(input, ManagedInput) or managed_input_id is not None:
            if (input is not None and managed_input_id is not None) or upload_id or dir_path:
                raise ConfigError("a managed input is the run's whole input: give no other input")
            managed = input if isinstance(input, ManagedInput) else managed_input_id
            input_id, config = await self._managed_source(managed, configuration)
        else:
            inline, upload_id, config = await self._input_source(
                input, upload_id, dir_path, configuration, compresslevel
            )
        body = self._run_body(
            inline=inline,
            upload_id=upload_id or None,
            input_id=input_id,
            name=name,
            description=description,
            options=opts,
            configuration=config,
            batch_experiment_id=batch_experiment_id,
        )
        return await self._post_run(body, name, instance_id, config)

    async def _input_source(
        self,
        input: Any,
        upload_id: str | None,
        dir_path: str | PathLike[str] | None,
        configuration: RunConfiguration | Mapping[str, Any] | None,
        compresslevel: int,
    ) -> tuple[str | None, str | None, RunConfiguration]:
        """(inline JSON, upload id, configuration) of a run's input, uploaded when needed."""
        if dir_path is not None and (input is not None or upload_id):
            raise ConfigError("give dir_path= or input= / upload_id=, not both")
        if input is None and not upload_id and dir_path is None:
            raise InputError("no input: pass input=, dir_path=, upload_id= or managed_input_id=")
        directory = directory_input(input, dir_path)
        prepared = prepare_input(input) if input is not None and directory is None else None
        fmt = directory[1] if directory else prepared.format if prepared else ContentFormat.json
        config = run_configuration(configuration, fmt)
        if directory is not None:
            upload_id = await self._upload_directory(directory[0], compresslevel)
        elif not upload_id and prepared is not None and prepared.upload is not None:
            upload_id = await self._upload_bytes(prepared.upload)
        inline = None if upload_id else (prepared.inline if prepared else None)
        return inline, upload_id, config

    async def _managed_source(
        self,
        managed: ManagedInput | str | None,
        configuration: RunConfiguration | Mapping[str, Any] | None,
    ) -> tuple[str, RunConfiguration]:
        """(input id, configuration) of a run of a managed input: without a configuration the
        format is the managed input's (an id is looked up once for it, as the SDK does)."""
        if managed is None:
            raise ConfigError("managed_input_id must not be None")
        if configuration is not None:
            input_id = managed.id if isinstance(managed, ManagedInput) else managed
            return validate_input_id(input_id), run_configuration(configuration, ContentFormat.json)
        if not isinstance(managed, ManagedInput):
            managed = await self.managed_input(managed)
        config = run_configuration(None, ContentFormat.json)
        if managed.format is not None:
            config = RunConfiguration(format=managed.format)
        return managed.id, config

    async def _post_run(
        self, body: bytes, name: str | None, instance_id: str | None, config: RunConfiguration
    ) -> str:
        """POST runs, never retried once it may have reached the server."""
        params = {"instance_id": instance_id} if instance_id and not config.is_ensemble() else None
        try:
            raw = await self._call(
                "POST",
                f"{self._base}/runs",
                bucket="create",
                params=params,
                body=body,
                idempotent=False,
            )
        except AmbiguousSubmitError as exc:
            raise AmbiguousSubmitError(
                exc.message, run_name=name, method=exc.method, url=exc.url
            ) from None
        answer = _loads(raw, "new_run")
        if not isinstance(answer, dict) or not isinstance(answer.get("run_id"), str):
            raise APIError("new_run: the answer has no run_id")
        run_id: str = answer["run_id"]
        return run_id

    @staticmethod
    def _run_body(
        *,
        inline: str | None,
        upload_id: str | None,
        input_id: str | None = None,
        name: str | None,
        description: str | None,
        options: dict[str, str],
        configuration: RunConfiguration,
        batch_experiment_id: str | None,
    ) -> bytes:
        rest: dict[str, Any] = {}
        if input_id:
            rest["input_id"] = input_id
        if upload_id:
            rest["upload_id"] = upload_id
        if name is not None:
            rest["name"] = name
        if description is not None:
            rest["description"] = description
        if options:
            rest["options"] = options
        rest["configuration"] = configuration_wire(configuration)
        if batch_experiment_id is not None:
            rest["batch_experiment_id"] = batch_experiment_id
        tail = _COMPACT(rest)
        if inline is None:
            return tail.encode("utf-8")
        # Splice the already-serialised input in front: the input is serialised only once.
        return ('{"input":' + inline + "," + tail[1:]).encode("utf-8")

    async def _upload_input(
        self, input: Any, dir_path: str | PathLike[str] | None, compresslevel: int
    ) -> tuple[str, ContentFormat]:
        """Upload an input (as new_run would send it, always through an upload URL): its
        upload id and content format."""
        if (input is None) == (dir_path is None):
            raise ConfigError("give input= or dir_path=")
        directory = directory_input(input, dir_path)
        if directory is not None:
            return await self._upload_directory(directory[0], compresslevel), directory[1]
        prepared = prepare_input(input)
        data = prepared.upload if prepared.upload is not None else prepared.inline
        assert data is not None
        body = data if isinstance(data, bytes) else data.encode("utf-8")
        return await self._upload_bytes(body), prepared.format

    async def _upload_bytes(self, data: bytes) -> str:
        payload.check_upload_size(len(data), self.limits.upload_cap, "the input")
        return await self._upload(lambda: data, len(data))

    async def _upload_directory(self, directory: Path, compresslevel: int) -> str:
        # Imported here: aiohttp (the presigned transfers' client) only for a client that
        # uploads (upload_bodies.py).
        from asyncrun import upload_bodies

        cap = self.limits.upload_cap
        async with (
            payload.pack_directory(directory, compresslevel=compresslevel, max_size=cap) as tar,
            upload_bodies.open_file_body(tar, max_size=cap) as body,
        ):
            return await self._upload(lambda: body, body.size)

    async def _upload(self, body_factory: Callable[[], Any], size: int) -> str:
        """Upload URL requested right before the PUT; a fresh one after a 403 (payload.py)."""

        async def fresh_url() -> tuple[str, str]:
            target = await self.upload_url()
            return target.upload_id, target.upload_url

        async def put(url: str) -> None:
            await self._transport.put_presigned(url, body_factory, size)

        return await payload.upload_with_fresh_url(fresh_url, put)

    async def upload_url(self) -> UploadURL:
        """POST runs/uploadurl: a fresh upload id and presigned URL (valid about 15 minutes)."""
        raw = await self._call("POST", f"{self._base}/runs/uploadurl")
        return _parse(UploadURL, raw, "upload_url")

    # ---------------------------------------------------------------- reading

    async def run_metadata(self, run_id: str) -> RunInformation:
        """GET runs/{id}/metadata: status and sizes (the polling target)."""
        raw = await self._call("GET", self._run_path(run_id, "/metadata"))
        info = _parse(RunInformation, raw, "run_metadata")
        info.console_url = self._console_url(info.id)
        return info

    run_information = run_metadata

    async def run_result(
        self,
        run_id: str,
        *,
        info: RunInformation | None = None,
        output_dir: str | PathLike[str] | None = None,
        output_dir_path: str | PathLike[str] | None = None,
    ) -> RunResult:
        """GET runs/{id}: the result. Large or non-JSON outputs come through `?format=url`; a
        large JSON output is then downloaded and parsed. A non-JSON (multi-file) output is
        streamed to disk and extracted safely into `output_dir`; `output` becomes
        `{"output_dir": ..., "files": [member names]}` (None without an `output_dir`). `info`
        (metadata already fetched, e.g. while polling) saves the metadata request.
        `output_dir_path` is the SDK's spelling of `output_dir`."""
        output_dir = one_of(output_dir, output_dir_path, "output_dir", "output_dir_path")
        if info is None:
            info = await self.run_metadata(run_id)
        meta = info.metadata
        presigned = meta.output_type != ContentFormat.json or meta.output_size > INLINE_LIMIT
        raw = await self._call(
            "GET",
            self._run_path(run_id),
            bucket="result",
            params={"format": "url"} if presigned else None,
        )
        result = _parse(RunResult, raw, "run_result")
        result.console_url = self._console_url(result.id)
        run_type = result.metadata.run_type or meta.run_type
        if run_type is not None and run_type.run_type == RunType.ensemble:
            result.ensemble = _loads(
                await self._call("GET", self._run_path(run_id, "/ensemble")), "ensemble"
            )
        if presigned and meta.run_is_finalized() and meta.output_type == ContentFormat.json:
            result.output = await self._download_json(result.output)
        elif presigned and meta.run_is_finalized():
            result.output = await self._download_files(result.output, output_dir)
        return result

    async def run_result_direct(self, run_id: str, *, max_inline: int | None = None) -> RunResult:
        """GET runs/{id} with no metadata read first: for a run believed final whose output is
        expected to be small JSON, one request that serves as its final status and its result.
        A run not final yet comes back with its status and no output. A JSON output the answer
        leaves out for its size is then fetched through `?format=url`; a multi-file output is
        not (its metadata is in the answer: `run_result(run_id, info=answer, output_dir=...)`
        extracts it). `max_inline`: an answer over this many bytes is not read, and the result
        comes as `run_result` gets it (for callers that do not know the output's size yet)."""
        resp = await self._transport.request(
            "GET", self._run_path(run_id), bucket="result", idempotent=True, max_body=max_inline
        )
        if not resp.complete:
            return await self.run_result(run_id)
        result = _parse(RunResult, resp.body, "run_result")
        result.console_url = self._console_url(result.id)
        meta = result.metadata
        if (
            meta.run_is_finalized()
            and meta.output_type == ContentFormat.json
            and result.output is None
            and meta.output_size > INLINE_LIMIT
        ):
            return await self.run_result(run_id, info=result)
        return result

    async def _download_files(self, output: Any, output_dir: str | PathLike[str] | None) -> Any:
        url = output.get("url") if isinstance(output, dict) else None
        if not isinstance(url, str):
            return output
        if output_dir is None:
            logger.info("multi-file output not downloaded: pass output_dir= to extract it")
            return None
        cap = self.limits.output_cap
        async with self._transport.stream_presigned(url) as chunks:
            names = await payload.download_and_extract(chunks, output_dir, max_size=cap)
        return {"output_dir": fspath(output_dir), "files": names}

    async def _download_bytes(self, output: Any) -> bytes:
        url = output.get("url") if isinstance(output, dict) else None
        if not isinstance(url, str):
            raise APIError("the answer has no download url")
        async with self._transport.stream_presigned(url) as chunks:
            return await payload.read_stream(chunks, max_size=self.limits.output_cap)

    async def _download_json(self, output: Any) -> Any:
        url = output.get("url") if isinstance(output, dict) else None
        if not isinstance(url, str):
            return output
        cap = self.limits.output_cap
        async with self._transport.stream_presigned(url) as chunks:
            return await payload.read_json_stream(chunks, max_size=cap)

    async def run_logs(self, run_id: str) -> str:
        """GET runs/{id}/logs: the run's log text."""
        raw = await self._call("GET", self._run_path(run_id, "/logs"))
        return _parse(RunLog, raw, "run_logs").log

    async def cancel_run(self, run_id: str) -> None:
        """PATCH runs/{id}/cancel (retried like any idempotent call)."""
        await self._call("PATCH", self._run_path(run_id, "/cancel"))

    async def delete_run(self, run_id: str) -> None:
        """DELETE runs/{id}."""
        await self._call("DELETE", self._run_path(run_id))

    async def list_runs(self, status: StatusV2 | str | None = None) -> AsyncIterator[Run]:
        """The application's runs, newest first, page by page (`status` filters client-side,
        as in the SDK)."""
        path = f"{self._base}/runs"

        def fetch(params: dict[str, str]) -> Awaitable[bytes]:
            # Express: a page answers for 50 runs (a batch's sweep lists while it submits).
            return self._call("GET", path, params=params, express=True)

        async for page in model_pages(fetch, RunListing, "list_runs"):
            for run in page.runs:
                if status is None or run.status_v2 == status:
                    yield run

    async def list_runs_page(self, page_token: str | None = None) -> RunsPage:
        """One page of the application's runs (newest first, up to 50 on the cloud), reduced to
        id and status: what coalesced status reads need. Pass the page's `next_page_token` to
        get the next one; an empty token means the last page."""
        params = {"pagereturn": "true"}
        if page_token:
            params["pagetoken"] = page_token
        # Express: a page stands for up to 50 status reads; it must not queue behind submits.
        raw = await self._call("GET", f"{self._base}/runs", params=params, express=True)
        return _parse(RunsPage, raw, "list_runs")

    async def find_runs_by_name(
        self, name: str, *, created_after: datetime | None = None
    ) -> list[Run]:
        """Runs named `name` (for reconciling an ambiguous submit), newest first. With
        `created_after`, listing stops at the first older run."""
        found: list[Run] = []
        limit = _aware(created_after) if created_after is not None else None
        async for run in self.list_runs():
            if limit is not None and run.created_at is not None and _aware(run.created_at) < limit:
                break
            if run.name == name:
                found.append(run)
        return found

    # ---------------------------------------------------------------- polling

    async def run_metadata_with_polling(
        self,
        run_id: str,
        polling_options: PollingOptions | None = None,
        *,
        raise_on_failure: bool = False,
        first_poll_after: float | None = None,
    ) -> RunInformation:
        """Poll the metadata until the run is final (or `stop()` says stop: the last metadata).

        Failed and canceled runs are returned; with `raise_on_failure=True` they raise
        RunFailedError / RunCanceledError. Budgets out: PollingTimeoutError.
        """
        options = polling_options or PollingOptions()
        outcome = await poll(
            lambda: self.run_metadata(run_id),
            lambda info: info.metadata.run_is_finalized(),
            options,
            run_id=run_id,
            first_poll_after=first_poll_after,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
        )
        if outcome.value is None:
            raise PollingTimeoutError(
                f"polling of run {run_id} was stopped by stop() before the first poll",
                run_id=run_id,
            )
        if raise_on_failure:
            _raise_for_status(outcome.value)
        return outcome.value

    async def run_result_with_polling(
        self,
        run_id: str,
        polling_options: PollingOptions | None = None,
        *,
        raise_on_failure: bool = False,
        first_poll_after: float | None = None,
        output_dir: str | PathLike[str] | None = None,
        output_dir_path: str | PathLike[str] | None = None,
    ) -> RunResult:
        """Poll until the run is final, then fetch its result (metadata is not fetched twice);
        a multi-file output is extracted into `output_dir` (or the SDK's `output_dir_path`)."""
        output_dir = one_of(output_dir, output_dir_path, "output_dir", "output_dir_path")
        info = await self.run_metadata_with_polling(
            run_id,
            polling_options,
            raise_on_failure=raise_on_failure,
            first_poll_after=first_poll_after,
        )
        if not info.metadata.run_is_finalized():
            raise PollingTimeoutError(
                f"polling of run {run_id} was stopped by stop() before the run finished "
                f"(status {info.metadata.status_v2!s})",
                run_id=run_id,
                info=info,
            )
        return await self.run_result(run_id, info=info, output_dir=output_dir)

    async def new_run_with_result(
        self,
        input: Any = None,
        instance_id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        upload_id: str | None = None,
        options: Mapping[str, Any] | None = None,
        polling_options: PollingOptions | None = None,
        configuration: RunConfiguration | Mapping[str, Any] | None = None,
        batch_experiment_id: str | None = None,
        *,
        run_options: Mapping[str, Any] | None = None,
        raise_on_failure: bool = False,
        dir_path: str | PathLike[str] | None = None,
        input_dir_path: str | PathLike[str] | None = None,
        managed_input_id: str | None = None,
        compresslevel: int = payload.DEFAULT_COMPRESSLEVEL,
        output_dir: str | PathLike[str] | None = None,
        output_dir_path: str | PathLike[str] | None = None,
    ) -> RunResult:
        """new_run, then run_result_with_polling. `run_options` is the SDK's spelling of
        `options` (give one of them), as `input_dir_path` is of `dir_path` and
        `output_dir_path` of `output_dir`. A multi-file output is extracted into `output_dir`."""
        output_dir = one_of(output_dir, output_dir_path, "output_dir", "output_dir_path")
        if options is not None and run_options is not None:
            raise ConfigError("give options= or run_options=, not both")
        run_id = await self.new_run(
            input=input,
            instance_id=instance_id,
            name=name,
            description=description,
            upload_id=upload_id,
            options=options if options is not None else run_options,
            configuration=configuration,
            batch_experiment_id=batch_experiment_id,
            dir_path=dir_path,
            input_dir_path=input_dir_path,
            managed_input_id=managed_input_id,
            compresslevel=compresslevel,
        )
        return await self.run_result_with_polling(
            run_id, polling_options, raise_on_failure=raise_on_failure, output_dir=output_dir
        )

    # ---------------------------------------------------------------- batches

    def run_batch(
        self,
        scenarios: Iterable[Any] | AsyncIterable[Any],
        *,
        max_in_flight: int = 100,
        journal: str | PathLike[str] | None = None,
        on_interrupt: Interrupt = "detach",
        batch_tag: str | None = None,
        polling_options: PollingOptions | None = None,
        output_dir: str | PathLike[str] | None = None,
        adaptive_polling: bool = True,
        cancel_deadline: float = 30.0,
        unreachable_after: float = 30.0,
        command: Sequence[str] = (),
        counters: BatchCounters | None = None,
        fetch_results: bool = True,
        submit_margin: float = SUBMIT_MARGIN,
    ) -> AsyncGenerator[RunOutcome, None]:
        """Run many scenarios through this application; yield a RunOutcome as each run
        finishes. The arguments are asyncrun.run_batch's (this application is its `app`)."""
        return batch_runner.run_batch(
            self,
            scenarios,
            max_in_flight=max_in_flight,
            journal=journal,
            on_interrupt=on_interrupt,
            batch_tag=batch_tag,
            polling_options=polling_options,
            output_dir=output_dir,
            adaptive_polling=adaptive_polling,
            cancel_deadline=cancel_deadline,
            unreachable_after=unreachable_after,
            command=command,
            counters=counters,
            fetch_results=fetch_results,
            submit_margin=submit_margin,
        )

    async def run_batch_all(
        self,
        scenarios: Iterable[Any] | AsyncIterable[Any],
        *,
        max_in_flight: int = 100,
        journal: str | PathLike[str] | None = None,
        on_interrupt: Interrupt = "detach",
        batch_tag: str | None = None,
        polling_options: PollingOptions | None = None,
        output_dir: str | PathLike[str] | None = None,
        adaptive_polling: bool = True,
        cancel_deadline: float = 30.0,
        unreachable_after: float = 30.0,
        command: Sequence[str] = (),
        counters: BatchCounters | None = None,
        fetch_results: bool = True,
        submit_margin: float = SUBMIT_MARGIN,
    ) -> list[RunOutcome]:
        """run_batch, collected in the order of the scenarios."""
        return await batch_runner.run_batch_all(
            self,
            scenarios,
            max_in_flight=max_in_flight,
            journal=journal,
            on_interrupt=on_interrupt,
            batch_tag=batch_tag,
            polling_options=polling_options,
            output_dir=output_dir,
            adaptive_polling=adaptive_polling,
            cancel_deadline=cancel_deadline,
            unreachable_after=unreachable_after,
            command=command,
            counters=counters,
            fetch_results=fetch_results,
            submit_margin=submit_margin,
        )

    def _console_url(self, run_id: str) -> str:
        return f"{CONSOLE_URL}/app/{_escaped(self.id)}/run/{_escaped(run_id)}?view=details"


def _raise_for_status(info: RunInformation) -> None:
    status = info.metadata.status_v2
    if status == StatusV2.failed:
        detail = f": {info.metadata.error}" if info.metadata.error else ""
        raise RunFailedError(f"run {info.id} failed{detail}", run_id=info.id, info=info)
    if status == StatusV2.canceled:
        raise RunCanceledError(f"run {info.id} was canceled", run_id=info.id, info=info)
