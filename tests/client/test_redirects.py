"""Redirects of API calls, followed as requests follows them, end to end against the emulator's
`/_emulator/redirect/{status[@host]}/...` prefix (a client whose base URL carries it has every
call redirected to the real path): the method and body each status keeps, exactly one run for a
POST redirected with 307, no key for another origin, at most 10 hops."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from fake_clock import FakeClock

from asyncrun import (
    APITimeoutError,
    AuthenticationError,
    Limits,
    Rate,
    RateLimits,
    RedirectError,
    RetryPolicy,
    Timeouts,
    TooManyRedirects,
)
from asyncrun._redirects import first_hop, next_hop
from asyncrun.emulator import Emulator, EmulatorConfig, FaultProfile

from .conftest import FAST, KEY, digest, fast_client

PREFIX = "/_emulator/redirect/"
RUNS = "/v1/applications/redir-app/runs"


def redirected(emu: Emulator, *hows: str) -> str:
    """The emulator's URL behind one redirect per `how` (e.g. "307", "301@localhost")."""
    return emu.url + "".join(PREFIX + how for how in hows)


def recent(emu: Emulator, path: str) -> list[dict[str, Any]]:
    return [r for r in emu.stats()["recent_requests"] if r["path"].startswith(path)]


@pytest.mark.parametrize("status", ["307", "308"])
async def test_a_post_redirected_with_307_or_308_creates_one_run_with_its_body(
    emulator: Emulator, status: str
) -> None:
    data = {"items": list(range(50)), "name": "éa"}
    async with fast_client(redirected(emulator, status)) as client:
        app = client.application("redir-app")
        run_id = await app.new_run(input=data, name="only-one")
        result = await app.run_result_with_polling(run_id, polling_options=FAST)
    stats = emulator.stats()
    assert stats["runs_created"] == 1
    assert stats["runs_per_name"] == {"only-one": 1}
    assert result.output["input_digest"] == digest(data)
    redirect_route = "POST /_emulator/redirect/{how}/{rest}"
    assert stats["requests"][redirect_route] == {status: 1}
    (create,) = [r for r in recent(emulator, RUNS) if r["method"] == "POST"]
    assert create["json"]["input"] == data
    assert create["authorized"]  # the same origin: the key follows


@pytest.mark.parametrize("status", ["301", "302", "303"])
async def test_301_302_303_turn_a_post_into_a_get_without_its_body(
    emulator: Emulator, status: str
) -> None:
    body = json.dumps({"input": {"n": 1}}).encode()
    async with fast_client(redirected(emulator, status)) as client:
        answer = await client.transport.request(
            "POST", "v1/applications/redir-app/runs", bucket="create", idempotent=False, body=body
        )
    # The GET of the same path lists the runs: none was made.
    assert answer.status == 200 and json.loads(answer.body) == {"runs": []}
    assert emulator.stats()["runs_created"] == 0
    (followed,) = recent(emulator, RUNS)
    assert followed["method"] == "GET"
    assert "Content-Length" not in followed["headers"]


async def test_reads_and_the_whole_run_api_work_through_a_permanent_redirect(
    emulator: Emulator,
) -> None:
    async with fast_client(redirected(emulator, "308")) as client:
        app = client.application("redir-app")
        result = await app.new_run_with_result(input={"k": 3}, polling_options=FAST)
        listed = [run.id async for run in app.list_runs()]
    assert result.metadata.status_v2 == "succeeded"
    assert listed == [result.id]
    stats = emulator.stats()
    assert stats["runs_created"] == 1
    # Every call went to the redirect first, then to the real path (keep-alive: one connection).
    hops = sum(stats["requests"]["GET /_emulator/redirect/{how}/{rest}"].values())
    assert hops >= 2 and stats["connections"]["opened"] == 1


