"""The API's HTTP/1.1 client (asyncrun/_http11.py) against a server that writes raw bytes:
framing (Content-Length, chunked, read-to-close), encodings, keep-alive and what makes a
connection unfit for reuse."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from asyncrun import _http11, _runtime
from asyncrun._http11 import ConnectionPool, ExchangeFailed, ReadTimedOut, Response
from asyncrun.errors import ConfigError

# What the server writes for the n-th request it reads (counted over all connections): a list
# of byte strings written one after another with a flush between (an empty last one: then it
# closes the connection), or None to close unanswered.
Answer = Callable[[int], "list[bytes] | None"]


class RawServer:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_client = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.read_delay = 0.0  # seconds before a request's body is read
        self.skip_body = False  # answer without reading the body, then read it (too late)
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    self.closed_by_client += 1
                    return
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":")[1])
                if self.read_delay:
                    await asyncio.sleep(self.read_delay)
                if self.skip_body and length:
                    writer.write(ok(b"early")[0])
                    await writer.drain()
                    await asyncio.sleep(0.2)
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if self.skip_body and length:
                    continue
                parts = self.answer(len(self.requests) - 1)
                if parts is None:
                    return
                for part in parts:
                    writer.write(part)
                    await writer.drain()
                if parts and parts[-1] == b"":
                    return
        except ConnectionError:
            return
        finally:
            writer.close()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:  # handlers waiting for a request see the end and return
            writer.close()
        for _ in range(5):
            await asyncio.sleep(0)


def ok(body: bytes, *headers: str) -> list[bytes]:
    head = "".join(f"{h}\r\n" for h in headers)
    return [f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{head}\r\n".encode() + body]


@asynccontextmanager
async def pool_for(server: RawServer, read_timeout: float = 30.0) -> AsyncIterator[ConnectionPool]:
    pool = ConnectionPool(
        server.url, ssl_context=None, connect_timeout=5, read_timeout=read_timeout
    )
    try:
        yield pool
    finally:
        await pool.close()


async def get(pool: ConnectionPool, max_body: int | None = None) -> Response:
    head = f"GET /x HTTP/1.1\r\nHost: {pool.host_header}\r\n\r\n".encode()
    return await pool.request("GET", head, None, max_body=max_body)


async def test_keep_alive_carries_every_exchange_on_one_connection() -> None:
    def answer(n: int) -> list[bytes]:
        return ok(f'{{"n": {n}}}'.encode(), f"X-Request-Id: r{n}")

    async with RawServer(answer) as server, pool_for(server) as pool:
        answers = [await get(pool) for _ in range(20)]
    assert [a.body for a in answers] == [f'{{"n": {n}}}'.encode() for n in range(20)]
    assert answers[3].request_id == "r3" and answers[3].headers["content-length"] == "8"
    assert server.connections == 1 and pool.opened == 1


async def test_a_chunked_answer_arriving_byte_by_byte_with_extensions_and_trailers() -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: t\r\n\r\n"
    )
    plain = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
    script = {0: [raw[i : i + 1] for i in range(len(raw))], 1: [plain]}
    async with RawServer(script.get) as server, pool_for(server) as pool:
        first, second = await get(pool), await get(pool)
    assert first.body == b"hello world" and second.body == b"ok"
    assert server.connections == 1  # the connection was fit for the second exchange


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, as some servers send it
    ],
    ids=["gzip", "deflate", "raw deflate"],
)
async def test_compressed_answers_are_decoded(
    encoding: str, encode: Callable[[bytes], bytes]
) -> None:
    body = b'{"output": "' + b"x" * 5000 + b'"}'
    async with (
        RawServer(lambda n: ok(encode(body), f"Content-Encoding: {encoding}")) as server,
        pool_for(server) as pool,
    ):
        assert (await get(pool)).body == body
        assert (await get(pool, max_body=100)).complete is False  # the cap is on what it decodes
        assert (await get(pool)).body == body
    assert server.connections == 2  # an answer over the cap is not read on: its connection goes


async def test_connection_close_and_read_to_close_answers() -> None:
    script = {
        0: ok(b"first", "Connection: close"),
        1: [b"HTTP/1.0 200 OK\r\n\r\nuntil the end", b""],  # no length: it ends with the stream
        2: ok(b"third"),
    }
    async with RawServer(script.get) as server, pool_for(server) as pool:
        bodies = [(await get(pool)).body for _ in range(3)]
    assert bodies == [b"first", b"until the end", b"third"]
    assert server.connections == 3


async def test_an_interim_answer_is_skipped_and_no_body_statuses_have_none() -> None:
    script = {
        0: [b"HTTP/1.1 100 Continue\r\n\r\n", *ok(b"real")],
        1: [b"HTTP/1.1 204 No Content\r\n\r\n"],
        2: ok(b"after"),
    }
    async with RawServer(script.get) as server, pool_for(server) as pool:
        answers = [await get(pool) for _ in range(3)]
    assert [(a.status, a.body) for a in answers] == [(200, b"real"), (204, b""), (200, b"after")]
    assert server.connections == 1


@pytest.mark.parametrize(
    "raw",
    [b"garbage\r\n\r\n", b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", b"HTTP/1.1 2xx OK\r\n\r\n"],
    ids=["no status line", "bad header", "bad status"],
)
async def test_an_answer_that_is_not_http_fails_and_its_connection_is_dropped(raw: bytes) -> None:
    script = {0: [raw], 1: ok(b"fine")}
    async with RawServer(script.get) as server, pool_for(server) as pool:
        with pytest.raises(ExchangeFailed, match="not valid HTTP"):
            await get(pool)
        assert (await get(pool)).body == b"fine"
    assert server.connections == 2 and pool.in_use == 0


async def test_a_connection_closed_unanswered_fails_the_exchange() -> None:
    script = {0: None, 1: ok(b"fine")}
    async with RawServer(script.get) as server, pool_for(server) as pool:
        with pytest.raises(ExchangeFailed, match="connection lost"):
            await get(pool)
        assert (await get(pool)).body == b"fine"
    assert server.connections == 2


async def test_bytes_past_the_answer_make_the_connection_unfit() -> None:
    script = {0: [ok(b"one")[0] + b"HTTP/1.1 200 OK\r\n"], 1: ok(b"two")}
    async with RawServer(script.get) as server, pool_for(server) as pool:
        assert (await get(pool)).body == b"one"
        assert (await get(pool)).body == b"two"
    assert server.connections == 2


async def test_a_stalled_answer_is_a_read_timeout() -> None:
    stall = asyncio.Event()

    def answer(n: int) -> list[bytes] | None:
        return [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"] if n == 0 else ok(b"ok")

    async with RawServer(answer) as server, pool_for(server, read_timeout=0.2) as pool:
        with pytest.raises(ReadTimedOut):
            await get(pool)
        assert (await get(pool)).body == b"ok"
    stall.set()
    assert server.connections == 2


async def test_a_reused_connection_times_out_from_its_own_request() -> None:
    """One timer serves a connection's exchanges: an exchange sent 0.2 s into the first's
    0.3 s wait and then stalled still gets its whole read timeout."""

    def answer(n: int) -> list[bytes] | None:
        return ok(b"one") if n == 0 else [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"]

    loop = asyncio.get_running_loop()
    async with RawServer(answer) as server, pool_for(server, read_timeout=0.3) as pool:
        await get(pool)
        await asyncio.sleep(0.2)
        sent = loop.time()
        with pytest.raises(ReadTimedOut):
            await get(pool)
        assert loop.time() - sent >= 0.29
    assert server.connections == 1


async def test_keep_alive_exchanges_share_one_read_timer(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    timers: list[float] = []
    call_later = loop.call_later

    def counted(delay: float, *args: object) -> asyncio.TimerHandle:
        timers.append(delay)
        return call_later(delay, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(loop, "call_later", counted)
    async with RawServer(lambda n: ok(b"x")) as server, pool_for(server) as pool:
        for _ in range(50):
            await get(pool)
    assert server.connections == 1
    assert timers == [30.0]


async def test_a_cancelled_exchange_closes_its_connection() -> None:
    sent = asyncio.Event()

    def answer(n: int) -> list[bytes] | None:
        if n == 0:
            sent.set()
            return [b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"]  # and the body never comes
        return ok(b"ok")

    async with RawServer(answer) as server, pool_for(server) as pool:
        task = asyncio.ensure_future(get(pool))
        await sent.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert pool.in_use == 0
        assert (await get(pool)).body == b"ok"
        for _ in range(100):  # the server sees the first connection end
            if server.closed_by_client:
                break
            await asyncio.sleep(0.01)
    assert server.connections == 2 and server.closed_by_client >= 1


async def test_a_connection_idle_too_long_is_not_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    async with RawServer(lambda n: ok(b"x")) as server, pool_for(server) as pool:
        await get(pool)
        monkeypatch.setattr(_http11, "IDLE_SECONDS", 0.0)
        await get(pool)
    assert server.connections == 2


async def test_a_closed_pool_refuses_new_exchanges() -> None:
    async with RawServer(lambda n: ok(b"x")) as server:
        async with pool_for(server) as pool:
            await get(pool)
        with pytest.raises(ConfigError):
            await get(pool)


def test_the_exchange_runs_on_the_batch_runtime_loop() -> None:
    """`asyncrun batch` runs on uvloop when it is installed: the same exchanges work there."""

    async def main() -> list[bytes]:
        async with RawServer(lambda n: ok(b"on %d" % n)) as server, pool_for(server) as pool:
            return [(await get(pool)).body for _ in range(3)]

    assert _runtime.run(main()) == [b"on 0", b"on 1", b"on 2"]


def test_an_api_url_that_is_not_http_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        ConnectionPool("ftp://example.com/", ssl_context=None, connect_timeout=1, read_timeout=1)


async def test_the_read_timeout_counts_from_when_the_request_is_out() -> None:
    """A large body to a server that reads it late is not a read timeout: the wait for the
    answer starts once the request has been written (here 32 MiB, more than the socket
    buffers hold, to a server that waits 0.6 s before reading, with a 0.2 s read timeout)."""
    body = b"x" * (32 * 2**20)
    async with RawServer(lambda n: ok(b"got it")) as server:
        server.read_delay = 0.6
        async with pool_for(server, read_timeout=0.2) as pool:
            head = (
                f"POST /x HTTP/1.1\r\nHost: {pool.host_header}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            answer = await pool.request("POST", head, body)
    assert answer.body == b"got it"
    assert len(server.requests[0]) > len(body)


async def test_an_answer_before_the_whole_request_was_out_leaves_the_connection_unfit() -> None:
    body = b"x" * (32 * 2**20)
    async with RawServer(lambda n: ok(b"next")) as server:
        server.skip_body = True
        async with pool_for(server) as pool:
            head = (
                f"POST /x HTTP/1.1\r\nHost: {pool.host_header}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            assert (await pool.request("POST", head, body)).body == b"early"
            assert (await get(pool)).body == b"next"
    assert server.connections == 2
