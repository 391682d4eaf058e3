"""Exactly once against late requests: a submit whose answer was lost is looked up only after
its deadline (in the process and on resume), the lookup outlasts transient errors, and the
end-of-batch sweep cancels extra runs of a name; the journal's schema migrates."""

from __future__ import annotations

import asyncio
import json
import socket
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from asyncrun import (
    AmbiguousSubmitError,
    APIError,
    ConfigError,
    RunOutcome,
    Scenario,
    ServerError,
    Timeouts,
    run_batch_all,
)
from asyncrun.batch.journal import SCHEMA_VERSION, Journal, utc_now
from asyncrun.batch.journal_lock import HEARTBEAT, Holder
from asyncrun.batch.outcome import DuplicateRun
from asyncrun.batch.reconcile import HOLDER_SKEW, last_sent
from asyncrun.batch.runner import BatchCounters
from asyncrun.emulator import Emulator, FaultProfile
from asyncrun.models import Run, RunInformation

from .conftest import FAST, MARGIN, digest, fast_client
from .fakes import FakeApplication

Factory = Callable[..., AbstractAsyncContextManager[Emulator]]
CREATE = "POST /v1/applications/{app_id}/runs"
LIST = "GET /v1/applications/{app_id}/runs"


def scenarios(count: int, **options: str) -> list[Scenario]:
    return [Scenario(key=f"k{i}", input={"i": i}, options=dict(options)) for i in range(count)]


def in_doubt_once(
    monkeypatch: pytest.MonkeyPatch, app: Any, name: str, late: dict[str, str] | None = None
) -> list[str]:
    """The first POST of `name` goes unanswered and makes no run: the batch looks the name up
    after its deadline, finds nothing and submits again. With `late` (options), the lost POST
    then lands late, as a server may act on it: a run of that name is made just before the
    second POST (its id is put in the list returned). The duplicate sweep is for such a
    batch: one whose every POST was answered skips it."""
    new_run = app.new_run
    calls: list[str] = []
    made: list[str] = []

    async def unanswered_once(**kwargs: Any) -> str:
        if kwargs.get("name") == name:
            calls.append(name)
            if len(calls) == 1:
                raise AmbiguousSubmitError("POST runs: the request was sent but no answer came")
            if len(calls) == 2 and late is not None:
                made.append(await new_run(input=kwargs.get("input"), name=name, options=late))
        return str(await new_run(**kwargs))

    monkeypatch.setattr(app, "new_run", unanswered_once)
    return made


def counted_listings(monkeypatch: pytest.MonkeyPatch, app: Any) -> list[int]:
    """`app.list_runs` counted: one item in the list returned per listing begun."""
    listings: list[int] = []
    whole_listing = app.list_runs

    async def list_runs() -> AsyncIterator[Run]:
        listings.append(1)
        async for run in whole_listing():
            yield run

    monkeypatch.setattr(app, "list_runs", list_runs)
    return listings


