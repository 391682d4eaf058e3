"""The transport against a scripted server: the retry matrix, Retry-After, timeouts by phase,
presigned transfers, cancellation, connection hygiene and secrets."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from asyncrun import (
    AmbiguousSubmitError,
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    Limits,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RateLimits,
    RetryPolicy,
    ServerError,
    Timeouts,
    UnprocessableEntityError,
    UploadError,
)
from asyncrun.config import _Secret
from asyncrun.transport import Transport

from .fakes import BlockingSleep, FakeClock, cancel_and_wait
from .scripted_server import DROP, Reply, ScriptedServer

KEY = "sk-VERY-SECRET-KEY"
OK = Reply(200, body={"ok": True})

# name -> (method, path, idempotent, body)
KINDS: dict[str, tuple[str, str, bool, bytes | None]] = {
    "GET": ("GET", "/v1/r", True, None),
    "PATCH cancel": ("PATCH", "/v1/r/cancel", True, None),
    "DELETE": ("DELETE", "/v1/r", True, None),
    "POST uploadurl": ("POST", "/v1/runs/uploadurl", True, None),
    "POST runs": ("POST", "/v1/runs", False, b'{"input":{}}'),
}
SAFE = ["GET", "PATCH cancel", "DELETE", "POST uploadurl"]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_transport(url: str, clock: FakeClock | None = None, **kw: Any) -> Transport:
    clock = clock or FakeClock()
    return Transport(
        base_url=url,
        api_key=_Secret(KEY),
        timeouts=kw.pop("timeouts", Timeouts()),
        limits=kw.pop("limits", Limits(max_connections=10, rate=RateLimits.unlimited())),
        retry=kw.pop("retry", RetryPolicy()),
        clock=kw.pop("clock", clock),
        sleep=kw.pop("sleep", clock.sleep),
        **kw,
    )


def one_connection(url: str, *, pool: float, attempts: int) -> Transport:
    """A pool of one connection, no rate limit, the given pool timeout and attempts."""
    return make_transport(
        url,
        timeouts=Timeouts(pool=pool, read=5.0),
        limits=Limits(max_connections=1, rate=RateLimits.unlimited()),
        retry=RetryPolicy(max_attempts=attempts),
    )


@pytest.fixture
async def server() -> AsyncIterator[ScriptedServer]:
    async with ScriptedServer() as srv:
        yield srv


async def send(t: Transport, kind: str) -> Any:
    method, path, idempotent, body = KINDS[kind]
    return await t.request(method, path, bucket="general", idempotent=idempotent, body=body)


R429 = Reply(429, headers={"Retry-After": "0"})

# (script, kind) -> (requests the server saw, outcome: "ok" or the error class)
MATRIX: list[tuple[str, list[Any], str, int, Any]] = []
for kind in SAFE:
    MATRIX += [
        ("503 x5", [Reply(503)] * 5, kind, 5, ServerError),
        ("502 then ok", [Reply(502), OK], kind, 2, "ok"),
        ("504 x2 then ok", [Reply(504), Reply(504), OK], kind, 3, "ok"),
        ("500", [Reply(500)], kind, 1, ServerError),
        ("429 x5", [R429] * 5, kind, 5, RateLimitError),
        ("429 then ok", [R429, OK], kind, 2, "ok"),
        ("drop then ok", [DROP, OK], kind, 2, "ok"),
        ("drop x5", [DROP] * 5, kind, 5, APIConnectionError),
    ]
MATRIX += [
    ("503", [Reply(503), OK], "POST runs", 1, ServerError),
    ("502", [Reply(502), OK], "POST runs", 1, ServerError),
    ("504", [Reply(504), OK], "POST runs", 1, ServerError),
    ("500", [Reply(500), OK], "POST runs", 1, ServerError),
    ("429 then ok", [R429, OK], "POST runs", 2, "ok"),
    ("429 x5", [R429] * 5, "POST runs", 5, RateLimitError),
    ("drop after send", [DROP, OK], "POST runs", 1, AmbiguousSubmitError),
]
for status, cls in [
    (400, BadRequestError),
    (401, AuthenticationError),
    (403, PermissionDeniedError),
    (404, NotFoundError),
    (409, ConflictError),
    (422, UnprocessableEntityError),
]:
    MATRIX += [(str(status), [Reply(status), OK], k, 1, cls) for k in ("GET", "POST runs")]


@pytest.mark.parametrize(
    ("label", "script", "kind", "attempts", "outcome"),
    MATRIX,
    ids=[f"{kind}: {label}" for label, _, kind, _, _ in MATRIX],
)
async def test_retry_matrix(
    server: ScriptedServer, label: str, script: list[Any], kind: str, attempts: int, outcome: Any
) -> None:
    method, path, _, _ = KINDS[kind]
    server.script(method, path, *script)
    t = make_transport(server.url)
    await t.open()
    try:
        if outcome == "ok":
            resp = await send(t, kind)
            assert resp.status == 200
        else:
            with pytest.raises(outcome) as err:
                await send(t, kind)
            assert type(err.value) is outcome
        assert len(server.calls(method, path)) == attempts
        assert t.session.connector is not None
        assert len(t.session.connector._acquired) == 0  # no connection left checked out
    finally:
        await t.close()


@pytest.mark.parametrize("kind", ["GET", "POST runs"])
async def test_connect_refused_is_retried_for_every_method(
    kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    t = make_transport(f"http://127.0.0.1:{closed_port()}")
    await t.open()
    with (
        caplog.at_level(logging.WARNING, logger="asyncrun"),
        pytest.raises(APIConnectionError) as err,
    ):
        await send(t, kind)
    await t.close()
    assert type(err.value) is APIConnectionError and "could not connect" in str(err.value)
    assert sum("retrying" in r.getMessage() for r in caplog.records) == 4  # 5 attempts


@pytest.mark.parametrize(
    ("kind", "attempts", "error"),
    [
        ("GET", 2, APITimeoutError),
        ("POST runs", 1, AmbiguousSubmitError),
    ],
)
async def test_read_timeout(
    server: ScriptedServer, kind: str, attempts: int, error: type[Exception]
) -> None:
    method, path, _, _ = KINDS[kind]
    server.script(method, path, default=Reply(200, delay=0.5))
    t = make_transport(server.url, timeouts=Timeouts(read=0.05), retry=RetryPolicy(max_attempts=2))
    await t.open()
    with pytest.raises(error) as err:
        await send(t, kind)
    await t.close()
    assert type(err.value) is error
    if isinstance(err.value, APITimeoutError):
        assert err.value.phase == "read"
    assert len(server.calls(method, path)) == attempts


async def test_pool_wait_is_its_own_timeout_phase(server: ScriptedServer) -> None:
    server.script("GET", "/v1/slow", Reply(200, delay=0.5))
    t = one_connection(server.url, pool=0.05, attempts=2)
    await t.open()
    slow = asyncio.ensure_future(t.request("GET", "v1/slow", bucket="general", idempotent=True))
    await server.arrived("GET", "/v1/slow")  # it holds the only connection slot
    with pytest.raises(APITimeoutError) as err:
        await t.request("GET", "v1/r", bucket="general", idempotent=True)
    assert err.value.phase == "pool"
    assert (await slow).status == 200
    assert len(server.calls("GET", "/v1/r")) == 0  # never sent
    await t.close()


async def test_a_long_queue_that_moves_is_not_a_pool_timeout(server: ScriptedServer) -> None:
    """Issue 17: every run of a batch in flight queues thousands of POSTs for the pool; the
    ones at the back waited longer than the pool timeout while slots kept changing hands, and
    failed (with their retries) as APITimeoutError(pool). Here 80 submissions queue for one
    connection (about 1 s of work in all, each answer 10 ms, a pool timeout of 0.3 s) and
    none may be retried: every one is sent, once, in the order it was asked."""
    server.script("POST", "/v1/runs", default=Reply(200, body={"id": "r"}, delay=0.01))
    t = one_connection(server.url, pool=0.3, attempts=1)
    await t.open()
    bodies = [b'{"n":%d}' % i for i in range(80)]
    answers = await asyncio.gather(
        *(
            t.request("POST", "v1/runs", bucket="general", idempotent=False, body=body)
            for body in bodies
        ),
        return_exceptions=True,
    )
    await t.close()
    failed = [a for a in answers if isinstance(a, BaseException)]
    assert failed == []
    assert [call.body for call in server.calls("POST", "/v1/runs")] == bodies


async def test_an_express_request_does_not_queue_behind_a_full_pool(
    server: ScriptedServer,
) -> None:
    """The pool's one connection is held by a slow answer; an express request (a page of the
    run list) is answered meanwhile, a plain one waits for the connection."""
    # Slow beyond any loaded machine's page answer (cancelled at the end; the teardown cuts it).
    server.script("GET", "/v1/slow", Reply(200, delay=60.0))
    server.script("GET", "/v1/b", Reply(200, body={"runs": []}))
    t = make_transport(server.url, limits=Limits(max_connections=1, rate=RateLimits.unlimited()))
    await t.open()
    slow = asyncio.ensure_future(t.request("GET", "v1/slow", bucket="general", idempotent=True))
    for _ in range(10_000):  # until the slow request holds the pool's connection
        if server.calls("GET", "/v1/slow"):
            break
        await asyncio.sleep(0.001)
    plain = asyncio.ensure_future(t.request("GET", "v1/a", bucket="general", idempotent=True))
    page = await t.request("GET", "v1/b", bucket="general", idempotent=True, express=True)
    assert page.status == 200 and not plain.done()
    assert server.calls("GET", "/v1/a") == []
    slow.cancel()
    plain.cancel()
    await asyncio.gather(slow, plain, return_exceptions=True)
    await t.close()


@pytest.mark.parametrize(
    ("header", "expected_sleep"),
    [("2", 2.0), ("0", 0.0), ("-5", 0.0), ("100000", 60.0), ("garbage", None)],
)
async def test_retry_after_on_503_drives_the_sleep(
    server: ScriptedServer, header: str, expected_sleep: float | None
) -> None:
    server.script("GET", "/v1/r", Reply(503, headers={"Retry-After": header}), OK)
    clock = FakeClock()
    t = make_transport(server.url, clock, retry=RetryPolicy(initial_delay=0.5, max_delay=8.0))
    await t.open()
    await send(t, "GET")
    await t.close()
    assert len(clock.sleeps) == 1
    if expected_sleep is None:  # unusable header: full-jitter backoff, attempt 0
        assert 0.0 <= clock.sleeps[0] <= 0.5
    else:
        assert clock.sleeps[0] == expected_sleep


async def test_429_cooldown_pauses_all_senders(server: ScriptedServer) -> None:
    server.script("GET", "/v1/a", Reply(429, headers={"Retry-After": "7"}), OK)
    server.script("GET", "/v1/b", default=OK)
    clock = FakeClock()
    t = make_transport(server.url, clock)
    await t.open()
    await t.request("GET", "v1/a", bucket="general", idempotent=True)
    assert clock.sleeps == [7.0]
    # the cool-down is over now; a 429 without Retry-After uses the default exponential pause
    server.script("GET", "/v1/a", Reply(429), Reply(429), OK)
    await t.request("GET", "v1/a", bucket="general", idempotent=True)
    assert clock.sleeps[1:] == [0.5, 1.0]
    await t.close()


async def test_rate_bucket_spaces_requests(server: ScriptedServer) -> None:
    from asyncrun.config import Rate

    server.script("POST", "/v1/runs", default=OK)
    clock = FakeClock()
    rates = RateLimits(create=Rate(count=2, per_seconds=1.0))
    t = make_transport(server.url, clock, limits=Limits(rate=rates))
    await t.open()
    for _ in range(5):
        await t.request("POST", "v1/runs", bucket="create", idempotent=False, body=b"{}")
    await t.close()
    assert len(server.calls("POST")) == 5
    assert clock.now - 1000.0 == pytest.approx(2.0)  # slots at 0, 0, 1, 1, 2


async def test_request_id_kept_on_errors(server: ScriptedServer) -> None:
    server.script("GET", "/v1/r", Reply(404, headers={"x-request-id": "req-42"}, body="nope"))
    t = make_transport(server.url)
    await t.open()
    with pytest.raises(NotFoundError) as err:
        await send(t, "GET")
    await t.close()
    assert err.value.request_id == "req-42" and "req-42" in str(err.value)


async def test_api_headers_and_query(server: ScriptedServer) -> None:
    server.script("GET", "/base/v1/r", OK)
    t = make_transport(server.url + "/base")
    await t.open()
    await t.request("GET", "v1/r", bucket="general", idempotent=True, params={"a": "x y"})
    await t.close()
    [call] = server.requests
    assert call.path == "/base/v1/r" and call.query == {"a": "x y"}
    assert call.headers["Authorization"] == f"Bearer {KEY}"
    assert call.headers["Content-Type"] == "application/json"


# ------------------------------------------------------------------- presigned transfers


async def test_put_presigned_headers_and_body_factory_per_attempt(server: ScriptedServer) -> None:
    server.script("PUT", "/_storage/k", Reply(503), Reply(200))
    made: list[int] = []

    def body() -> bytes:
        made.append(1)
        return b"x" * 1000

    t = make_transport(server.url)
    await t.open()
    await t.put_presigned(f"{server.url}/_storage/k?sig=abc", body, 1000)
    await t.close()
    assert len(made) == 2
    for call in server.calls("PUT"):
        assert call.body == b"x" * 1000
        assert call.headers["Content-Length"] == "1000"
        assert "Authorization" not in call.headers
        assert "Content-Type" not in call.headers
        assert "Transfer-Encoding" not in call.headers
        assert call.query == {"sig": "abc"}


async def test_storage_500_is_retried_for_put_and_get(server: ScriptedServer) -> None:
    # S3 asks clients to retry its 500 InternalError; a presigned transfer is idempotent.
    server.script("PUT", "/_storage/k", Reply(500, body="InternalError"), Reply(200))
    server.script("GET", "/_storage/k", Reply(500), Reply(200, body=b"ok"))
    t = make_transport(server.url)
    await t.open()
    await t.put_presigned(f"{server.url}/_storage/k?sig=abc", lambda: b"ab", 2)
    async with t.stream_presigned(f"{server.url}/_storage/k?sig=abc") as chunks:
        got = b"".join([chunk async for chunk in chunks])
    await t.close()
    assert got == b"ok"
    assert (len(server.calls("PUT")), len(server.calls("GET"))) == (2, 2)


async def test_put_presigned_403_is_upload_error_without_query(server: ScriptedServer) -> None:
    server.script("PUT", "/_storage/k", Reply(403, body="expired"))
    t = make_transport(server.url)
    await t.open()
    with pytest.raises(UploadError) as err:
        await t.put_presigned(f"{server.url}/_storage/k?sig=SIGSECRET", lambda: b"ab", 2)
    await t.close()
    assert err.value.status_code == 403 and len(server.calls("PUT")) == 1
    assert "SIGSECRET" not in str(err.value) and "SIGSECRET" not in repr(err.value)
    assert "expired" in str(err.value)


async def test_stream_presigned_chunks_without_auth(server: ScriptedServer) -> None:
    blob = bytes(range(256)) * 1000
    server.script("GET", "/_storage/out", Reply(502), Reply(200, body=blob))
    t = make_transport(server.url)
    await t.open()
    got = bytearray()
    async with t.stream_presigned(f"{server.url}/_storage/out?sig=1") as chunks:
        async for chunk in chunks:
            got += chunk
    assert bytes(got) == blob
    assert all("Authorization" not in c.headers for c in server.calls("GET"))
    assert len(t.session.connector._acquired) == 0  # type: ignore[union-attr]
    await t.close()


# ------------------------------------------------------------------- cancellation


async def test_cancel_during_retry_sleep_is_not_swallowed(server: ScriptedServer) -> None:
    """A cancellation landing in the 5 s Retry-After pause (an asyncio cancel, then an anyio
    cancel scope) ends the request: one attempt each, and the cancelled tasks are over, so no
    retry can follow."""
    server.script("GET", "/v1/r", default=Reply(503, headers={"Retry-After": "5"}))
    sleep = BlockingSleep()
    t = Transport(
        base_url=server.url,
        api_key=_Secret(KEY),
        timeouts=Timeouts(),
        limits=Limits(rate=RateLimits.unlimited()),
        retry=RetryPolicy(),
        sleep=sleep,
    )
    await t.open()
    request = asyncio.ensure_future(send(t, "GET"))
    await sleep.entered.wait()  # the first attempt failed; waiting out Retry-After
    assert await cancel_and_wait(request)
    sleep.entered.clear()

    async def in_a_cancel_scope() -> None:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(send, t, "GET")
            await sleep.entered.wait()
            tasks.cancel_scope.cancel()

    scoped = asyncio.ensure_future(in_a_cancel_scope())
    await asyncio.wait({scoped}, timeout=30)  # a swallowed cancel would retry on: no hang
    assert scoped.done()
    assert len(server.calls("GET")) == 2  # exactly one attempt each, no retry after cancel
    assert sleep.sleeps == [5.0, 5.0] and sleep.cancelled == 2
    await t.close()


async def test_closed_after_use_and_using_closed_transport_is_config_error(
    server: ScriptedServer,
) -> None:
    from asyncrun import ConfigError

    server.script("GET", "/v1/r", Reply(500))
    t = make_transport(server.url)
    await t.open()
    session = t.session
    with pytest.raises(ServerError):
        await send(t, "GET")
    await t.close()
    assert session.closed and session.connector is None
    with pytest.raises(ConfigError):
        await send(t, "GET")


# ------------------------------------------------------------------- secrets


async def test_no_secret_in_errors_or_logs(
    server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.script("GET", "/v1/r", Reply(503), DROP, Reply(401, body="bad key"))
    server.script("POST", "/v1/runs", DROP)
    server.script("PUT", "/_storage/k", Reply(503), Reply(403))
    server.script("GET", "/_storage/k", Reply(404))
    t = make_transport(server.url)
    await t.open()
    errors: list[BaseException] = []
    presigned = f"{server.url}/_storage/k?X-Signature=SIGSECRET"
    with caplog.at_level(logging.DEBUG):
        for call in (
            lambda: send(t, "GET"),
            lambda: send(t, "POST runs"),
            lambda: t.put_presigned(presigned, lambda: b"a", 1),
            lambda: t.stream_presigned(presigned).__aenter__(),
        ):
            try:
                await call()
            except Exception as exc:
                errors.append(exc)
    await t.close()
    dead = make_transport(f"http://127.0.0.1:{closed_port()}/?token=SIGSECRET")
    await dead.open()
    with caplog.at_level(logging.DEBUG), pytest.raises(APIConnectionError) as err:
        await send(dead, "GET")
    errors.append(err.value)
    await dead.close()
    assert len(errors) == 5
    texts = [str(e) for e in errors] + [repr(e) for e in errors] + [caplog.text]
    texts += [repr(vars(e)) for e in errors]
    for text in texts:
        assert KEY not in text and "SIGSECRET" not in text


async def test_stream_stopped_early_does_not_return_a_dirty_connection(
    server: ScriptedServer,
) -> None:
    blob = b"z" * (1024 * 1024)
    server.script("GET", "/_storage/big", default=Reply(200, body=blob))
    t = make_transport(server.url)
    await t.open()
    for _ in range(2):
        async with t.stream_presigned(f"{server.url}/_storage/big") as chunks:
            async for _chunk in chunks:
                break  # stop after the first chunk
    assert len(t.session.connector._acquired) == 0  # type: ignore[union-attr]
    assert len(server.calls("GET")) == 2
    await t.close()


async def test_connect_timeout_is_its_own_phase_and_post_runs_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A listener that never accepts, its backlog filled: new connections never complete.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for filler in fillers:
                filler.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    filler.connect(("127.0.0.1", port))
            t = make_transport(
                f"http://127.0.0.1:{port}",
                timeouts=Timeouts(connect=0.1),
                retry=RetryPolicy(max_attempts=2),
            )
            await t.open()
            with (
                caplog.at_level(logging.WARNING, logger="asyncrun"),
                pytest.raises(APITimeoutError) as err,
            ):
                await send(t, "POST runs")  # never sent: safe to retry
            await t.close()
        finally:
            for filler in fillers:
                filler.close()
    assert err.value.phase == "connect"
    assert sum("retrying POST" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.parametrize("bad", ["\n", "\r\nX-Injected: 1", "\x00"], ids=["lf", "crlf", "nul"])
async def test_a_key_with_a_control_character_is_refused_before_any_request(bad: str) -> None:
    """The key goes into a header line as it is: a line break in it would end the header (or
    add one). Refused at once, and the message does not show the key."""
    from asyncrun import AsyncClient, ConfigError

    key = KEY + bad + "tail"
    with pytest.raises(ConfigError) as err:
        async with AsyncClient(api_key=key, url=f"http://127.0.0.1:{closed_port()}"):
            pass  # pragma: no cover (never entered)
    assert KEY not in str(err.value) and "control character" in str(err.value)
