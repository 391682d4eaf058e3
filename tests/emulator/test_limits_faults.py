"""The `realistic` rate profile and the seeded fault profile."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

import aiohttp
import pytest
from fake_clock import FakeClock

from asyncrun.emulator import Emulator, EmulatorConfig, FaultProfile
from asyncrun.emulator.limits import RateLimiter

APP = "/v1/applications/test-app"
AUTH = {"Authorization": "Bearer test-key"}
Factory = Callable[..., AbstractAsyncContextManager[Emulator]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


async def create(
    http: aiohttp.ClientSession, emu: Emulator, name: str = ""
) -> aiohttp.ClientResponse:
    async with http.post(f"{emu.url}{APP}/runs", json={"input": {}, "name": name}) as resp:
        await resp.read()
        return resp


def _still_buckets(emu: Emulator) -> FakeClock:
    """The emulator's rate buckets on a clock that moves only when the test moves it: no token
    refills while a (possibly loaded) machine takes its time over the requests."""
    clock = FakeClock()
    emu.state.limiter = RateLimiter(emu.state.config.rate_profile, clock=clock)
    return clock


async def test_realistic_profile_limits_run_creation_to_5_per_second(
    emulator_factory: Factory, http: aiohttp.ClientSession
) -> None:
    async with emulator_factory(rate_profile="realistic") as emu:
        clock = _still_buckets(emu)
        answers = [await create(http, emu) for _ in range(10)]
        clock.now += 0.21  # one token back (5 a second)
        again = [await create(http, emu) for _ in range(2)]
        stats = emu.stats()
    assert [r.status for r in answers] == [200] * 5 + [429] * 5
    assert [int(r.headers["Retry-After"]) for r in answers[5:]] == [1] * 5
    assert [r.status for r in again] == [200, 429]
    assert stats["rate_limited"] == {"create": 6}
    assert stats["runs_created"] == 6


async def test_realistic_profile_limits_results_but_not_metadata(
    emulator_factory: Factory, http: aiohttp.ClientSession
) -> None:
    async with emulator_factory(rate_profile="realistic") as emu:
        _still_buckets(emu)
        async with http.post(f"{emu.url}{APP}/runs", json={"input": {}}) as resp:
            run_id = (await resp.json())["run_id"]
        statuses = []
        for _ in range(210):  # 200 in the bucket, none refilled on the still clock
            async with http.get(f"{emu.url}{APP}/runs/{run_id}") as resp:
                statuses.append(resp.status)
        assert statuses == [200] * 200 + [429] * 10
        for _ in range(20):
            async with http.get(f"{emu.url}{APP}/runs/{run_id}/metadata") as resp:
                assert resp.status == 200
        assert set(emu.stats()["rate_limited"]) == {"result"}


async def test_unlimited_profile_never_limits(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    statuses = {(await create(http, emulator)).status for _ in range(30)}
    assert statuses == {200}


async def _outcomes(emu: Emulator, n: int) -> list[str]:
    """What a client sees for n POST uploadurl calls: a status code or 'dropped'.

    POST, because aiohttp silently retries an idempotent request once when its connection is
    dropped, which would hide drops from this count.
    """
    seen = []
    async with aiohttp.ClientSession(headers=AUTH) as http:
        for _ in range(n):
            try:
                async with http.post(f"{emu.url}{APP}/runs/uploadurl") as resp:
                    retry_after = resp.headers.get("Retry-After")
                    if resp.status == 429 and retry_after is None:
                        seen.append("429 bare")
                    else:
                        seen.append(str(resp.status))
                        assert retry_after == ("1" if resp.status == 429 else None)
            except aiohttp.ServerDisconnectedError:
                seen.append("dropped")
    return seen


async def test_faults_are_seeded_and_counted(emulator_factory: Factory) -> None:
    faults = FaultProfile(
        rate_429=0.1, rate_429_bare=0.05, rate_500=0.1, rate_502=0.05, rate_503=0.05, drop=0.1
    )
    config = EmulatorConfig(api_key="test-key", faults=faults, seed=7)
    async with emulator_factory(config) as emu:
        first = await _outcomes(emu, 200)
        counted = emu.stats()["faults"]
    async with emulator_factory(config) as emu:
        second = await _outcomes(emu, 200)
    async with emulator_factory(config.replace(seed=8)) as emu:
        other_seed = await _outcomes(emu, 200)
    assert first == second
    assert first != other_seed
    assert counted == {
        kind: first.count(seen)
        for kind, seen in [
            ("429", "429"),
            ("429_bare", "429 bare"),
            ("500", "500"),
            ("502", "502"),
            ("503", "503"),
            ("drop", "dropped"),
        ]
        if first.count(seen)
    }
    assert set(counted) == {"429", "429_bare", "500", "502", "503", "drop"}
    assert first.count("200") == 200 - sum(counted.values())


async def test_lost_create_makes_the_run_but_loses_the_answer(emulator_factory: Factory) -> None:
    async with emulator_factory(faults=FaultProfile(lost_create=1.0)) as emu:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await create(http, emu, name="batch/key-1")
            async with http.get(f"{emu.url}{APP}/runs") as resp:
                runs = (await resp.json())["runs"]
        assert [r["name"] for r in runs] == ["batch/key-1"]
        stats = emu.stats()
        assert stats["faults"] == {"lost_create": 1}
        assert stats["runs_per_name"] == {"batch/key-1": 1}
        assert stats["requests"]["POST /v1/applications/{app_id}/runs"] == {"0": 1}


async def test_late_create_drops_the_post_then_creates_the_run_later(
    emulator_factory: Factory,
) -> None:
    faults = FaultProfile(late_create=1.0, late_seconds=0.3)
    async with emulator_factory(faults=faults) as emu:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                await create(http, emu, name="batch/key-1")
            # Dropped and no run yet: a lookup now finds nothing (what a lookup must wait out).
            async with http.get(f"{emu.url}{APP}/runs") as resp:
                assert resp.status == 200  # a listing never draws the create-only fault
                assert (await resp.json())["runs"] == []
            assert emu.stats()["late_pending"] == 1
            await emu.state.late_creates_done()
            async with http.get(f"{emu.url}{APP}/runs") as resp:
                runs = (await resp.json())["runs"]
        assert [r["name"] for r in runs] == ["batch/key-1"]
        stats = emu.stats()
        assert stats["faults"] == {"late_create": 1}
        assert stats["late_created"] == 1
        assert stats["runs_per_name"] == {"batch/key-1": 1}
        assert stats["requests"]["POST /v1/applications/{app_id}/runs"] == {"0": 1}


async def test_late_create_of_an_invalid_request_creates_nothing(
    emulator_factory: Factory,
) -> None:
    faults = FaultProfile(late_create=1.0, late_seconds=0.0)
    async with emulator_factory(faults=faults) as emu:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            with pytest.raises(aiohttp.ServerDisconnectedError):
                async with http.post(f"{emu.url}{APP}/runs", json={"name": "no input"}):
                    pass
        await emu.state.late_creates_done()
        stats = emu.stats()
        assert (stats["late_created"], stats["runs_created"]) == (0, 0)


async def test_late_creates_still_pending_are_dropped_when_the_emulator_stops(
    emulator_factory: Factory,
) -> None:
    faults = FaultProfile(late_create=1.0, late_seconds=3600.0)
    async with emulator_factory(faults=faults) as emu:
        async with aiohttp.ClientSession(headers=AUTH) as http:
            for _ in range(3):
                with pytest.raises(aiohttp.ServerDisconnectedError):
                    await create(http, emu)
        assert emu.stats()["late_pending"] == 3
        state = emu.state
    assert state.snapshot()["late_pending"] == 0


async def test_slow_fault_still_answers(
    emulator_factory: Factory, http: aiohttp.ClientSession
) -> None:
    async with emulator_factory(faults=FaultProfile(slow=1.0, slow_seconds=0.05)) as emu:
        for _ in range(3):
            assert (await create(http, emu)).status == 200
        assert emu.stats()["faults"] == {"slow": 3}


async def test_faults_spare_storage_and_the_emulator_endpoints(
    emulator_factory: Factory,
) -> None:
    async with emulator_factory(faults=FaultProfile(rate_500=1.0)) as emu:
        async with aiohttp.ClientSession() as bare:
            async with bare.get(f"{emu.url}/_emulator/stats") as resp:
                assert resp.status == 200
            async with bare.post(f"{emu.url}/_emulator/reset-stats") as resp:
                assert resp.status == 200
        async with (
            aiohttp.ClientSession(headers=AUTH) as http,
            http.get(f"{emu.url}{APP}/runs") as resp,
        ):
            assert resp.status == 500
        upload_url = emu.state.storage.presign(emu.url, "PUT", "uploads/direct")
        async with (
            aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as bare,
            bare.put(upload_url, data=b"abc") as resp,
        ):
            assert resp.status == 200
        assert emu.stats()["faults"] == {"500": 1}


def test_fault_rates_must_add_up_to_at_most_one() -> None:
    with pytest.raises(ValueError, match="at most 1"):
        FaultProfile(rate_500=0.6, drop=0.5)
    with pytest.raises(ValueError, match="at most 1"):
        FaultProfile(rate_429=-0.1)


def test_realistic_general_bucket_allows_2000_then_asks_to_wait() -> None:
    """2000 requests a minute: the clock stands still while the bucket empties (a loaded
    machine taking its time must not refill it), then a token comes back every 30 ms."""
    clock = FakeClock()
    limiter = RateLimiter("realistic", clock=clock)
    granted = [limiter.retry_after("general") for _ in range(2000)]
    waits = [limiter.retry_after("general") for _ in range(20)]
    clock.now += 3.01  # just over 100 tokens back
    refilled = [limiter.retry_after("general") for _ in range(101)]
    assert granted == [None] * 2000
    assert waits == [1] * 20  # a token is 30 ms away: Retry-After rounds up to a second
    assert refilled == [None] * 100 + [1]
    assert RateLimiter("unlimited").retry_after("general") is None


async def test_storage_faults_hit_presigned_urls_only(emulator_factory: Factory) -> None:
    faults = FaultProfile(storage_500=0.3, storage_drop=0.2)
    async with emulator_factory(faults=faults, seed=3) as emu:
        url = emu.state.storage.presign(emu.url, "PUT", "uploads/flaky")
        seen = []
        async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as bare:
            for _ in range(60):
                try:
                    async with bare.put(url, data=b"abc") as resp:
                        seen.append(str(resp.status))
                except aiohttp.ServerDisconnectedError:
                    seen.append("dropped")
        async with aiohttp.ClientSession(headers=AUTH) as http:
            for _ in range(20):
                async with http.post(f"{emu.url}{APP}/runs/uploadurl") as resp:
                    assert resp.status == 200
        stats = emu.stats()
    counted = stats["faults"]
    assert set(counted) == {"storage_500", "storage_drop"}
    # aiohttp retries a PUT once on a dropped connection, so drops are counted on the server.
    assert stats["requests"]["PUT /_storage/{key}"] == {
        "200": seen.count("200"),
        "500": seen.count("500"),
        "0": counted["storage_drop"],
    }
    assert counted["storage_500"] == seen.count("500")
    assert "POST /v1/applications/{app_id}/runs/uploadurl" in stats["requests"]
