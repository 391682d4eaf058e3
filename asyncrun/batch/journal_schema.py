"""The journal's on-disk shape: the SQLite schema and its version, migration of older journals,
the row type, and reading a journal's meta without opening it for a batch.

The Journal class (journal.py) owns the connection and the row operations; this module is what
both it and `asyncrun status`/resume argument checks need to know about the file itself.

Rows never hold the API key or a presigned URL: errors are the client's (already redacted)
messages, and the result location is a local file path.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from os import PathLike, fspath
from pathlib import Path
from typing import Literal

from asyncrun.errors import ConfigError

__all__ = [
    "SCHEMA_SQL",
    "SCHEMA_VERSION",
    "STATES",
    "UPDATABLE_COLUMNS",
    "JournalRow",
    "State",
    "check_ours",
    "command_of",
    "connect",
    "migrate",
    "read_journal_meta",
    "row_from_sql",
]

State = Literal["pending", "submitting", "submitted", "terminal"]
STATES: tuple[State, ...] = ("pending", "submitting", "submitted", "terminal")

SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS scenarios (
    key TEXT PRIMARY KEY,
    run_name TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'submitting', 'submitted', 'terminal')),
    run_id TEXT,
    status TEXT,
    result_location TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    polls INTEGER NOT NULL DEFAULT 0,
    run_duration REAL,
    submitted_at TEXT,
    finished_at TEXT,
    detected_at TEXT,
    updated_at TEXT NOT NULL,
    session INTEGER NOT NULL DEFAULT 0,
    post_sent_at TEXT,
    post_deadline TEXT,
    duplicates TEXT
);
-- An index on state cost every state change more than it saved the few reads by state.
DROP INDEX IF EXISTS scenarios_state;
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inputs (
    source TEXT PRIMARY KEY,
    managed_input TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    key TEXT PRIMARY KEY,
    metrics TEXT,
    statistics TEXT
);
"""
# Version 2 added post_sent_at, post_deadline (when a submitting row's POST was sent, and after
# when it can no longer be acted on) and duplicates (extra runs found by the end-of-batch
# sweep). A version-1 journal (no `schema` in meta) gets the columns added when it is opened
# for a batch; a journal of a newer version is refused.
SCHEMA_VERSION = 2
_ADDED_COLUMNS = {"post_sent_at": "TEXT", "post_deadline": "TEXT", "duplicates": "TEXT"}
_TIMES = ("submitted_at", "finished_at", "detected_at", "post_sent_at", "post_deadline")
_OUR_TABLES = frozenset({"scenarios", "meta"})

UPDATABLE_COLUMNS = frozenset(
    {
        "run_name",
        "state",
        "run_id",
        "status",
        "result_location",
        "error",
        "attempts",
        "polls",
        "run_duration",
        "submitted_at",
        "finished_at",
        "detected_at",
        "post_sent_at",
        "post_deadline",
        "duplicates",
    }
)


@dataclass(frozen=True, slots=True)
class JournalRow:
    key: str
    run_name: str
    state: State
    run_id: str | None
    status: str | None
    result_location: str | None
    error: str | None
    attempts: int
    polls: int
    run_duration: float | None
    submitted_at: datetime | None
    finished_at: datetime | None
    detected_at: datetime | None
    updated_at: datetime | None
    session: int
    post_sent_at: datetime | None = None
    post_deadline: datetime | None = None
    duplicates: str | None = None


def row_from_sql(values: sqlite3.Row) -> JournalRow:
    data = dict(values)
    for name in _ADDED_COLUMNS:  # a version-1 journal read without migrating (status)
        data.setdefault(name, None)
    for name in (*_TIMES, "updated_at"):
        data[name] = datetime.fromisoformat(data[name]) if data[name] else None
    return JournalRow(**data)


def migrate(conn: sqlite3.Connection, path: str | None) -> None:
    """Bring a journal to SCHEMA_VERSION (adding columns keeps every row), or refuse a newer
    one (its rows may mean something this version does not know)."""
    found = conn.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
    try:
        version = int(found["value"]) if found is not None else 1
    except ValueError:
        raise ConfigError(f"journal {path!r} has an unreadable schema version") from None
    if version > SCHEMA_VERSION:
        raise ConfigError(
            f"journal {path!r} was written by a newer asyncrun (journal schema {version}; this "
            f"version reads up to {SCHEMA_VERSION}): upgrade asyncrun to resume it"
        )
    columns = {r["name"] for r in conn.execute("PRAGMA table_info(scenarios)")}
    conn.execute("BEGIN IMMEDIATE")
    try:
        for name, kind in _ADDED_COLUMNS.items():
            if name not in columns:
                conn.execute(f"ALTER TABLE scenarios ADD COLUMN {name} {kind}")
        conn.execute(
            "INSERT INTO meta (name, value) VALUES ('schema', ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def check_ours(conn: sqlite3.Connection, path: str | None) -> None:
    """Refuse an SQLite file of some other program (our tables must not be added to it)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if tables and not tables >= _OUR_TABLES:
        raise ConfigError(
            f"{path!r} is an SQLite database of another program, not an asyncrun journal"
        )


def read_journal_meta(path: str | PathLike[str]) -> dict[str, str]:
    """The meta of the journal at `path`, read only ({} for an empty file or database).

    Blocking (call it before the event loop starts, or in a thread). Raises ConfigError when
    the file cannot be read, is not SQLite, or is another program's database.
    """
    shown = fspath(path)
    try:
        # Read-write without create: a read-only connection to a WAL journal would leave its
        # -wal and -shm files behind; this one closes like a writer, having written nothing.
        conn = sqlite3.connect(Path(path).absolute().as_uri() + "?mode=rw", uri=True)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open journal {shown!r}: {exc}") from None
    try:
        check_ours(conn, shown)
        if "meta" not in {
            r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }:
            return {}
        return {name: value for name, value in conn.execute("SELECT name, value FROM meta")}
    except sqlite3.DatabaseError as exc:
        raise ConfigError(f"{shown!r} is not an asyncrun journal ({exc})") from None
    finally:
        conn.close()


def command_of(meta: Mapping[str, str]) -> list[str] | None:
    """The resume command stored in a journal's meta, if any."""
    raw = meta.get("command")
    if not raw:
        return None
    value = json.loads(raw)
    return [str(v) for v in value] if isinstance(value, list) else None


def connect(path: str | None, *, create: bool) -> sqlite3.Connection:
    """The journal's connection (`None`: in memory), in WAL mode. With `create`, the tables are
    created and an older journal migrated; without, the file is only read (`asyncrun status`)."""
    try:
        conn = sqlite3.connect(path or ":memory:", isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open journal {path!r}: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        check_ours(conn, path)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        if create:
            conn.executescript(SCHEMA_SQL)
            migrate(conn, path)
    except sqlite3.Error as exc:
        conn.close()
        raise ConfigError(f"{path!r} is not a usable journal: {exc}") from None
    except ConfigError:
        conn.close()
        raise
    return conn
