"""The SQLite journal: group commit, sessions, reopening, and death of the writing process."""

from __future__ import annotations

import asyncio
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from asyncrun import ConfigError
from asyncrun.batch.journal import Journal

WRITER = Path(__file__).with_name("journal_writer.py")


@pytest.mark.parametrize("in_memory", [True, False])
async def test_many_changes_share_few_commits_in_memory_or_in_a_file(
    tmp_path: Path, in_memory: bool
) -> None:
    """A journal file writes in a thread of its own; an in-memory one in the event loop (no
    disk to wait for), with the same grouping of changes into commits."""
    async with Journal(None if in_memory else tmp_path / "j.db") as journal:
        await journal.begin(app_id="app-1", batch_tag=None, default_tag="tag-a")
        threads = {t.name for t in threading.enumerate()}
        before = journal.commits
        await asyncio.gather(*(journal.claim(f"k{i}", f"tag-a/k{i}") for i in range(300)))
        await asyncio.gather(
            *(journal.update(f"k{i}", state="submitting", attempts=1) for i in range(300))
        )
        commits = journal.commits - before
        rows = await journal.rows(["submitting"])
    assert len(rows) == 300
    assert commits < 10
    assert any(name.startswith("asyncrun-journal") for name in threads) is not in_memory
    assert not any(t.name.startswith("asyncrun-journal") for t in threading.enumerate())


async def test_rows_survive_reopening_and_sessions_tell_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        tag = await journal.begin(app_id="app-1", batch_tag=None, default_tag="tag-a")
        assert await journal.claim("a", "tag-a/a") == (None, False)
        row, duplicate = await journal.claim("a", "tag-a/a")
        assert duplicate and row is not None and row.state == "pending"
        await journal.update("a", state="submitted", run_id="run-1", attempts=1)
    async with Journal(path) as journal:
        # The stored tag wins over a new default; a new session sees "a" as not yet claimed.
        assert await journal.begin(app_id="app-1", batch_tag=None, default_tag="other") == tag
        row, duplicate = await journal.claim("a", "tag-a/a")
        assert not duplicate
        assert row is not None and row.state == "submitted" and row.run_id == "run-1"
        assert row.attempts == 1
        assert (await journal.meta())["session"] == "2"


async def test_a_journal_belongs_to_one_application(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.begin(app_id="app-1", batch_tag=None, default_tag="t")
    async with Journal(path) as journal:
        with pytest.raises(ConfigError, match="belongs to application 'app-1'"):
            await journal.begin(app_id="app-2", batch_tag=None, default_tag="t")


async def test_unknown_fields_and_bad_states_are_refused(tmp_path: Path) -> None:
    async with Journal(tmp_path / "j.db") as journal:
        await journal.begin(app_id="app-1", batch_tag=None, default_tag="t")
        await journal.claim("a", "t/a")
        with pytest.raises(ValueError, match="unknown journal fields"):
            journal.update("a", api_key="secret")
        with pytest.raises(sqlite3.IntegrityError):
            await journal.update("a", state="lost")
        row = await journal.get("a")
        assert row is not None and row.state == "pending"


async def test_a_file_that_is_not_sqlite_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match="not a usable journal"):
        await Journal(path).open()


async def test_changes_queued_before_close_are_committed(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as journal:
        await journal.begin(app_id="app-1", batch_tag=None, default_tag="t")
        for i in range(100):
            journal.claim(f"k{i}", f"t/k{i}")  # not awaited: close must still commit them
    async with Journal(path) as journal:
        assert len(await journal.rows()) == 100


def test_sigkill_during_group_commits_loses_no_acknowledged_change(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    acknowledged: list[str] = []
    deadline = time.monotonic() + 30
    target = random.Random().randint(200, 2000)
    try:
        while len(acknowledged) < target and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            acknowledged.append(line.strip())
        child.send_signal(signal.SIGKILL)
        # Keys the child printed after our last read were committed too; collect them.
        acknowledged.extend(line.strip() for line in child.stdout if line.strip())
    finally:
        child.kill()
        child.wait(10)
        child.stdout.close()
    assert len(acknowledged) >= target
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = dict(conn.execute("SELECT key, state FROM scenarios").fetchall())
    finally:
        conn.close()
    missing = [k for k in acknowledged if rows.get(k) != "submitted"]
    assert missing == []
