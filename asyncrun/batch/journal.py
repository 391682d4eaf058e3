"""The batch journal: one SQLite file (WAL) that makes a batch resumable and submission
exactly-once.

One row per scenario key: state (pending, submitting, submitted, terminal), run id, final status,
result location, attempts, timestamps. A "submitting" row is committed before its POST is sent,
so after a crash the run is looked up by name instead of being submitted again.

Threading: one dedicated connection lives in one worker thread; the event loop never touches
SQLite. Group commit: changes queue up while the previous transaction is being written and are
committed together in the next one, so thousands of state changes cost a few fsync-free commits
(WAL with synchronous=NORMAL survives the death of the process, which is what resume needs).
Every operation returns an awaitable that completes once its transaction has committed.

One live process per journal: opening a journal file takes an OS lock on `<journal>.lock`
(journal_lock.py) for as long as it is open; a second opener gets JournalLockedError naming the
holder. `lock=False` opens it without the lock, to read it (`asyncrun status`).

The schema, migration and row type are in journal_schema.py.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from os import PathLike, fspath
from types import TracebackType
from typing import Any, TypeVar

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


def utc_now() -> datetime:
    return datetime.now(UTC)


def _sql_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


_Op = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]"]


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
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._queue: list[_Op] = []
        self._flusher: asyncio.Task[None] | None = None
        self.session = 0
        self.commits = 0

    def __repr__(self) -> str:
        return f"Journal(path={self.path!r})"

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> Journal:
        if self._executor is not None:
            raise ConfigError("this journal is already open")
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="asyncrun-journal")
        try:
            self._conn = await self._in_thread(self._locked_connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
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
        executor = self._executor
        if executor is None:
            return
        try:
            # Shielded: a cancelled caller must still not lose the changes already queued.
            await asyncio.shield(self._drain())
        finally:
            self._executor = None
            conn, self._conn = self._conn, None
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
        if self._executor is None:
            raise ConfigError("the journal is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def _submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue an operation for the next transaction; the future completes after its commit."""
        if self._executor is None:
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
        """One transaction for the whole batch (worker thread)."""
        conn = self._conn
        assert conn is not None
        results: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn, _ in batch:
                try:
                    results.append((True, fn(conn)))
                except (sqlite3.Error, ValueError, ConfigError) as exc:
                    results.append((False, exc))
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

        def op(conn: sqlite3.Connection) -> tuple[str, int]:
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
            return tag, session

        tag, self.session = await self._submit(op)
        return tag

    def claim(self, key: str, run_name: str) -> asyncio.Future[tuple[JournalRow | None, bool]]:
        """Register `key` for this session: (its row from an earlier session or None, whether
        this session already saw the key, i.e. a duplicate). A new key gets a pending row."""
        session = self.session

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

    def finish(
        self,
        key: str,
        *,
        metrics: Mapping[str, Any] | None,
        statistics: Mapping[str, Any] | None,
        **changes: Any,
    ) -> asyncio.Future[None]:
        """A run's end in one operation: its metrics (when it has any) and its row's changes
        (`update` is this with no metrics)."""
        sql, values = _update(changes)
        recorded = None
        if metrics is not None or statistics is not None:
            recorded = (key, _json_or_none(metrics), _json_or_none(statistics))

        def op(conn: sqlite3.Connection) -> None:
            if recorded is not None:
                conn.execute(_METRICS_SQL, recorded)
            conn.execute(sql, (*values, utc_now().isoformat(), key))

        return self._submit(op)

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


_METRICS_SQL = "INSERT OR REPLACE INTO metrics (key, metrics, statistics) VALUES (?, ?, ?)"


def _update(changes: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The UPDATE statement of a row's changes and its values (bar updated_at and the key)."""
    names = tuple(changes)
    return _update_sql(names), [_sql_value(changes[n]) for n in names]


@functools.lru_cache(maxsize=64)
def _update_sql(names: tuple[str, ...]) -> str:
    unknown = set(names) - UPDATABLE_COLUMNS
    if unknown:
        raise ValueError(f"unknown journal fields {sorted(unknown)}")
    return (
        "UPDATE scenarios SET "
        + ", ".join(f"{n} = ?" for n in names)
        + ", updated_at = ? WHERE key = ?"
    )


_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _json_or_none(value: Any) -> str | None:
    return _COMPACT.encode(value) if value is not None else None