async def test_a_lost_submit_is_looked_up_after_its_deadline_and_never_sent_twice(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    # Every POST is dropped unanswered and its run created 1 s later; the deadline (connect
    # 0.5 + read 1.0 + margin 0.5 s) is later than that, so one lookup finds every run.
    late = FaultProfile(late_create=1.0, late_seconds=1.0)
    async with emulator_factory(faults=late) as emu, fast_client(emu.url) as client:
        outcomes = await run_batch_all(
            client.application("late-app"),
            scenarios(3),
            journal=tmp_path / "j.db",
            batch_tag="late",
            max_in_flight=1,
            polling_options=FAST,
            submit_margin=MARGIN,
        )
        stats = emu.stats()
    assert [o.status for o in outcomes] == ["succeeded"] * 3
    for i, outcome in enumerate(outcomes):
        assert outcome.output["input_digest"] == digest({"i": i})
        assert outcome.attempts == 1 and outcome.duplicates == ()
    assert stats["runs_per_name"] == {f"late/k{i}": 1 for i in range(3)}
    assert stats["requests"][CREATE] == {"0": 3}
    # One lookup per scenario, plus the duplicate sweep: its listing, taken early (once the
    # source ran dry), and the end's listing of what was created since (one page).
    assert sum(stats["requests"][LIST].values()) == 3 + 2
    # A scenario waiting for its deadline gave its slot up: with max_in_flight=1, all three
    # POSTs went out before the first lookup.
    order = [e["method"] for e in stats["recent_requests"] if e["path"].endswith("/late-app/runs")]
    assert order[:3] == ["POST"] * 3


async def test_resume_waits_for_the_deadline_of_a_dead_process_s_submission(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    path = tmp_path / "j.db"
    async with (
        emulator_factory(faults=FaultProfile(late_seconds=1.0)) as emu,
        fast_client(emu.url) as client,
    ):
        app = client.application("resume-app")
        async with Journal(path) as journal:
            await journal.begin(app_id=app.id, batch_tag="tag", default_tag="tag")
            await journal.claim("ghost", "tag/ghost")
            # The process died after sending this POST (no deadline was recorded) ...
            await journal.update("ghost", state="submitting", attempts=1)
        # ... and the server acts on it a second later (the lock file says the holder let go
        # just now, so the deadline is 2 s from now).
        body = json.dumps({"input": {"i": "ghost"}, "name": "tag/ghost"}).encode()
        emu.state.create_late(app.id, body, None)
        outcomes = await run_batch_all(
            app,
            [Scenario(key="ghost", input={"i": "ghost"})],
            journal=path,
            polling_options=FAST,
            submit_margin=MARGIN,
        )
        stats = emu.stats()
        async with Journal(path, lock=False) as journal:
            row = await journal.get("ghost")
    assert outcomes[0].status == "succeeded" and outcomes[0].resumed
    assert stats["runs_per_name"] == {"tag/ghost": 1}
    assert CREATE not in stats["requests"]  # found, never sent again
    assert row is not None and row.post_deadline is not None


async def left_in_doubt(
    path: Path, app_id: str, keys: list[str], sent: datetime | None = None
) -> None:
    """A process of batch "tag" that committed these keys as `submitting` (POST sent, no
    answer recorded), then stopped."""
    async with Journal(path) as journal:
        await journal.begin(app_id=app_id, batch_tag="tag", default_tag="tag")
        for key in keys:
            await journal.claim(key, f"tag/{key}")
            await journal.update(
                key, state="submitting", attempts=1, post_sent_at=sent or utc_now()
            )


def killed(path: Path, **record: object) -> None:
    """The journal's last holder was killed: its lock record never says `released`."""
    lock = path.with_name(path.name + ".lock")
    written = {"pid": 999_999_999, "host": socket.gethostname(), "since": "2020-01-01"}
    lock.write_text(json.dumps(written | record))


async def made_on_the_server(emu: Emulator, app_id: str, count: int) -> dict[str, str]:
    """Runs tag/k0 ... that the earlier process's POSTs made (by key: run id)."""
    made = {}
    for i in range(count):
        body = json.dumps({"input": {"i": i}, "name": f"tag/k{i}"}).encode()
        made[f"k{i}"] = (await emu.state.create_run(app_id, body, None)).id
    return made


async def resumed(app: Any, path: Path, count: int, counters: BatchCounters) -> list[RunOutcome]:
    """The batch of `count` scenarios, resumed from the journal at `path`."""
    return await run_batch_all(
        app,
        scenarios(count),
        journal=path,
        polling_options=FAST,
        submit_margin=MARGIN,
        counters=counters,
    )


def counted_lookups(monkeypatch: pytest.MonkeyPatch, app: Any) -> list[str]:
    """`app.find_runs_by_name` counted: the names looked up one by one."""
    names: list[str] = []
    find = app.find_runs_by_name

    async def find_runs_by_name(name: str, **kwargs: Any) -> list[Run]:
        names.append(name)
        return list(await find(name, **kwargs))

    monkeypatch.setattr(app, "find_runs_by_name", find_runs_by_name)
    return names


async def test_a_resume_takes_the_runs_of_the_names_in_doubt_at_once(
    emulator_factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every POST the earlier process left in doubt made its run: one listing finds them all,
    nothing waits for a deadline, nothing is sent again."""
    path = tmp_path / "j.db"
    async with emulator_factory() as emu, fast_client(emu.url) as client:
        app = client.application("resume-app")
        await left_in_doubt(path, app.id, ["k0", "k1", "k2"])
        made = await made_on_the_server(emu, app.id, 3)
        lookups = counted_lookups(monkeypatch, app)
        listings = counted_listings(monkeypatch, app)
        counters = BatchCounters()
        outcomes = await resumed(app, path, 4, counters)
        stats = emu.stats()
    assert [o.status for o in outcomes] == ["succeeded"] * 4
    assert {o.key: o.run_id for o in outcomes[:3]} == made
    assert all(o.resumed for o in outcomes[:3]) and not outcomes[3].resumed
    assert counters.deadline_waits == 0 and counters.in_doubt == 0
    assert lookups == []  # no name looked up alone
    # The listing of the names in doubt, and the duplicate sweep's (early and at the end).
    assert len(listings) == 3
    assert sum(stats["requests"][CREATE].values()) == 1  # k3 only: it was never sent
    assert stats["runs_per_name"] == {f"tag/k{i}": 1 for i in range(4)}


async def test_a_resume_waits_only_for_the_names_in_doubt_it_did_not_find(
    emulator_factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two of three POSTs in doubt made their run, one never reached the server: only that
    name waits for its deadline, is looked up again (not found), and is sent once."""
    path = tmp_path / "j.db"
    async with emulator_factory() as emu, fast_client(emu.url) as client:
        app = client.application("resume-app")
        await left_in_doubt(path, app.id, ["k0", "k1", "k2"])
        await made_on_the_server(emu, app.id, 2)
        lookups = counted_lookups(monkeypatch, app)
        counters = BatchCounters()
        outcomes = await resumed(app, path, 3, counters)
        stats = emu.stats()
    assert [o.status for o in outcomes] == ["succeeded"] * 3
    assert [o.resumed for o in outcomes] == [True, True, False]
    assert counters.deadline_waits == 1 and counters.in_doubt == 0
    assert lookups == ["tag/k2"]  # after its deadline, before it was sent again
    assert sum(stats["requests"][CREATE].values()) == 1
    assert stats["runs_per_name"] == {f"tag/k{i}": 1 for i in range(3)}


async def resumed_after_kill(
    emu: Emulator, path: Path, monkeypatch: pytest.MonkeyPatch, **record: object
) -> tuple[BatchCounters, list[str], dict[str, Any]]:
    """A killed process left k0..k2 in doubt; only k0 and k1 reached the server. Resume it:
    (counters, names looked up alone, emulator stats)."""
    async with fast_client(emu.url) as client:
        app = client.application("resume-app")
        await left_in_doubt(path, app.id, ["k0", "k1", "k2"], sent=utc_now() - timedelta(hours=1))
        killed(path, **record)
        for i in range(2):
            body = json.dumps({"input": {"i": i}, "name": f"tag/k{i}"}).encode()
            await emu.state.create_run(app.id, body, None)
        lookups = counted_lookups(monkeypatch, app)
        counters = BatchCounters()
        outcomes = await run_batch_all(
            app,
            scenarios(3),
            journal=path,
            polling_options=FAST,
            submit_margin=MARGIN,
            counters=counters,
        )
    assert [o.status for o in outcomes] == ["succeeded"] * 3
    assert [o.resumed for o in outcomes] == [True, True, False]
    return counters, lookups, emu.stats()


async def test_a_killed_holder_s_old_heartbeat_spares_the_resume_its_deadline(
    emulator_factory: Factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The killed process was last alive an hour ago (heartbeat every 5 s): it cannot have sent
    anything since, so the name not found is looked up again at once, and sent once."""
    alive = (utc_now() - timedelta(hours=1)).isoformat()
    async with emulator_factory() as emu:
        counters, lookups, stats = await resumed_after_kill(
            emu, tmp_path / "j.db", monkeypatch, alive=alive, beat=5.0
        )
    assert counters.deadline_waits == 0 and counters.in_doubt == 0
    assert lookups == ["tag/k2"]  # the second lookup, before it was sent again
    assert sum(stats["requests"][CREATE].values()) == 1
    assert stats["runs_per_name"] == {f"tag/k{i}": 1 for i in range(3)}


@pytest.mark.parametrize(
    "record",
    [
        pytest.param({"alive": "now", "beat": 0.1}, id="heartbeat-just-now"),
        pytest.param({}, id="no-heartbeat-older-asyncrun"),
        pytest.param({"alive": "old", "beat": 5.0, "host": "another-host"}, id="other-host"),
    ],
)
async def test_a_resume_still_waits_when_the_killed_holder_may_have_sent_lately(
    emulator_factory: Factory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    record: dict[str, object],
) -> None:
    """A heartbeat just now (the process may have sent until a moment ago), a record without
    one (the old rule: the deadline counts from the resume's start), and a record written on
    another host 20 s ago (its clock may be behind ours: HOLDER_SKEW is added) all wait for the
    deadline of the name not found before sending it."""
    stamps = {"now": utc_now(), "old": utc_now() - timedelta(seconds=20)}
    if "alive" in record:
        record = record | {"alive": stamps[str(record["alive"])].isoformat()}
    async with emulator_factory() as emu:
        counters, lookups, stats = await resumed_after_kill(
            emu, tmp_path / "j.db", monkeypatch, **record
        )
    assert counters.deadline_waits == 1 and counters.in_doubt == 0
    assert lookups == ["tag/k2"]
    assert sum(stats["requests"][CREATE].values()) == 1
    assert stats["runs_per_name"] == {f"tag/k{i}": 1 for i in range(3)}


def test_the_last_moment_a_dead_holder_can_have_sent() -> None:
    opened = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    here = socket.gethostname()
    alive = opened - timedelta(minutes=5)

    def holder(**fields: Any) -> Holder:
        return Holder(**({"pid": 1, "host": here, "since": None, "released": None} | fields))

    assert last_sent(None, opened) == opened  # never locked
    assert last_sent(holder(), opened) == opened  # killed, no heartbeat: the old rule
    # Killed: one interval to the next heartbeat, two more for a heartbeat held up.
    assert last_sent(holder(alive=alive, beat=5.0), opened) == alive + timedelta(seconds=15)
    assert last_sent(holder(alive=alive), opened) == alive + timedelta(seconds=3 * HEARTBEAT)
    # Never later than this session's opening, whatever a clock said.
    assert last_sent(holder(alive=opened + timedelta(hours=1), beat=5.0), opened) == opened
    # A clean release wins over the heartbeat.
    released = alive + timedelta(seconds=1)
    assert last_sent(holder(alive=alive, beat=5.0, released=released), opened) == released
    # Written on another host: its clock may be behind ours by up to HOLDER_SKEW.
    away = holder(host="elsewhere", alive=alive, beat=5.0)
    assert last_sent(away, opened) == alive + timedelta(seconds=15) + HOLDER_SKEW
    assert last_sent(holder(host="elsewhere", released=released), opened) == (
        released + HOLDER_SKEW
    )


async def test_the_lookup_outlasts_transient_errors() -> None:
    class Flaky(FakeApplication):
        timeouts = Timeouts(connect=0.01, read=0.01)

        def __init__(self) -> None:
            super().__init__()
            self.lookups = 0

        async def new_run(self, **kwargs: Any) -> str:
            self.submits += 1
            raise AmbiguousSubmitError("no answer", run_name=kwargs.get("name"))

        async def find_runs_by_name(
            self, name: str, *, created_after: datetime | None = None
        ) -> list[Run]:
            self.lookups += 1
            if self.lookups <= 7:  # more failures in a row than a read is allowed
                raise ServerError("503", status_code=503)
            return [Run(id="run-found", name=name)]

    app = Flaky()
    outcomes = await run_batch_all(app, scenarios(1), polling_options=FAST, submit_margin=0.0)
    assert outcomes[0].status == "succeeded" and outcomes[0].run_id == "run-found"
    assert (app.submits, app.lookups) == (1, 8)


async def test_a_lookup_that_never_succeeds_leaves_the_row_for_a_resume(tmp_path: Path) -> None:
    class Down(FakeApplication):
        timeouts = Timeouts(connect=0.01, read=0.01)

        async def new_run(self, **kwargs: Any) -> str:
            raise AmbiguousSubmitError("no answer", run_name=kwargs.get("name"))

        async def find_runs_by_name(
            self, name: str, *, created_after: datetime | None = None
        ) -> list[Run]:
            raise ServerError("503", status_code=503)

    path = tmp_path / "j.db"
    outcomes = await run_batch_all(
        Down(), scenarios(1), journal=path, polling_options=FAST, submit_margin=0.0
    )
    assert outcomes[0].status == "error"
    assert "fate is unknown" in (outcomes[0].error or "")
    async with Journal(path) as journal:
        row = await journal.get("k0")
    assert row is not None and row.state == "submitting"


async def test_a_batch_whose_every_post_was_answered_skips_the_sweep_and_a_resume_sweeps(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every POST of a new journal's batch answered with a run id (or a refusal that made
    none): every name has one run, and no listing is made for the sweep. A resume cannot know
    what an earlier process's POSTs did: it sweeps."""
    path = tmp_path / "j.db"
    async with fast_client(emulator.url) as client:
        app = client.application("answered")
        listings = counted_listings(monkeypatch, app)
        first = await run_batch_all(app, scenarios(4), journal=path, polling_options=FAST)
        assert {o.status for o in first} == {"succeeded"} and listings == []
        again = await run_batch_all(app, scenarios(4), journal=path, polling_options=FAST)
    assert all(o.resumed for o in again) and listings
    tag = first[0].run_name.rsplit("/", 1)[0]
    assert emulator.stats()["runs_per_name"] == {f"{tag}/k{i}": 1 for i in range(4)}


async def test_a_post_whose_answer_could_not_be_read_keeps_the_sweep(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 2xx whose body could not be read made a run the journal does not know: such a POST
    is in doubt too, and the batch sweeps (only a 4xx, or a failure before sending, proves
    that no run was made)."""
    async with fast_client(emulator.url) as client:
        app = client.application("unreadable")
        new_run = app.new_run
        made: list[str] = []
        listings = counted_listings(monkeypatch, app)

        async def unreadable_once(**kwargs: Any) -> str:
            run_id = str(await new_run(**kwargs))
            if not made:
                made.append(run_id)
                raise APIError("new_run: the API answered with invalid JSON")
            return run_id

        monkeypatch.setattr(app, "new_run", unreadable_once)
        outcomes = await run_batch_all(app, scenarios(3), polling_options=FAST)
    assert sorted(o.status for o in outcomes) == ["error", "succeeded", "succeeded"]
    assert listings  # swept


async def test_the_sweep_cancels_an_extra_run_of_a_name(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "j.db"
    async with fast_client(emulator.url) as client:
        app = client.application("sweep-app")
        # A run of the same name the batch did not make (its lost POST landing late), running.
        late = in_doubt_once(monkeypatch, app, "sw/k1", late={"emulator.duration": "600"})
        counters = BatchCounters()
        outcomes = await run_batch_all(
            app,
            scenarios(3),
            journal=path,
            batch_tag="sw",
            polling_options=FAST,
            counters=counters,
            submit_margin=MARGIN,
        )
        kept, extra = outcomes[1].run_id, late[0]
        expected = DuplicateRun("k1", "sw/k1", kept, extra, "running", True)
        assert counters.duplicate_runs == [expected]
        assert outcomes[1].duplicates == (expected,)
        assert outcomes[0].duplicates == () and outcomes[2].duplicates == ()
        assert {r["id"]: r["status"] for r in emulator.runs()}[extra] == "canceled"
        # A resume sweeps again: the extra is found already canceled, and the outcome read back
        # from the journal still says so.
        again = await run_batch_all(
            app, scenarios(3), journal=path, polling_options=FAST, submit_margin=MARGIN
        )
    assert again[1].resumed
    assert again[1].duplicates == (DuplicateRun("k1", "sw/k1", kept, extra, "canceled", False),)
    assert {o.status for o in outcomes} == {"succeeded"}


async def test_a_duplicate_created_after_the_early_listing_is_found_and_canceled(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sweep's listing is taken once the source runs dry, while runs are still polled; a
    run of one of the batch's names created after that (a late POST landing) is still found by
    the end's listing, which reads only what is newer than the early listing (what the end reads
    is counted in test_the_sweep_lists_only_runs_since_the_batch_began)."""
    async with fast_client(emulator.url) as client:
        app = client.application("early-app")
        listed = asyncio.Event()
        whole_listing = app.list_runs

        async def list_runs() -> AsyncIterator[Run]:
            async for run in whole_listing():
                yield run
            listed.set()  # a listing read to its end: the early one (the end's stops early)

        monkeypatch.setattr(app, "list_runs", list_runs)
        in_doubt_once(monkeypatch, app, "ew/k2")
        work = [
            Scenario(key=f"k{i}", input={"i": i}, options={"emulator.duration": "1.5"})
            for i in range(3)
        ]
        counters = BatchCounters()
        batch = asyncio.ensure_future(
            run_batch_all(
                app,
                work,
                batch_tag="ew",
                polling_options=FAST,
                counters=counters,
                submit_margin=MARGIN,
            )
        )
        await asyncio.wait_for(listed.wait(), 30)
        extra = await app.new_run(
            input={"i": 0}, name="ew/k0", options={"emulator.duration": "600"}
        )
        assert not batch.done()  # made while the batch's runs were still polled
        outcomes = await batch
    kept = outcomes[0].run_id
    assert counters.duplicate_runs == [DuplicateRun("k0", "ew/k0", kept, extra, "running", True)]
    assert {r["id"]: r["status"] for r in emulator.runs()}[extra] == "canceled"


async def test_the_sweep_lists_only_runs_since_the_batch_began(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Listing(FakeApplication):
        def __init__(self) -> None:
            super().__init__()
            self.read = 0

        async def list_runs(self) -> AsyncIterator[Run]:
            for run in self.listed:
                self.read += 1
                yield run

        async def run_metadata(self, run_id: str) -> RunInformation:
            # A listed run's status now (the sweep reads again the runs of a repeated name).
            for run in self.listed:
                if run.id == run_id:
                    meta = {"status_v2": run.status_v2, "duration": 10.0}
                    return RunInformation.model_validate({"id": run_id, "metadata": meta})
            return await super().run_metadata(run_id)

    now, old = datetime.now(UTC), datetime.now(UTC) - timedelta(days=1)
    app = Listing()
    app.timeouts = Timeouts(connect=0.1, read=0.1)  # a lost POST is looked up 0.7 s later
    in_doubt_once(monkeypatch, app, "t/k0")
    app.listed = [
        Run(id="extra", name="t/k0", created_at=now, status_v2="running"),
        Run(id="run-0", name="t/k0", created_at=now, status_v2="succeeded"),
        # An earlier batch with the same tag, a day ago: the listing stops at its first run.
        *(Run(id=f"old-{i}", name=f"t/k{i % 3}", created_at=old) for i in range(1000)),
    ]
    counters = BatchCounters()
    outcomes = await run_batch_all(
        app, scenarios(3), batch_tag="t", max_in_flight=1, counters=counters, submit_margin=MARGIN
    )
    # The early listing (once the source ran dry) stops at the first run of the day before;
    # the end's listing at the first run the early one saw.
    assert app.read == 3 + 1
    assert app.cancels == ["extra"]
    assert counters.duplicate_runs == [
        DuplicateRun("k0", "t/k0", "run-0", "extra", "running", True)
    ]
    assert outcomes[0].duplicates == tuple(counters.duplicate_runs)


async def test_a_version_1_journal_is_migrated_and_a_newer_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE scenarios (
            key TEXT PRIMARY KEY, run_name TEXT NOT NULL, state TEXT NOT NULL, run_id TEXT,
            status TEXT, result_location TEXT, error TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            polls INTEGER NOT NULL DEFAULT 0, run_duration REAL, submitted_at TEXT,
            finished_at TEXT, detected_at TEXT, updated_at TEXT NOT NULL,
            session INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO meta VALUES ('app_id', 'old-app'), ('batch_tag', 'old'), ('session', '1');
        INSERT INTO scenarios (key, run_name, state, attempts, updated_at, session)
            VALUES ('a', 'old/a', 'submitting', 1, '2026-01-01T00:00:00+00:00', 1);
        """
    )
    conn.close()
    async with Journal(path, lock=False) as reader:  # read as it is (status)
        row = await reader.get("a")
        assert row is not None and row.post_deadline is None
    async with Journal(path) as journal:
        assert (await journal.meta())["schema"] == str(SCHEMA_VERSION)
        await journal.update("a", post_deadline=datetime.fromisoformat("2026-01-01T00:01:00Z"))
        row = await journal.get("a")
        assert row is not None and row.state == "submitting" and row.post_deadline is not None
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value = '99' WHERE name = 'schema'")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="newer asyncrun"):
        await Journal(path).open()


def test_submit_margin_must_not_be_negative() -> None:
    async def run() -> None:
        await run_batch_all(FakeApplication(), scenarios(1), submit_margin=-1.0)

    with pytest.raises(ConfigError, match="submit_margin"):
        asyncio.run(run())
