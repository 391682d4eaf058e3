"""What a run holds besides its status: its input, its output, and its live logs.

`RunDataMixin` is part of `AsyncApplication` (the SDK's method names: `run_input`,
`run_output`, `run_logs_with_polling`; plus `run_logs_live`, an async iterator). Paths and
queries are the SDK's (GET runs/{id}/input, runs/{id}/output, runs/{id}/logs/live?since=...);
large or non-JSON bodies come through `?format=url` and are streamed as results are.
"""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator, Callable
from typing import Any

from asyncrun import payload
from asyncrun._answers import loads, parse
from asyncrun._app_core import AppCore, PathArg
from asyncrun._retry import is_transient
from asyncrun.config import Bucket
from asyncrun.errors import ConfigError
from asyncrun.models import (
    TERMINAL_STATUSES,
    ContentFormat,
    RunInformation,
    TimestampedRunLog,
    WireModel,
)
from asyncrun.polling import PollingOptions, backoff_delay, check_budget

__all__ = ["RunDataMixin", "one_of"]

_DIRECTORY_TYPES = frozenset({ContentFormat.multi_file, ContentFormat.csv_archive})


def one_of(first: Any, second: Any, name: str, alias: str) -> Any:
    """One argument given under either of its two names (the alias is the SDK's spelling)."""
    if first is not None and second is not None:
        raise ConfigError(f"give {name}= or {alias}=, not both")
    return first if first is not None else second


class _LivePage(WireModel):
    items: list[TimestampedRunLog] | None = None
    status_v2: str | None = None
    next_page_token: str | None = None
    next_available_in_seconds: float | None = None


class RunDataMixin:
    """Run input, run output and live logs (mixed into AsyncApplication)."""

    async def run_input(
        self: AppCore,
        run_id: str,
        *,
        info: RunInformation | None = None,
        output_dir: PathArg = None,
        output_dir_path: PathArg = None,
    ) -> Any:
        """GET runs/{id}/input: the run's input as it was sent. JSON comes back parsed, text as
        a str; a multi-file (or csv-archive) input is extracted into `output_dir` and comes back
        as `{"output_dir": ..., "files": [...]}` (None without an `output_dir`). Inputs over
        5 MiB come through `?format=url`. `info` (metadata already read) saves a request."""
        meta = (info or await self.run_metadata(run_id)).metadata
        kind = meta.input_type
        presigned = kind in _DIRECTORY_TYPES or meta.input_size > payload.INLINE_LIMIT
        target = one_of(output_dir, output_dir_path, "output_dir", "output_dir_path")
        return await _fetch(self, run_id, "/input", kind, presigned=presigned, target=target)

    async def run_output(
        self: AppCore,
        run_id: str,
        *,
        info: RunInformation | None = None,
        output_dir: PathArg = None,
        output_dir_path: PathArg = None,
    ) -> Any:
        """GET runs/{id}/output: the output alone (no metadata), also what a failed run wrote,
        as the SDK allows. Large or non-JSON outputs come through `?format=url`; a multi-file
        output is extracted into `output_dir` (`{"output_dir", "files"}`, None without one)."""
        meta = (info or await self.run_metadata(run_id)).metadata
        kind = meta.output_type
        presigned = kind != ContentFormat.json or meta.output_size > payload.INLINE_LIMIT
        if not meta.run_is_finalized():
            presigned = False  # the SDK's rule: nothing to download before the run ends
        target = one_of(output_dir, output_dir_path, "output_dir", "output_dir_path")
        return await _fetch(self, run_id, "/output", kind, presigned=presigned, target=target)

    async def run_logs_live(
        self: AppCore,
        run_id: str,
        polling_options: PollingOptions | None = None,
        *,
        since: str | None = None,
    ) -> AsyncIterator[TimestampedRunLog]:
        """Each new log line of a run as it is written, until the run ends:

        ```python
        async for entry in app.run_logs_live(run_id):
            print(entry.timestamp, entry.log)
        ```

        Polls GET runs/{id}/logs/live, following `next_page_token` (sent back as `since`) and
        waiting the server's `next_available_in_seconds` between polls (the backoff of
        `polling_options` when it gives none; never longer than `max_delay`). The options are
        read, never changed. `max_duration` / `max_tries` bound the wait (PollingTimeoutError);
        transient API errors are polled through for up to `max_unreachable` seconds.
        """
        options = polling_options or PollingOptions(initial_delay=0.0)
        path = self._run_path(run_id, "/logs/live")
        token = since
        await self._sleep(options.initial_delay)
        start = last_ok = self._clock()
        polls = 0
        while not (options.stop is not None and options.stop()):
            polls += 1
            hint: float | None = None
            try:
                raw = await self._call("GET", path, params={"since": token} if token else None)
            except Exception as exc:
                if not is_transient(exc) or self._clock() - last_ok >= options.max_unreachable:
                    raise
            else:
                last_ok = self._clock()
                page = parse(_LivePage, raw, "run_logs_live")
                for entry in page.items or []:
                    yield entry
                token = page.next_page_token or token
                if page.status_v2 in TERMINAL_STATUSES:
                    return
                hint = page.next_available_in_seconds
            elapsed = self._clock() - start
            check_budget(options, polls, elapsed, run_id, None)
            await self._sleep(_log_pause(options, polls, hint, elapsed, self._rng))

    async def run_logs_with_polling(
        self: AppCore,
        run_id: str,
        polling_options: PollingOptions | None = None,
        *,
        log_func: Callable[[TimestampedRunLog], None] | None = None,
    ) -> list[TimestampedRunLog]:
        """The SDK's call: every live log line until the run ends, sorted by timestamp;
        `log_func` sees each line as it comes. See `run_logs_live`."""
        lines: list[TimestampedRunLog] = []
        async for entry in RunDataMixin.run_logs_live(self, run_id, polling_options):
            if log_func is not None:
                log_func(entry)
            lines.append(entry)
        return sorted(lines, key=lambda e: (e.timestamp is None, e.timestamp))


async def _fetch(
    app: AppCore,
    run_id: str,
    suffix: str,
    kind: ContentFormat | str,
    *,
    presigned: bool,
    target: PathArg,
) -> Any:
    """GET runs/{id}/input or /output: inline (JSON parsed, text as str), or through
    `?format=url` (JSON parsed from the stream, text decoded, an archive extracted)."""
    bucket: Bucket = "result" if suffix == "/output" else "general"
    path = app._run_path(run_id, suffix)
    raw = await app._call(
        "GET", path, bucket=bucket, params={"format": "url"} if presigned else None
    )
    if not presigned:
        return raw.decode("utf-8") if kind == ContentFormat.text else loads(raw, suffix[1:])
    link = loads(raw, suffix[1:])
    if kind in _DIRECTORY_TYPES:
        return await app._download_files(link, target)
    if kind == ContentFormat.text:
        return (await app._download_bytes(link)).decode("utf-8")
    return await app._download_json(link)


def _log_pause(
    options: PollingOptions, polls: int, hint: float | None, elapsed: float, rng: random.Random
) -> float:
    """The server's hint when it gave one, else the backoff; capped by max_delay and by what
    is left of max_duration."""
    if hint is not None and math.isfinite(hint) and hint > 0:
        pause = min(hint, options.max_delay)
    else:
        pause = backoff_delay(options, polls, rng)
    if options.max_duration >= 0:
        pause = min(pause, max(0.0, options.max_duration - elapsed))
    return pause
