"""One live process per journal: a second opener is refused at once, naming the holder; the lock
of a dead process is taken over; status still reads a held journal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from asyncrun import AsyncClient, ConfigError, JournalLockedError, run_batch_all
from asyncrun.batch.journal import Journal
from asyncrun.batch.journal_lock import HEARTBEAT, JournalLock, check_free, current_holder
from asyncrun.emulator import Emulator

from .test_journal import WRITER


def start_writer(path: Path) -> subprocess.Popen[str]:
    """Another process holding the journal: it prints keys once it has committed some."""
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().startswith("k")  # it holds the journal now
    return child


async def test_a_second_open_in_this_process_is_refused_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    async with Journal(path) as first:
        await first.begin(app_id="app-1", batch_tag=None, default_tag="t")
        with pytest.raises(JournalLockedError) as caught:
            await Journal(path).open()
        error = caught.value
        assert isinstance(error, ConfigError)
        assert (error.pid, error.host) == (os.getpid(), socket.gethostname())
        assert error.since == first.opened_at.isoformat()
        assert f"pid {os.getpid()}" in str(error) and str(path) in str(error)
        # Reading without the lock still works while it is held.
        async with Journal(path, lock=False) as reader:
            assert (await reader.meta())["app_id"] == "app-1"
    async with Journal(path) as again:  # released on close
        assert again.previous_holder is not None
        assert again.previous_holder.pid == os.getpid()
        assert again.previous_holder.released is not None


def test_another_live_process_holds_it_and_its_death_releases_it(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    child = start_writer(path)
    try:
        holder = current_holder(str(path))
        assert holder is not None and holder.pid == child.pid

        async def open_it() -> Journal:
            return await Journal(path).open()

        with pytest.raises(JournalLockedError, match=f"pid {child.pid} on host"):
            asyncio.run(open_it())
        with pytest.raises(JournalLockedError, match=f"pid {child.pid} on host"):
            check_free(str(path))  # the CLI's look before a batch starts
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        child.kill()
        child.communicate()
    assert current_holder(str(path)) is None
    check_free(str(path))

    async def take_over() -> tuple[int | None, bool, bool]:
        async with Journal(path) as journal:
            previous = journal.previous_holder
            assert previous is not None
            alive = previous.alive is not None and previous.beat == HEARTBEAT
            return previous.pid, previous.released is None, alive

    # The dead writer never said it let go: its record is what the new holder finds, with the
    # last time its heartbeat said it was alive.
    assert asyncio.run(take_over()) == (child.pid, True, True)


async def test_a_stale_record_without_a_lock_does_not_block(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    (tmp_path / "j.db.lock").write_text(
        json.dumps({"pid": 999_999_999, "host": socket.gethostname(), "since": "2020-01-01"})
    )
    async with Journal(path) as journal:
        assert journal.previous_holder is not None
        assert journal.previous_holder.pid == 999_999_999
        record = json.loads((tmp_path / "j.db.lock").read_text())
        assert record["pid"] == os.getpid()


async def test_two_run_batch_calls_on_one_journal(emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    scenarios = [{"key": f"s{i}", "input": {"i": i}} for i in range(5)]
    async with AsyncClient(api_key="test-key", url=emulator.url) as client:
        app = client.application("lock-app")
        async with Journal(path) as held:
            await held.begin(app_id="lock-app", batch_tag=None, default_tag="t")
            with pytest.raises(JournalLockedError):
                await run_batch_all(app, scenarios, journal=path)
        assert emulator.stats()["runs_created"] == 0  # refused before any request
        outcomes = await run_batch_all(app, scenarios, journal=path)
    assert {o.status for o in outcomes} == {"succeeded"}


def heartbeats() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "asyncrun-journal-heartbeat"]


def record(path: Path) -> dict[str, object]:
    """The lock file's record of the journal at `path`."""
    loaded = json.loads(path.with_name(path.name + ".lock").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_the_heartbeat_rewrites_the_record_while_held_and_stops_at_release(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j.db"
    lock = JournalLock(str(path), heartbeat=0.01)
    before = heartbeats()
    lock.acquire(datetime.now().astimezone())
    seen: set[object] = set()
    give_up = time.monotonic() + 30  # a bound for a loaded machine, not a measure
    while len(seen) < 3 and time.monotonic() < give_up:
        seen.add(record(path)["alive"])  # every read is a whole record
        time.sleep(0.005)
    assert len(seen) >= 3 and lock.beats >= 2
    assert record(path)["beat"] == 0.01 and len(heartbeats()) == len(before) + 1
    lock.release(datetime.now().astimezone())
    assert heartbeats() == before  # joined
    final, beats = record(path), lock.beats
    assert "released" in final
    time.sleep(0.1)  # ten intervals: a heartbeat still running would have written again
    assert record(path) == final and lock.beats == beats
    assert current_holder(str(path)) is None


async def test_a_journal_s_lock_beats_until_it_is_closed(tmp_path: Path) -> None:
    path = tmp_path / "j.db"
    before = heartbeats()
    async with Journal(path) as journal:
        assert len(heartbeats()) == len(before) + 1
        held = record(path)
        assert held["beat"] == HEARTBEAT and held["pid"] == os.getpid()
        alive = datetime.fromisoformat(str(held["alive"]))
        assert journal.opened_at <= alive
    assert heartbeats() == before
    assert "released" in record(path)


def test_a_heartbeat_interval_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="heartbeat"):
        JournalLock(str(tmp_path / "j.db"), heartbeat=0)