async def test_the_key_is_not_sent_to_another_host(emulator: Emulator) -> None:
    # 127.0.0.1 redirects to localhost (the same server under another name): another origin.
    async with fast_client(redirected(emulator, "307@localhost")) as client:
        app = client.application("redir-app")
        for _ in range(3):
            with pytest.raises(AuthenticationError) as caught:
                await app.run_metadata("run-1")
    assert caught.value.status_code == 401
    assert (
        caught.value.url
        == f"http://localhost:{emulator.port}/v1/applications/redir-app/runs/run-1/metadata"
    )
    first = recent(emulator, PREFIX)
    then = recent(emulator, RUNS)
    assert [r["authorized"] for r in first] == [True] * 3
    assert [r["authorized"] for r in then] == [False] * 3
    assert {r["headers"]["Host"] for r in then} == {f"localhost:{emulator.port}"}
    # One connection to each origin, kept alive for the next calls.
    assert emulator.stats()["connections"]["opened"] == 2


async def test_ten_hops_are_followed_and_the_eleventh_is_a_clear_error(
    emulator: Emulator,
) -> None:
    async with fast_client(redirected(emulator, *["307"] * 10)) as client:
        run_id = await client.application("redir-app").new_run(input={"n": 1})
    assert run_id and emulator.stats()["runs_created"] == 1
    emulator.reset_stats()
    async with fast_client(redirected(emulator, *["302"] * 11)) as client:
        with pytest.raises(TooManyRedirects) as caught:
            await client.application("redir-app").new_run(input={"n": 2})
    error = caught.value
    assert isinstance(error, RedirectError)
    assert "more than 10 times in a row" in str(error) and "\n" not in str(error)
    assert KEY not in str(error)
    stats = emulator.stats()
    assert stats["runs_created"] == 1  # the run of the 10 hops only
    assert sum(stats["requests"]["POST /_emulator/redirect/{how}/{rest}"].values()) == 1
    assert sum(stats["requests"]["GET /_emulator/redirect/{how}/{rest}"].values()) == 10


async def test_each_hop_is_retried_like_any_request(emulator_factory: Any) -> None:
    faults = FaultProfile(rate_503=0.4)
    config = EmulatorConfig(api_key=KEY, faults=faults, seed=3, time_scale=50)
    async with emulator_factory(config) as emu, fast_client(redirected(emu, "307")) as client:
        app = client.application("redir-app")
        for _ in range(10):
            page = await app.list_runs_page()
            assert page.runs == []
        stats = emu.stats()
    # The hop to the real path met injected 503s and was sent again; the redirect was not.
    assert stats["faults"]["503"] >= 1
    assert stats["requests"]["GET /v1/applications/{app_id}/runs"]["503"] >= 1
    assert stats["requests"]["GET /v1/applications/{app_id}/runs"]["200"] == 10
    assert stats["requests"]["GET /_emulator/redirect/{how}/{rest}"] == {"307": 10}


def test_the_rules_of_one_hop() -> None:
    hop = first_hop("https://api.example.com/base/v1/runs?x=1", "POST", b"{}")
    relative = next_hop(hop, 307, "../other?y=2")
    assert relative.url == "https://api.example.com/base/other?y=2"
    assert (relative.method, relative.body, relative.authorized) == ("POST", b"{}", True)
    assert next_hop(hop, 301, "/v1/x").method == "GET"
    assert next_hop(first_hop(hop.url, "PUT", b"a"), 301, "/v1/x").body == b"a"
    assert next_hop(first_hop(hop.url, "PUT", b"a"), 302, "/v1/x").method == "GET"
    assert next_hop(first_hop(hop.url, "HEAD", None), 303, "/v1/x").method == "HEAD"
    # Another port, scheme or host drops the key for good; http -> https on default ports keeps it.
    assert not next_hop(hop, 307, "https://api.example.com:8443/v1").authorized
    assert not next_hop(hop, 307, "http://api.example.com/v1").authorized
    back = next_hop(next_hop(hop, 307, "https://cdn.example.com/v1"), 307, hop.url)
    assert not back.authorized
    upgrade = first_hop("http://api.example.com/v1", "GET", None)
    assert next_hop(upgrade, 301, "https://api.example.com/v1").authorized
    assert next_hop(hop, 307, "https://api.example.com:443/v1").authorized
    # Nothing in a Location can break the request line: spaces and the like are encoded.
    assert next_hop(hop, 307, "/v1/a b\u00e9?q=x y").target == "/v1/a%20b%C3%A9?q=x%20y"


