"""One upload per distinct input in a batch: inputs that go through an upload (a directory, a
text input, JSON over 5 MiB) become one managed input, and every run that uses the same input
names it (`input_id`) instead of uploading it again.

Sameness is decided without reading the bytes twice: an input file by its resolved path, size
and modification time; a directory by its resolved path; an in-memory input by the sha256 of
its serialised form. Each managed input gets a deterministic id (the batch tag and the source),
so its creation is exactly-once like a run's: the journal records it (a resumed batch does not
upload again), an unanswered POST is settled by reading that id, and a 409 means it exists.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from asyncrun._input_shaping import EncodedJson, compact_json
from asyncrun._retry import Failure, retry_transient, retrying
from asyncrun.batch.journal import Journal
from asyncrun.batch.protocol import BatchApplication
from asyncrun.batch.scenario import Scenario
from asyncrun.errors import (
    AmbiguousSubmitError,
    APIConnectionError,
    ConfigError,
    ConflictError,
    InputError,
    NotFoundError,
    ServerError,
)
from asyncrun.models import ManagedInput
from asyncrun.payload import INLINE_LIMIT
from asyncrun.polling import PollingOptions, backoff_delay

__all__ = ["SharedInputs", "input_id_for"]

logger = logging.getLogger("asyncrun")

_CREATE_ATTEMPTS = 4
_REMEMBERED = 1024
_UNCERTAIN = (AmbiguousSubmitError, ServerError, APIConnectionError)
Make = Callable[[], Awaitable[dict[str, Any]]]


def input_id_for(batch_tag: str, source: str) -> str:
    """The managed input id of one source of one batch: `in-` and 24 hex digits."""
    return "in-" + hashlib.sha256(f"{batch_tag}\n{source}".encode()).hexdigest()[:24]


class SharedInputs:
    """The managed inputs of one batch, created once each, on first use."""

    def __init__(
        self,
        app: BatchApplication,
        journal: Journal,
        *,
        batch_tag: str,
        polling: PollingOptions,
        rng: random.Random,
    ) -> None:
        self.app = app
        self.journal = journal
        self.tag = batch_tag
        self.polling = polling
        self.rng = rng
        self._pending: dict[str, asyncio.Task[ManagedInput]] = {}

    async def run_arguments(self, scenario: Scenario) -> dict[str, Any]:
        """Keyword arguments of new_run for a scenario: `input=` a ManagedInput when the input
        is one that is uploaded, else the input itself (small JSON stays inline)."""
        kwargs: dict[str, Any] = {
            "options": scenario.options or None,
            "instance_id": scenario.instance_id,
            "configuration": scenario.configuration,
        }
        if scenario.dir_path is not None:
            directory = scenario.dir_path
            source = f"dir:{await asyncio.to_thread(directory.resolve)}"
            kwargs["input"] = await self._shared(source, _directory(directory))
        elif scenario.input_file is not None:
            kwargs["input"] = await self._file_input(scenario.input_file)
        else:
            kwargs["input"] = await self._memory_input(scenario.input)
        return kwargs

    async def _file_input(self, path: Path) -> Any:
        source = await asyncio.to_thread(_file_source, path)
        if source is None:
            return await asyncio.to_thread(read_input_file, path)

        async def make() -> dict[str, Any]:
            return {"input": await asyncio.to_thread(read_input_file, path)}

        return await self._shared(source, make)

    async def _memory_input(self, value: Any) -> Any:
        if isinstance(value, str):
            data = value.encode("utf-8")
        elif isinstance(value, dict | list):
            try:
                text = compact_json(value)
            except InputError:
                return value  # not JSON: the client raises its own InputError for this input
            if len(text) <= INLINE_LIMIT:  # ASCII: as many bytes as characters
                return EncodedJson(text)  # serialised once: the client sends this text
            data = text.encode("utf-8")
        else:
            return value  # models and Input objects go as they are (the client shapes them)

        async def make() -> dict[str, Any]:
            return {"input": value}

        return await self._shared(f"data:{hashlib.sha256(data).hexdigest()}", make)

    async def _shared(self, source: str, make: Make) -> ManagedInput:
        """The managed input of `source`: one task per source, awaited by every run using it
        (shielded: one waiter's cancellation does not cancel it for the others)."""
        task = self._pending.get(source)
        if task is None or (task.done() and (task.cancelled() or task.exception() is not None)):
            # A failed creation is not kept: the next run of this source tries again.
            task = asyncio.ensure_future(self._obtain(source, make))
            task.add_done_callback(lambda done: self._settled(source, done))
            self._pending[source] = task
        return await asyncio.shield(task)

    def _settled(self, source: str, task: asyncio.Task[ManagedInput]) -> None:
        """A failed creation is forgotten (a later run of the source tries again); of the
        created ones the most recent `_REMEMBERED` stay in memory, the rest are read back
        from the journal when needed (memory stays bounded in a sweep of many inputs)."""
        if task.cancelled() or task.exception() is not None:
            if self._pending.get(source) is task:
                del self._pending[source]
            return
        done = [key for key, held in self._pending.items() if held.done()]
        for key in done[: max(0, len(done) - _REMEMBERED)]:
            del self._pending[key]

    async def aclose(self) -> None:
        """Cancel creations no run waits for any more (the batch was interrupted)."""
        unfinished = [task for task in self._pending.values() if not task.done()]
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)

    async def _obtain(self, source: str, make: Make) -> ManagedInput:
        recorded = await self.journal.input_of(source)
        if recorded is not None:
            return recorded
        input_id = input_id_for(self.tag, source)
        found = await self._existing(input_id)
        if found is None:
            found = await self._create(input_id, make)
        await self.journal.record_input(source, found)
        return found

    async def _existing(self, input_id: str) -> ManagedInput | None:
        async def read() -> ManagedInput | None:
            try:
                return await self.app.managed_input(input_id)
            except NotFoundError:
                return None

        return await retry_transient(read, attempts=_CREATE_ATTEMPTS, pause=self._pause)

    async def _create(self, input_id: str, make: Make) -> ManagedInput:
        """Upload and create; after an uncertain answer (or a 409: an earlier attempt's answer
        was lost), read the id before trying again."""
        kwargs = await make()

        async def once() -> ManagedInput | Failure:
            try:
                return await self.app.new_managed_input(input_id, **kwargs)
            except (ConflictError, *_UNCERTAIN) as exc:
                logger.info("creating managed input %s was uncertain (%s)", input_id, exc)
                found = await self._existing(input_id)
                return found if found is not None else Failure(exc, retryable=True)

        return await retrying(once, attempts=_CREATE_ATTEMPTS, pause=self._pause)

    async def _pause(self, attempt: int, failure: Failure) -> None:
        await asyncio.sleep(backoff_delay(self.polling, attempt + 1, self.rng))


def _file_source(path: Path) -> str | None:
    """The sharing key of an input file that is uploaded (None for small JSON, sent inline):
    its resolved path, size and modification time."""
    try:
        stat = path.stat()
    except OSError as exc:
        raise ConfigError(f"cannot read input file {str(path)!r}: {exc}") from None
    if path.suffix.lower() == ".json" and stat.st_size <= INLINE_LIMIT:
        return None
    return f"file:{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"


def _directory(path: Path) -> Make:
    async def make() -> dict[str, Any]:
        return {"dir_path": path}

    return make


def read_input_file(path: Path) -> Any:
    """An input file: a `.json` file parsed, anything else as text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read input file {str(path)!r}: {exc}") from None
    if path.suffix.lower() != ".json":
        return text
    try:
        return json.loads(text)
    except ValueError:
        raise ConfigError(f"input file {str(path)!r} is not valid JSON") from None
