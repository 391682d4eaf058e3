"""Batch-wide failures stop the batch at once (BatchAbortedError), cost at most max_in_flight
POSTs, cancel nothing and leave the journal resumable; one scenario's own failure does not."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from asyncrun import AsyncClient, BatchAbortedError, RetryPolicy, Scenario
from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.runner import run_batch_all
from asyncrun.emulator import Emulator
from asyncrun.errors import AuthenticationError, CertificateVerifyError, NotFoundError
from asyncrun.models import Run

from .conftest import FAST, fast_client
from .fakes import FakeApplication

Factory = Callable[..., AbstractAsyncContextManager[Emulator]]
POST_RUNS = "POST /v1/applications/{app_id}/runs"


def scenarios(count: int) -> Iterator[Scenario]:
    return (Scenario(key=f"s{i:05d}", input={"i": i}) for i in range(count))


def journal_rows(path: Path) -> list[tuple[str, str | None, str | None]]:
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute("SELECT state, status, error FROM scenarios"))
    finally:
        conn.close()


def assert_resumable(path: Path) -> None:
    """No scenario was finished or marked with an error by the stop."""
    rows = journal_rows(path)
    assert rows, "the journal has the scenarios that were started"
    assert {state for state, _, _ in rows} <= {"pending", "submitting"}
    assert [error for _, _, error in rows if error] == []


async def test_a_wrong_key_on_10000_scenarios_sends_at_most_max_in_flight_posts(
    emulator: Emulator, tmp_path: Path
) -> None:
    journal = tmp_path / "j.db"
    async with AsyncClient("wrong-key", emulator.url, limits=fast_client("").limits) as client:
        app = client.application("ff-app")
        with pytest.raises(BatchAbortedError) as caught:
            await run_batch_all(
                app, scenarios(10_000), max_in_flight=100, journal=journal, polling_options=FAST
            )
    error = caught.value
    assert error.reason == "authentication"
    assert isinstance(error.cause, AuthenticationError) and error.__cause__ is error.cause
    assert "API key was refused" in str(error) and "NEXTMV_API_KEY" in str(error)
    assert "wrong-key" not in str(error)
    posts = emulator.stats()["requests"][POST_RUNS]
    assert set(posts) == {"401"} and 1 <= posts["401"] <= 100
    assert emulator.stats()["runs_created"] == 0
    assert len(journal_rows(journal)) <= 100  # nothing pulled beyond the slots
    assert_resumable(journal)


async def test_after_the_key_is_fixed_the_same_journal_finishes_every_scenario_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    journal = tmp_path / "j.db"
    async with AsyncClient("wrong-key", emulator.url, limits=fast_client("").limits) as client:
        with pytest.raises(BatchAbortedError):
            await run_batch_all(
                client.application("ff-app"), scenarios(30), max_in_flight=10, journal=journal
            )
    async with fast_client(emulator.url) as client:
        outcomes = await run_batch_all(
            client.application("ff-app"),
            scenarios(30),
            max_in_flight=10,
            journal=journal,
            polling_options=FAST,
        )
    assert [o.status for o in outcomes] == ["succeeded"] * 30
    assert sorted(emulator.stats()["runs_per_name"].values()) == [1] * 30


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens there once the socket is closed


async def test_an_endpoint_that_cannot_be_reached_stops_the_batch(tmp_path: Path) -> None:
    journal = tmp_path / "j.db"
    retry = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.01)
    url = f"http://127.0.0.1:{closed_port()}"
    async with fast_client(url, retry=retry) as client:
        with pytest.raises(BatchAbortedError) as caught:
            await run_batch_all(
                client.application("ff-app"),
                scenarios(500),
                max_in_flight=20,
                journal=journal,
                unreachable_after=0.3,
            )
    error = caught.value
    assert error.reason == "unreachable"
    assert f"{url} could not be reached for" in str(error)
    assert "--url" in str(error)
    assert len(journal_rows(journal)) <= 20
    assert_resumable(journal)


# ---------------------------------------------------------------------- a fake application


class Refusing(FakeApplication):
    """Answers POST runs with `post_error` for the scenarios `refuse(name)` picks, and the
    listing of runs with `list_error` (None: an empty listing)."""

    def __init__(
        self,
        post_error: Exception,
        *,
        list_error: Exception | None = None,
        refuse: Callable[[str], bool] = lambda name: True,
    ) -> None:
        super().__init__()
        self.post_error = post_error
        self.list_error = list_error
        self.refuse = refuse
        self.posts = 0
        self.listings = 0

    async def new_run(self, **kwargs: Any) -> str:
        self.posts += 1
        if self.refuse(kwargs.get("name") or ""):
            raise self.post_error
        return await super().new_run(**kwargs)

    async def find_runs_by_name(
        self, name: str, *, created_after: datetime | None = None
    ) -> list[Run]:
        self.listings += 1
        if self.list_error is not None:
            raise self.list_error
        return []


def not_found(what: str) -> NotFoundError:
    return NotFoundError(
        f"POST http://127.0.0.1:9/v1/applications/fake-app/{what} failed",
        status_code=404,
        url=f"http://127.0.0.1:9/v1/applications/fake-app/{what}",
    )


async def test_a_404_confirmed_by_the_listing_is_an_unknown_application(tmp_path: Path) -> None:
    app = Refusing(not_found("runs"), list_error=not_found("runs"))
    with pytest.raises(BatchAbortedError) as caught:
        await run_batch_all(app, scenarios(1000), max_in_flight=25, journal=tmp_path / "j.db")
    assert caught.value.reason == "unknown_application"
    assert "application 'fake-app' does not exist at http://127.0.0.1:9" in str(caught.value)
    assert app.posts <= 25
    assert app.listings == 1  # one listing answers every 404 that came meanwhile
    assert_resumable(tmp_path / "j.db")


async def test_a_404_on_an_application_that_exists_is_that_scenarios_error(
    tmp_path: Path,
) -> None:
    # e.g. an unknown instance named by one scenario: the application lists fine.
    app = Refusing(not_found("runs"), refuse=lambda name: name.endswith("s00007"))
    outcomes = await run_batch_all(app, scenarios(40), max_in_flight=10, polling_options=FAST)
    errors = [(o.key, o.status) for o in outcomes if o.status != "succeeded"]
    assert errors == [("s00007", "error")]
    assert app.listings == 1


async def test_an_untrusted_certificate_stops_the_batch_at_once(tmp_path: Path) -> None:
    untrusted = CertificateVerifyError(
        "POST https://127.0.0.1:9/v1/applications/fake-app/runs: the TLS certificate of "
        "127.0.0.1:9 is not trusted (self-signed certificate)",
        host="127.0.0.1:9",
        reason="self-signed certificate",
        url="https://127.0.0.1:9/v1/applications/fake-app/runs",
    )
    app = Refusing(untrusted)
    with pytest.raises(BatchAbortedError) as caught:
        await run_batch_all(app, scenarios(1000), max_in_flight=25, journal=tmp_path / "j.db")
    assert caught.value.reason == "unreachable"
    assert "TLS certificate of 127.0.0.1:9 is not trusted (self-signed certificate)" in str(
        caught.value
    )
    assert "--ca-file" in str(caught.value)
    assert app.posts <= 25
    assert_resumable(tmp_path / "j.db")


async def test_an_outage_while_runs_are_polled_stops_the_batch_and_keeps_them(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    journal = tmp_path / "j.db"
    retry = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.01)
    counters = BatchCounters()
    long_runs = (
        Scenario(key=f"s{i}", input={"i": i}, options={"emulator.duration": "600"})
        for i in range(10)
    )
    emulator = emulator_factory()
    emu = await emulator.__aenter__()
    stopped = False
    try:
        async with fast_client(emu.url, retry=retry) as client:
            batch = asyncio.ensure_future(
                run_batch_all(
                    client.application("ff-app"),
                    long_runs,
                    journal=journal,
                    polling_options=FAST,
                    counters=counters,
                    unreachable_after=0.5,
                )
            )
            while counters.running < 10:  # every run submitted and being polled
                assert not batch.done()
                await asyncio.sleep(0.01)
            await emulator.__aexit__(None, None, None)  # the endpoint goes away
            stopped = True
            with pytest.raises(BatchAbortedError) as caught:
                await asyncio.wait_for(batch, 60)
    finally:
        if not stopped:
            await emulator.__aexit__(None, None, None)
    assert caught.value.reason == "unreachable"
    rows = journal_rows(journal)
    assert [state for state, _, _ in rows] == ["submitted"] * 10  # re-attached on resume
    assert [error for _, _, error in rows if error] == []


async def test_an_unknown_application_stops_the_batch(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    """Against an emulator that answers 404 for an app nobody created (as the cloud does), the
    batch stops after at most `max_in_flight` POSTs and one confirming listing, creates nothing
    and leaves the journal resumable."""
    journal = tmp_path / "j.db"
    async with emulator_factory(auto_create_apps=False) as emu, fast_client(emu.url) as client:
        with pytest.raises(BatchAbortedError) as caught:
            await run_batch_all(
                client.application("no-such-app"),
                scenarios(1000),
                max_in_flight=50,
                journal=journal,
                polling_options=FAST,
            )
        stats = emu.stats()
    assert caught.value.reason == "unknown_application"
    assert isinstance(caught.value.cause, NotFoundError)
    assert f"application 'no-such-app' does not exist at {emu.url} (404)" in str(caught.value)
    assert "--app-id" in str(caught.value)
    assert set(stats["requests"][POST_RUNS]) == {"404"}
    assert stats["requests"][POST_RUNS]["404"] <= 50
    assert stats["requests"]["GET /v1/applications/{app_id}/runs"] == {"404": 1}
    assert stats["runs_created"] == 0
    assert_resumable(journal)