@pytest.mark.parametrize("location", ["ftp://files.example.com/x", "mailto:a@b", "http:///x"])
def test_a_location_that_is_not_http_is_refused(location: str) -> None:
    hop = first_hop("https://api.example.com/v1/runs?secret=1", "POST", b"{}")
    with pytest.raises(RedirectError) as caught:
        next_hop(hop, 302, location)
    assert "not http(s)" in str(caught.value)
    assert "secret" not in str(caught.value)


async def test_a_redirected_url_is_named_once_in_a_warning(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="asyncrun"):
        async with fast_client(redirected(emulator, "308")) as client:
            app = client.application("redir-app")
            for _ in range(3):
                await app.list_runs_page()
    warnings = [r.getMessage() for r in caplog.records if "redirected" in r.getMessage()]
    assert warnings == [
        f"API calls to {redirected(emulator, '308')}/ are redirected (308) to {emulator.url}/; "
        "pass that URL instead (--url, NEXTMV_ENDPOINT) to save a round trip per call"
    ]


async def test_each_hop_draws_from_the_rate_bucket_of_its_call(emulator: Emulator) -> None:
    clock = FakeClock()
    one_per_10s = RateLimits(create=Rate(count=1, per_seconds=10.0))
    client = fast_client(
        redirected(emulator, "307"),
        limits=Limits(max_connections=4, rate=one_per_10s),
        clock=clock,
        sleep=clock.sleep,
    )
    async with client:
        app = client.application("redir-app")
        for i in range(2):
            await app.new_run(input={"i": i})
    # Two calls of two hops each: four grants of a bucket of one per 10 s, the first at once.
    assert clock.now - 1000.0 == pytest.approx(30.0)
    assert emulator.stats()["runs_created"] == 2


async def test_connections_are_kept_for_a_few_other_origins_and_one_off_past_them(
    emulator: Emulator,
) -> None:
    # Six names of 127.0.0.1, six origins: the first four keep their connection, the last two
    # get a connection per call (a server's Locations must not grow the client without end).
    names = ["localhost", "127.1", "127.0.1", "2130706433", "0x7f000001", "0177.0.0.1"]
    async with fast_client(emulator.url) as client:
        for name in names:
            for _ in range(2):
                with pytest.raises(AuthenticationError):  # the key stays with 127.0.0.1
                    await client.transport.request(
                        "GET",
                        f"_emulator/redirect/307@{name}/v1/applications/redir-app/runs",
                        bucket="general",
                        idempotent=True,
                    )
    assert {r["headers"]["Host"].rsplit(":", 1)[0] for r in recent(emulator, RUNS)} == set(names)
    assert emulator.stats()["connections"]["opened"] == 1 + 4 + 2 * 2


async def test_a_hop_has_its_read_timeout_and_retries_and_can_be_cancelled(
    emulator_factory: Any,
) -> None:
    slow = FaultProfile(slow=1.0, slow_seconds=1.0)  # every /v1 answer comes a second late
    config = EmulatorConfig(api_key=KEY, faults=slow)
    async with emulator_factory(config) as emu:
        client = fast_client(
            redirected(emu, "307"),
            timeouts=Timeouts(read=0.2),
            retry=RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.01),
        )
        async with client:
            app = client.application("redir-app")
            with pytest.raises(APITimeoutError) as caught:
                await app.list_runs_page()
            assert caught.value.phase == "read"
            assert caught.value.url == f"{emu.url}{RUNS}?<redacted>"
            # Cancelled while the hop waits for its answer: nothing left checked out.
            task = asyncio.create_task(app.list_runs_page())
            async with asyncio.timeout(30):
                while len(recent(emu, RUNS)) < 3:  # noqa: ASYNC110 (the emulator's log says)
                    await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert client.transport.api_connections.in_use == 0
        stats = emu.stats()
    # The redirect answered at once (no fault off /v1); the hop was sent twice, then once more.
    assert stats["requests"]["GET /_emulator/redirect/{how}/{rest}"] == {"307": 2}
    assert len(recent(emu, RUNS)) == 3
