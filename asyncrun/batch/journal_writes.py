"""Row writes of the journal as data, so that one transaction's writes of a kind share one
statement.

A batch at scale writes three or four rows per run (pending, submitting, submitted, terminal).
Run one statement at a time, every write is a round through the sqlite3 module, and each one
gives up the GIL and must win it back from a busy event loop. Grouped, a transaction of fifty
runs' changes is a handful of multi-row statements (`INSERT ... VALUES (...), (...)`,
`UPDATE ... FROM (VALUES ...)`), at about a third of the CPU per row.

Order: writes of different keys are independent, so a transaction's writes are grouped by
statement until a key comes back (its second write must follow its first), or until an
operation that is not a plain write (a read, a claim of a resumed journal) needs everything
before it applied. Each group is applied in chunks of 64, 32, ... rows, so a few dozen
statements cover every size and stay in the sqlite3 statement cache.

A failed group (a constraint, a row that is not there) is applied again row by row, so the
failure belongs to the write that caused it and the others are kept.
"""

from __future__ import annotations

import functools
import itertools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "INSERT_PENDING",
    "METRICS",
    "RowMissingError",
    "Statement",
    "Write",
    "apply",
    "chunk",
    "sql",
    "update",
]

# UPDATE ... FROM arrived in SQLite 3.33 (2020); before it, updates are applied one by one.
_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33, 0)
_CHUNKS = (64, 32, 16, 8, 4, 2, 1)
# SQLite before 3.32 takes at most 999 bound values in a statement.
_MAX_VALUES = 999


class RowMissingError(ValueError):
    """An update of a scenario the journal has no row for."""


@dataclass(frozen=True)
class Statement:
    """One kind of row write: `columns` are its values after the key (the key comes first)."""

    table: str
    columns: tuple[str, ...]
    # insert: INSERT (`replace`: OR REPLACE); update: UPDATE ... WHERE key (every row must exist)
    verb: Literal["insert", "update"]
    replace: bool = False
    constants: tuple[tuple[str, str], ...] = ()  # (column, SQL literal) inserted as is

    @property
    def width(self) -> int:
        return 1 + len(self.columns)

    @property
    def one(self) -> str:
        """The statement for one row: the transaction's time as ?1, then the row's values."""
        return sql(self, 1)


@functools.lru_cache(maxsize=256)
def sql(statement: Statement, rows: int) -> str:
    """The statement writing `rows` rows: ?1 is the transaction's time, then each row's
    values in turn (the key first)."""
    width, table, columns = statement.width, statement.table, statement.columns
    if statement.verb == "update":
        if rows == 1:
            sets = [f"{c} = ?{i + 3}" for i, c in enumerate(columns)]
            return f"UPDATE {table} SET {', '.join([*sets, 'updated_at = ?1'])} WHERE key = ?2"
        sets = [f"{c} = v.column{i + 2}" for i, c in enumerate(columns)]
        return (
            f"UPDATE {table} SET {', '.join([*sets, 'updated_at = ?1'])} "
            f"FROM (VALUES {_rows(rows, width)}) AS v WHERE {table}.key = v.column1"
        )
    names = ["key", *columns, *(c for c, _ in statement.constants)]
    extra = [v for _, v in statement.constants]
    if table == "scenarios":  # its rows carry the time they were written
        names.append("updated_at")
        extra.append("?1")
    verb = "INSERT OR REPLACE" if statement.replace else "INSERT"
    return f"{verb} INTO {table} ({', '.join(names)}) VALUES {_rows(rows, width, extra)}"


def _rows(rows: int, width: int, extra: Sequence[str] = ()) -> str:
    return ", ".join(
        "(" + ", ".join([*(f"?{2 + r * width + i}" for i in range(width)), *extra]) + ")"
        for r in range(rows)
    )


# (statement, values with the key first)
Write = tuple[Statement, tuple[Any, ...]]

INSERT_PENDING = Statement(
    "scenarios", ("run_name", "session"), "insert", constants=(("state", "'pending'"),)
)
METRICS = Statement("metrics", ("metrics", "statistics"), "insert", replace=True)


@functools.lru_cache(maxsize=64)
def update(columns: tuple[str, ...]) -> Statement:
    """The update of these columns of a scenario row (and its updated_at)."""
    return Statement("scenarios", columns, "update")


def apply(
    conn: sqlite3.Connection, groups: dict[Statement, list[tuple[int, tuple[Any, ...]]]], now: str
) -> dict[int, Exception]:
    """Apply grouped writes ({statement: [(operation index, values)]}); the failures by
    operation index."""
    failed: dict[int, Exception] = {}
    for statement, rows in groups.items():
        start = 0
        while start < len(rows):
            size = chunk(len(rows) - start, statement.width)
            part = rows[start : start + size]
            start += size
            if not _UPDATE_FROM and statement.verb == "update" and size > 1:
                _each(conn, statement, part, now, failed)
                continue
            try:
                values = [now, *itertools.chain.from_iterable(v for _, v in part)]
                cursor = conn.execute(sql(statement, size), values)
                if statement.verb == "update" and cursor.rowcount != size:
                    raise RowMissingError("a row to update is missing")
            except (sqlite3.Error, ValueError):
                # Nothing of a failed statement was applied: again one by one, to find which.
                _each(conn, statement, part, now, failed)
    return failed


def chunk(rows: int, width: int) -> int:
    """How many of `rows` rows of `width` values the next statement writes: the largest size
    of `_CHUNKS` that fits, its values (and the time) within every SQLite's limit."""
    return next(c for c in _CHUNKS if c <= rows and (c * width + 1 <= _MAX_VALUES or c == 1))


def _each(
    conn: sqlite3.Connection,
    statement: Statement,
    rows: Sequence[tuple[int, tuple[Any, ...]]],
    now: str,
    failed: dict[int, Exception],
) -> None:
    for index, values in rows:
        try:
            cursor = conn.execute(statement.one, (now, *values))
            if statement.verb == "update" and cursor.rowcount != 1:
                raise RowMissingError(f"the journal has no scenario {values[0]!r}")
        except (sqlite3.Error, ValueError) as exc:
            failed.setdefault(index, exc)
