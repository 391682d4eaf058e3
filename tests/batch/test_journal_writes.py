"""Row writes grouped into multi-row statements: order per key, failures kept to their write,
claims of a new journal answered from memory, and the count of statements."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from asyncrun.batch import journal_writes
from asyncrun.batch.journal import Journal
from asyncrun.batch.journal_schema import UPDATABLE_COLUMNS
from asyncrun.batch.journal_writes import RowMissingError


def _lifecycle_writes(journal: Journal, keys: list[str]) -> list[asyncio.Future[object]]:
    """A run's four writes for each key, queued without waiting (one transaction)."""
    now = datetime.now(UTC)
    futures: list[asyncio.Future[object]] = []
    for key in keys:
        futures.append(journal.claim(key, f"t/{key}"))  # type: ignore[arg-type]
        futures.append(journal.update(key, state="submitting", attempts=1, post_sent_at=now))
        futures.append(journal.update(key, state="submitted", run_id=f"run-{key}"))
        futures.append(
            journal.finish(
                key,
                metrics={"value": len(key)},
                statistics=None,
                state="terminal",
                status="succeeded",
                polls=2,
            )
        )
    return futures


@pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "sqlite<3.33"])
async def test_a_keys_writes_apply_in_order_within_one_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_from: bool
) -> None:
    monkeypatch.setattr(journal_writes, "_UPDATE_FROM", update_from)
    keys = [f"k{i:03d}" for i in range(150)]
    async with Journal(tmp_path / "j.db") as journal:
        await journal.begin(app_id="app", batch_tag=None, default_tag="t")
        before = journal.commits
        await asyncio.gather(*_lifecycle_writes(journal, keys))
        assert journal.commits - before <= 2
        rows = await journal.rows()
        metrics = await journal.metrics_of("k042")
    assert [r.key for r in rows] == keys
    assert {(r.state, r.status, r.run_id == f"run-{r.key}", r.polls) for r in rows} == {
        ("terminal", "succeeded", True, 2)
    }
    assert all(r.post_sent_at is not None and r.updated_at is not None for r in rows)
    assert metrics == ({"value": 4}, None)


async def test_writes_of_one_transaction_share_statements(tmp_path: Path) -> None:
    statements: list[str] = []
    keys = [f"k{i:03d}" for i in range(128)]
    async with Journal(tmp_path / "j.db") as journal:
        await journal.begin(app_id="app", batch_tag=None, default_tag="t")
        assert journal._conn is not None
        journal._conn.set_trace_callback(statements.append)
        await asyncio.gather(*_lifecycle_writes(journal, keys))
        journal._conn.set_trace_callback(None)
    writes = [s for s in statements if s.startswith(("INSERT", "UPDATE"))]
    # 512 row writes (and 128 metrics rows): two 64-row statements of each of five kinds.
    assert len(writes) == 10


async def test_a_failed_write_is_its_own_and_the_others_are_kept(tmp_path: Path) -> None:
    async with Journal(tmp_path / "j.db") as journal:
        await journal.begin(app_id="app", batch_tag=None, default_tag="t")
        await asyncio.gather(*(journal.claim(k, f"t/{k}") for k in "abcd"))
        results = await asyncio.gather(
            journal.update("a", state="submitted", run_id="run-a"),
            journal.update("b", state="lost"),  # refused by the schema
            journal.update("c", state="submitted", run_id="run-c"),
            journal.update("nobody", state="submitted", run_id="run-x"),  # no such row
            journal.update("d", state="submitted", run_id="run-d"),
            return_exceptions=True,
        )
        rows = {r.key: r for r in await journal.rows()}
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert isinstance(results[3], RowMissingError) and "nobody" in str(results[3])
    assert [results[0], results[2], results[4]] == [None, None, None]
    assert {k: (r.state, r.run_id) for k, r in rows.items()} == {
        "a": ("submitted", "run-a"),
        "b": ("pending", None),
        "c": ("submitted", "run-c"),
        "d": ("submitted", "run-d"),
    }


async def test_claims_of_a_new_journal_need_no_wait_but_a_resumed_ones_do(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.begin(app_id="app", batch_tag=None, default_tag="t")
        first = journal.claim("a", "t/a")
        assert first.done() and first.result() == (None, False)
        again = journal.claim("a", "t/a")  # a duplicate is looked up: it sees the pending row
        row, duplicate = await again
        assert duplicate and row is not None and row.state == "pending"
    async with Journal(path) as journal:
        await journal.begin(app_id="app", batch_tag=None, default_tag="t")
        resumed = journal.claim("a", "t/a")
        new = journal.claim("b", "t/b")
        assert not resumed.done() and not new.done()  # an earlier session's rows may exist
        (row, duplicate), (none, _) = await asyncio.gather(resumed, new)
        assert row is not None and row.state == "pending" and not duplicate
        assert none is None


def test_a_statement_stays_within_the_oldest_sqlite_limit_on_values() -> None:
    widest = journal_writes.update(tuple(sorted(UPDATABLE_COLUMNS)))  # every column at once
    assert journal_writes.chunk(200, widest.width) == 32  # 64 rows would be 1,025 values
    assert journal_writes.chunk(200, journal_writes.INSERT_PENDING.width) == 64
    assert journal_writes.chunk(5, widest.width) == 4
    text = journal_writes.sql(widest, journal_writes.chunk(200, widest.width))
    assert max(int(n) for n in re.findall(r"\?(\d+)", text)) <= 999
