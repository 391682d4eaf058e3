"""The batch journal: one SQLite file (WAL) that makes a batch resumable and submission
exactly-once.

One row per scenario key: state (pending, submitting, submitted, terminal), run id, final status,
result location, attempts, timestamps. A "submitting" row is committed before its POST is sent,
so after a crash the run is looked up by name instead of being submitted again.

Threading: a journal file's one connection lives in one worker thread, so the event loop never
waits for the disk. An in-memory journal (`path=None`) has no disk to wait for: it is written
in the event loop, where handing the GIL to a thread and back for every transaction cost more
than the writes. Group commit: changes queue up while the previous transaction is being
written and are committed together in the next one, so thousands of state changes cost a few
fsync-free commits (WAL with synchronous=NORMAL survives the death of the process, which is
what resume needs). Every operation returns an awaitable that completes once its transaction
has committed. Row writes are data (journal_writes.py): a transaction's writes of one kind
share one statement.

A journal with no scenarios when its session began (a new batch) answers claims from memory:
no earlier session can have a row, so the pending row is written without the event loop
waiting for it (the run's next write, before its POST, is waited for and commits after it).

One live process per journal: opening a journal file takes an OS lock on `<journal>.lock`
(journal_lock.py) for as long as it is open; a second opener gets JournalLockedError naming the
holder. `lock=False` opens it without the lock, to read it (`asyncrun status`).

The schema, migration and row type are in journal_schema.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from os import PathLike, fspath
from types import TracebackType
from typing import Any, TypeVar

from asyncrun._json import compact_encoder
from asyncrun.batch import journal_writes
from asyncrun.batch.journal_lock import Holder, JournalLock
from asyncrun.batch.journal_schema import (
    SCHEMA_VERSION,
    STATES,
    UPDATABLE_COLUMNS,
    JournalRow,
    State,
    command_of,
    connect,
    read_journal_meta,
    row_from_sql,
)
from asyncrun.errors import ConfigError
from asyncrun.models import ManagedInput

__all__ = [
    "SCHEMA_VERSION",
    "STATES",
    "Journal",
    "JournalRow",
    "State",
    "command_of",
    "read_journal_meta",
    "utc_now",
]

T = TypeVar("T")
logger = logging.getLogger("asyncrun")


def utc_now() -> datetime:
    return datetime.now(UTC)


# An operation: a function run on the connection, or row writes (one scenario's) to group.
_Op = tuple[
    Callable[[sqlite3.Connection], Any] | tuple[journal_writes.Write, ...], "asyncio.Future[Any]"
]


class Journal:
    """The journal of one batch. `path=None` keeps it in memory (no resume, same behaviour).

    ```python
    async with Journal("sweep.db") as journal:
        tag, session = await journal.begin(app_id="my-app", batch_tag=None, command=[...])
    ```
    """

    def __init__(self, path: str | PathLike[str] | None, *, lock: bool = True) -> None:
        self.path = fspath(path) if path is not None else None
        self._lock = JournalLock(self.path) if self.path is not None and lock else None
        # When this process opened the journal, and what the lock file said about the last
        # process that held it (None: never locked, e.g. a journal of an older asyncrun).
        self.opened_at = utc_now()
        self.previous_holder: Holder | None = None
        self._open = False
        self._executor: ThreadPoolExecutor | None = None  # a journal file's thread
        self._conn: sqlite3.Connection | None = None
        self._queue: list[_Op] = []
        self._flusher: asyncio.Task[None] | None = None
        self.session = 0
        self.commits = 0
        # Claims answered from memory (see the module's docstring): the keys claimed so far.
        self._fresh = False
        self._claimed: set[str] = set()

    def __repr__(self) -> str:
        return f"Journal(path={self.path!r})"

    @property
    def fresh(self) -> bool:
        """Whether the journal had no scenario when this session began: no earlier process
        can have sent a POST for it."""
        return self._fresh

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> Journal:
        if self._open:
            raise ConfigError("this journal is already open")
        self._open = True
        if self.path is not None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="asyncrun-journal")
        try:
            self._conn = await self._in_thread(self._locked_connect)
        except BaseException:
            self._open = False
            executor, self._executor = self._executor, None
            if executor is not None:
                executor.shutdown(wait=False)
            raise
        return self

    def _locked_connect(self) -> sqlite3.Connection:
        self.opened_at = utc_now()
        if self._lock is not None:
            self.previous_holder = self._lock.acquire(self.opened_at)
        try:
            return self._connect()
        except BaseException:
            if self._lock is not None:
                self._lock.release(utc_now())
            raise

    def _connect(self) -> sqlite3.Connection:
        return connect(self.path, create=self._lock is not None or self.path is None)

    async def __aenter__(self) -> Journal:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Commit what is queued, then close the connection and stop the thread."""
        if not self._open:
            return
        try:
            # Shielded: a cancelled caller must still not lose the changes already queued.
            await asyncio.shield(self._drain())
        finally:
            self._open = False
            conn, self._conn = self._conn, None
            executor, self._executor = self._executor, None
            if executor is None:
                self._disconnect(conn)
            else:
                await asyncio.shield(
                    asyncio.get_running_loop().run_in_executor(executor, self._disconnect, conn)
                )
                executor.shutdown(wait=True)

    def _disconnect(self, conn: sqlite3.Connection | None) -> None:
        try:
            if conn is not None:
                conn.close()
        finally:
            if self._lock is not None:
                self._lock.release(utc_now())

    async def _drain(self) -> None:
        while self._flusher is not None and not self._flusher.done():
            await asyncio.wait({self._flusher})

    # ------------------------------------------------------------------ group commit

    async def _in_thread(self, fn: Callable[[], T]) -> T:
        if not self._open:
            raise ConfigError("the journal is not open")
        if self._executor is None:  # in memory: nothing to wait for
            return fn()
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _submit(
        self, fn: Callable[[sqlite3.Connection], T] | tuple[journal_writes.Write, ...]
    ) -> asyncio.Future[T]:
        """Queue an operation for the next transaction; the future completes after its commit."""
        if not self._open:
            raise ConfigError("the journal is not open")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((fn, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush_loop())
        return future

    async def _flush_loop(self) -> None:
        while self._queue:
            # One turn of the loop first: every task that is ready adds its change to this
            # transaction instead of the next one.
            await asyncio.sleep(0)
            batch, self._queue = self._queue, []
            try:
                results = await self._in_thread(lambda b=batch: self._apply(b))  # type: ignore[misc]
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.commits += 1
            for (_, future), (ok, value) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _apply(self, batch: list[_Op]) -> list[tuple[bool, Any]]:
        """One transaction for the whole batch (worker thread). Row writes are grouped by
        statement in layers: a key's first write in the first layer, its second in the next
        (it must follow the first), and so on; a function first applies everything queued
        before it."""
        conn = self._conn
        assert conn is not None
        now = utc_now().isoformat()
        results: list[tuple[bool, Any]] = [(True, None)] * len(batch)
        layers: list[dict[journal_writes.Statement, list[tuple[int, tuple[Any, ...]]]]] = []
        depth: dict[str, int] = {}

        def write_layers() -> None:
            for groups in layers:
                for index, exc in journal_writes.apply(conn, groups, now).items():
                    results[index] = (False, exc)
            layers.clear()
            depth.clear()

        conn.execute("BEGIN IMMEDIATE")
        try:
            for index, (op, _) in enumerate(batch):
                if not isinstance(op, tuple):
                    write_layers()
                    try:
                        results[index] = (True, op(conn))
                    except (sqlite3.Error, ValueError, ConfigError) as exc:
                        results[index] = (False, exc)
                    continue
                key = op[0][1][0]
                layer = depth.get(key, 0)
                depth[key] = layer + 1
                if layer == len(layers):
                    layers.append({})
                groups = layers[layer]
                for statement, values in op:
                    groups.setdefault(statement, []).append((index, values))
            write_layers()
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return results

    async def flush(self) -> None:
        """Wait until everything queued so far has committed."""
        await self._submit(lambda conn: None)

    # ------------------------------------------------------------------ operations

    async def begin(
        self, *, app_id: str, batch_tag: str | None, default_tag: str, command: Iterable[str] = ()
    ) -> str:
        """Start a session of this journal: check it belongs to `app_id`, return its batch tag
        (stored on first use: `batch_tag`, else `default_tag`) and bump the session number that
        tells this run's scenarios from an earlier run's."""

        def op(conn: sqlite3.Connection) -> tuple[str, int, bool]:
            meta = {r["name"]: r["value"] for r in conn.execute("SELECT name, value FROM meta")}
            if meta.get("app_id", app_id) != app_id:
                raise ConfigError(
                    f"journal {self.path!r} belongs to application {meta['app_id']!r}, "
                    f"not {app_id!r}"
                )
            tag = meta.get("batch_tag") or batch_tag or default_tag
            if batch_tag is not None and batch_tag != tag:
                raise ConfigError(f"journal {self.path!r} has batch tag {tag!r}, not {batch_tag!r}")
            session = int(meta.get("session", "0")) + 1
            values = {
                "app_id": app_id,
                "batch_tag": tag,
                "session": str(session),
                "created_at": meta.get("created_at") or utc_now().isoformat(),
            }
            command_list = list(command)
            if command_list:
                values["command"] = json.dumps(command_list)
            conn.executemany(
                "INSERT INTO meta (name, value) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                values.items(),
            )
            empty = conn.execute("SELECT NOT EXISTS (SELECT 1 FROM scenarios)").fetchone()[0]
            return tag, session, bool(empty)

        tag, self.session, self._fresh = await self._submit(op)
        self._claimed = set()
        return tag

    def claim(self, key: str, run_name: str) -> asyncio.Future[tuple[JournalRow | None, bool]]:
        """Register `key` for this session: (its row from an earlier session or None, whether
        this session already saw the key, i.e. a duplicate). A new key gets a pending row."""
        session = self.session
        if self._fresh and key not in self._claimed:
            # No earlier session has rows: a first claim is answered at once (module docstring).
            self._claimed.add(key)
            written: asyncio.Future[None] = self._submit(
                ((journal_writes.INSERT_PENDING, (key, run_name, session)),)
            )
            written.add_done_callback(_unawaited)
            answer: asyncio.Future[tuple[JournalRow | None, bool]]
            answer = asyncio.get_running_loop().create_future()
            answer.set_result((None, False))
            return answer

        def op(conn: sqlite3.Connection) -> tuple[JournalRow | None, bool]:
            found = conn.execute("SELECT * FROM scenarios WHERE key = ?", (key,)).fetchone()
            now = utc_now().isoformat()
            if found is None:
                conn.execute(
                    "INSERT INTO scenarios (key, run_name, state, updated_at, session) "
                    "VALUES (?, ?, 'pending', ?, ?)",
                    (key, run_name, now, session),
                )
                return None, False
            row = row_from_sql(found)
            if row.session == session:
                return row, True
            conn.execute(
                "UPDATE scenarios SET session = ?, updated_at = ? WHERE key = ?",
                (session, now, key),
            )
            return row, False

        return self._submit(op)

    def update(self, key: str, **changes: Any) -> asyncio.Future[None]:
        """Change fields of a row; the future completes once committed."""
        return self.finish(key, metrics=None, statistics=None, **changes)

    def update_behind(self, key: str, **changes: Any) -> None:
        """Change fields of a row without waiting for the commit: for a change that may be lost
        with the process (the row says enough without it). Its failure is logged; the key's
        later writes are applied after it all the same."""
        self.update(key, **changes).add_done_callback(_unawaited)

    def finish(
        self,
        key: str,
        *,
        metrics: Mapping[str, Any] | None,
        statistics: Mapping[str, Any] | None,
        **changes: Any,
    ) -> asyncio.Future[None]:
        """A run's end in one operation: its metrics (when it has any) and its row's changes
        (`update` is this with no metrics). Updating a row that is not there is an error."""
        row: journal_writes.Write = (
            _update_statement(tuple(changes)),
            (key, *[v.isoformat() if isinstance(v, datetime) else v for v in changes.values()]),
        )
        if metrics is None and statistics is None:
            return self._submit((row,))
        recorded = (key, _json_or_none(metrics), _json_or_none(statistics))
        return self._submit(((journal_writes.METRICS, recorded), row))

    async def meta(self) -> dict[str, str]:
        def op(conn: sqlite3.Connection) -> dict[str, str]:
            return {r["name"]: r["value"] for r in conn.execute("SELECT name, value FROM meta")}

        return await self._submit(op)

    async def counts(self) -> dict[tuple[str, str | None], int]:
        """Number of rows by (state, status)."""

        def op(conn: sqlite3.Connection) -> dict[tuple[str, str | None], int]:
            query = "SELECT state, status, COUNT(*) AS n FROM scenarios GROUP BY state, status"
            return {(r["state"], r["status"]): r["n"] for r in conn.execute(query)}

        return await self._submit(op)

    async def rows(self, states: Iterable[State] | None = None) -> list[JournalRow]:
        """Rows (in key order), optionally only those in `states`."""
        wanted = list(states) if states is not None else list(STATES)

        def op(conn: sqlite3.Connection) -> list[JournalRow]:
            marks = ",".join("?" for _ in wanted)
            query = f"SELECT * FROM scenarios WHERE state IN ({marks}) ORDER BY key"
            return [row_from_sql(r) for r in conn.execute(query, wanted)]

        return await self._submit(op)

    async def rows_named(self, names: list[str]) -> list[JournalRow]:
        """The rows of these run names (the duplicate sweep's few)."""

        def op(conn: sqlite3.Connection) -> list[JournalRow]:
            out: list[JournalRow] = []
            for start in range(0, len(names), 500):  # SQLite's limit on bound parameters
                part = names[start : start + 500]
                marks = ",".join("?" for _ in part)
                query = f"SELECT * FROM scenarios WHERE run_name IN ({marks}) ORDER BY key"
                out.extend(row_from_sql(r) for r in conn.execute(query, part))
            return out

        return await self._submit(op)

    async def input_of(self, source: str) -> ManagedInput | None:
        """The managed input this batch made for an input source (shared_inputs.py)."""

        def op(conn: sqlite3.Connection) -> ManagedInput | None:
            query = "SELECT managed_input FROM inputs WHERE source = ?"
            found = conn.execute(query, (source,)).fetchone()
            return ManagedInput.model_validate_json(found[0]) if found is not None else None

        return await self._submit(op)

    def record_input(self, source: str, managed: ManagedInput) -> asyncio.Future[None]:
        """Remember the managed input of a source (so a resumed batch does not upload it)."""
        document = managed.model_dump_json(include={"id", "name", "format"}, by_alias=True)

        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO inputs (source, managed_input, created_at) "
                "VALUES (?, ?, ?)",
                (source, document, utc_now().isoformat()),
            )

        return self._submit(op)

    async def metrics_of(self, key: str) -> tuple[Any, Any]:
        """(metrics, statistics) recorded for a scenario, (None, None) when none were."""

        def op(conn: sqlite3.Connection) -> tuple[Any, Any]:
            query = "SELECT metrics, statistics FROM metrics WHERE key = ?"
            found = conn.execute(query, (key,)).fetchone()
            if found is None:
                return None, None
            metrics, statistics = found
            return (
                json.loads(metrics) if metrics is not None else None,
                json.loads(statistics) if statistics is not None else None,
            )

        return await self._submit(op)

    async def get(self, key: str) -> JournalRow | None:
        def op(conn: sqlite3.Connection) -> JournalRow | None:
            found = conn.execute("SELECT * FROM scenarios WHERE key = ?", (key,)).fetchone()
            return row_from_sql(found) if found is not None else None

        return await self._submit(op)


@functools.lru_cache(maxsize=64)
def _update_statement(names: tuple[str, ...]) -> journal_writes.Statement:
    unknown = set(names) - UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"unknown journal fields {sorted(unknown)}")
    return journal_writes.update(names)


def _unawaited(future: asyncio.Future[Any]) -> None:
    """A write nobody waits for: its failure is logged. (A pending row that could not be
    written fails its run's next write, which is waited for: the row is missing.)"""
    error = None if future.cancelled() else future.exception()
    if error is not None:
        logger.warning("a journal write failed: %s", error)


_COMPACT = compact_encoder()


def _json_or_none(value: Any) -> str | None:
    return _COMPACT(value) if value is not None else None
