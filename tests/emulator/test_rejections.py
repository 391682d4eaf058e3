"""Every refusal the emulator owes a client: storage like S3, auth, sizes, ids."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from urllib.parse import urlsplit

import aiohttp
import pytest
from yarl import URL

from asyncrun.emulator import Emulator

APP = "/v1/applications/test-app"
AUTH = {"Authorization": "Bearer test-key"}
Factory = Callable[..., AbstractAsyncContextManager[Emulator]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers=AUTH) as session:
        yield session


@pytest.fixture
async def bare() -> AsyncIterator[aiohttp.ClientSession]:
    """A session that adds no Authorization and no automatic Content-Type (like the SDK's PUT)."""
    async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as session:
        yield session


async def upload_url(http: aiohttp.ClientSession, emu: Emulator) -> str:
    async with http.post(f"{emu.url}{APP}/runs/uploadurl") as resp:
        url: str = (await resp.json())["upload_url"]
        return url


async def raw_request(emu: Emulator, head: str) -> tuple[int, bytes]:
    """Send a hand-written request (for what aiohttp will not send) and read the status."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(emu.url.rsplit(":", 1)[1]))
    try:
        writer.write(head.encode())
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 10)
        rest = await asyncio.wait_for(reader.read(4096), 10)
        return int(status_line.split()[1]), rest
    finally:
        writer.close()
        await writer.wait_closed()


async def test_chunked_upload_is_refused_with_501(
    emulator: Emulator, http: aiohttp.ClientSession, bare: aiohttp.ClientSession
) -> None:
    url = await upload_url(http, emulator)

    async def body() -> AsyncIterator[bytes]:
        yield b"part one"
        yield b"part two"

    async with bare.put(url, data=body()) as resp:
        assert resp.request_info.headers.get("Transfer-Encoding") == "chunked"
        assert resp.status == 501
        assert "<Code>NotImplemented</Code>" in await resp.text()
    assert emulator.stats()["bytes_stored"] == 0


async def test_upload_without_content_length_is_refused_with_411(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    url = urlsplit(await upload_url(http, emulator))
    status, body = await raw_request(
        emulator,
        f"PUT {url.path}?{url.query} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    )
    assert status == 411
    assert b"MissingContentLength" in body


async def test_upload_with_content_type_is_refused_with_403(
    emulator: Emulator, http: aiohttp.ClientSession, bare: aiohttp.ClientSession
) -> None:
    url = await upload_url(http, emulator)
    headers = {"Content-Type": "application/json"}
    async with bare.put(url, data=b"{}", headers=headers) as resp:
        assert resp.status == 403
    async with bare.put(url, data=b"{}") as resp:
        assert resp.status == 200


async def test_tampered_urls_are_refused_with_403(
    emulator: Emulator, http: aiohttp.ClientSession, bare: aiohttp.ClientSession
) -> None:
    url = await upload_url(http, emulator)
    parts = urlsplit(url)
    signature = parts.query.rsplit("=", 1)[1]
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    tampered = {
        "signature": url.replace(signature, flipped),
        "key": url.replace("/uploads/upload-", "/uploads/uplaod-"),
        "expiry": url.replace("expires=", "expires=9"),
        "no query": url.split("?")[0],
    }
    for what, bad_url in tampered.items():
        async with bare.put(bad_url, data=b"x") as resp:
            assert resp.status == 403, what
    # A PUT signature does not allow a GET of the same key.
    async with bare.put(url, data=b"x") as resp:
        assert resp.status == 200
    async with bare.get(url) as resp:
        assert resp.status == 403


async def test_expired_url_is_refused_with_403(
    emulator_factory: Factory, http: aiohttp.ClientSession, bare: aiohttp.ClientSession
) -> None:
    async with emulator_factory(url_ttl=0.001) as emu:
        url = await upload_url(http, emu)
        await asyncio.sleep(1.1)  # past the whole second the expiry is rounded to
        async with bare.put(url, data=b"x") as resp:
            assert resp.status == 403
            assert "expired" in await resp.text()


async def test_upload_over_the_cap_is_refused(
    emulator_factory: Factory, http: aiohttp.ClientSession, bare: aiohttp.ClientSession
) -> None:
    async with emulator_factory(upload_cap=1000) as emu:
        url = await upload_url(http, emu)
        async with bare.put(url, data=b"x" * 1001) as resp:
            assert resp.status == 400
            assert "EntityTooLarge" in await resp.text()
        async with bare.put(url, data=b"x" * 1000) as resp:
            assert resp.status == 200
        assert emu.stats()["bytes_stored"] == 1000


async def test_inline_input_over_5_mib_is_refused_with_413(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    just_over = {"input": {"s": "a" * (5 * 2**20)}}
    async with http.post(f"{emulator.url}{APP}/runs", json=just_over) as resp:
        assert resp.status == 413
        assert "5 MiB" in (await resp.json())["error"]
    far_over = {"input": {"s": "a" * (7 * 2**20)}}
    async with http.post(f"{emulator.url}{APP}/runs", json=far_over) as resp:
        assert resp.status == 413
    assert emulator.stats()["runs_created"] == 0


async def test_api_needs_a_bearer_key(emulator: Emulator) -> None:
    path = f"{emulator.url}{APP}/runs"
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic dGVzdA=="}):
        async with aiohttp.ClientSession(headers=headers) as s, s.get(path) as resp:
            assert resp.status == 401
    wrong = {"Authorization": "Bearer not-the-key"}
    async with aiohttp.ClientSession(headers=wrong) as s, s.get(path) as resp:
        assert resp.status == 401
        assert "not-the-key" not in await resp.text()


async def test_any_key_is_accepted_without_a_configured_key(emulator_factory: Factory) -> None:
    async with (
        emulator_factory(api_key=None) as emu,
        aiohttp.ClientSession(headers={"Authorization": "Bearer whatever"}) as s,
        s.get(f"{emu.url}{APP}/runs") as resp,
    ):
        assert resp.status == 200


async def test_unknown_run_is_404(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    request_ids = set()
    for suffix in ("/metadata", "", "/output", "/input", "/logs"):
        async with http.get(f"{emulator.url}{APP}/runs/run-nope{suffix}") as resp:
            assert resp.status == 404, suffix
            assert "run-nope" in (await resp.json())["error"]
            request_ids.add(resp.headers["X-Request-Id"])
    assert len(request_ids) == 5
    async with http.patch(f"{emulator.url}{APP}/runs/run-nope/cancel") as resp:
        assert resp.status == 404


@pytest.mark.parametrize("app_id", ["ab", "Upper-app", "-lead", "trail.", "a" * 31, "sp_ace"])
async def test_bad_app_id_is_400(
    emulator: Emulator, http: aiohttp.ClientSession, app_id: str
) -> None:
    async with http.get(f"{emulator.url}/v1/applications/{app_id}/runs") as resp:
        assert resp.status == 400
        assert "application id" in (await resp.json())["error"]


@pytest.mark.parametrize("app_id", ["abc", "a.b-c", "a" * 30, "0x9"])
async def test_good_app_ids_are_accepted(
    emulator: Emulator, http: aiohttp.ClientSession, app_id: str
) -> None:
    async with http.get(f"{emulator.url}/v1/applications/{app_id}/runs") as resp:
        assert resp.status == 200


async def test_bad_run_requests_are_400(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    bodies = [
        {},
        {"input": None},
        {"upload_id": "upload-never-made"},
        {"input": {}, "options": {"n": 1}},
        {"input": {}, "options": {"emulator.duration": "soon"}},
        {"input": {}, "configuration": {"format": {"input": {"type": "xml"}}}},
        {"input_id": "managed-1"},
        {"input": {}, "result": {"status": "succeeded"}},
    ]
    for body in bodies:
        async with http.post(f"{emulator.url}{APP}/runs", json=body) as resp:
            assert resp.status == 400, body
    async with http.post(f"{emulator.url}{APP}/runs", data=b"{not json") as resp:
        assert resp.status == 400
    async with http.get(
        f"{emulator.url}{APP}/runs", params={"pagereturn": "true", "pagetoken": "zz"}
    ) as resp:
        assert resp.status == 400
    assert emulator.stats()["runs_created"] == 0


async def test_unsigned_storage_object_is_not_listed(
    emulator: Emulator, bare: aiohttp.ClientSession
) -> None:
    async with bare.get(f"{emulator.url}/_storage/uploads/anything") as resp:
        assert resp.status == 403
    async with bare.get(f"{emulator.url}/_storage/../etc/passwd") as resp:
        assert resp.status in (403, 404)


async def test_request_log_keeps_the_path_as_sent(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    url = f"{emulator.url}{APP}/runs/..%2Fx%3Fz%3D1/metadata"
    async with http.get(URL(url, encoded=True)) as resp:
        assert resp.status == 404
        assert "../x?z=1" in (await resp.json())["error"]
    last = emulator.stats()["recent_requests"][-1]
    assert last["path"] == f"{APP}/runs/..%2Fx%3Fz%3D1/metadata"
    assert last["query"] == {}


async def test_unknown_api_routes_answer_json(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{emulator.url}/v1/applications/test-app/nowhere") as resp:
        assert resp.status == 404
        assert (await resp.json())["error"] == "Not Found"
    async with http.put(f"{emulator.url}{APP}/runs") as resp:
        assert resp.status == 405
        assert "POST" in resp.headers["Allow"]
        assert "error" in await resp.json()
