"""A lean HTTP/1.1 client for the API's small JSON exchanges: keep-alive connections on asyncio
protocols, each answer parsed once as its bytes arrive, no per-request object graph.

Why not aiohttp's `ClientSession.request` for these: with every run of a large batch in flight
the client is CPU-bound, and a request through aiohttp cost about 0.25 ms of client CPU here
against about 0.09 ms through this (`benchmarks/request_cpu.py`). aiohttp stays for presigned
transfers (streamed bodies, files, object storage's quirks).

It knows framing, not Nextmv: Content-Length, chunked, read-to-close, gzip and deflate bodies,
keep-alive unless the server says close. Through an HTTP proxy (_proxy.py), an https origin is
reached through a CONNECT tunnel with TLS to the origin inside it, each tunnel a keep-alive
connection of the pool; an http origin through absolute-form requests to the proxy. A
connection whose exchange did not end cleanly (cancelled, timed out, dropped, an answer over the
caller's size cap) is closed, never reused.
Its errors are its own (below); transport.py maps them onto the error tree.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
import zlib
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from asyncrun._proxy import ProxyURL
from asyncrun.errors import ConfigError, ProxyPhase

__all__ = [
    "CertificateFailed",
    "ConnectFailed",
    "ConnectTimedOut",
    "ConnectionPool",
    "ExchangeFailed",
    "ProxyFailed",
    "ReadTimedOut",
    "Response",
    "WireError",
]

# An idle connection is kept this long (aiohttp's keep-alive default): below the idle timeout of
# every load balancer we know of, so a reused connection is not one the server is closing.
IDLE_SECONDS = 15.0
_NO_BODY_STATUSES = frozenset({204, 304})
_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Response:
    """A fully read API answer. `headers`: names in lower case (a repeated one joined by ", ")."""

    status: int
    headers: dict[str, str]
    body: bytes
    # False: the body was over the request's `max_body` and was not read (`body` is empty).
    complete: bool = True

    @property
    def request_id(self) -> str | None:
        return self.headers.get("x-request-id") or self.headers.get("request-id")


class WireError(Exception):
    """A request that got no complete answer."""


class ConnectFailed(WireError):
    """No connection could be opened: nothing was sent."""

    def __init__(self, cause: OSError) -> None:
        super().__init__(type(cause).__name__)
        self.cause = cause


class ConnectTimedOut(WireError):
    """Opening a connection took longer than the connect timeout: nothing was sent."""


class CertificateFailed(WireError):
    """The server's TLS certificate was not trusted: nothing was sent."""

    def __init__(self, cause: ssl.SSLCertVerificationError, host: str, port: int) -> None:
        super().__init__(type(cause).__name__)
        self.cause, self.host, self.port = cause, host, port


class ProxyFailed(WireError):
    """The proxy could not be connected to, or did not open the tunnel: nothing reached the
    origin. `status`: the proxy's answer to CONNECT, when it gave one."""

    def __init__(
        self, proxy: ProxyURL, phase: ProxyPhase, reason: str, status: int | None = None
    ) -> None:
        super().__init__(reason)
        self.proxy, self.phase, self.reason, self.status = proxy, phase, reason, status


class ExchangeFailed(WireError):
    """The request was (or may have been) sent, then the connection failed or the answer was
    not HTTP: the server may have acted on it."""


class ReadTimedOut(ExchangeFailed):
    """No byte of the answer came for the read timeout."""


class _BadAnswer(Exception):
    pass


# Parser states of one exchange.
_HEAD, _LENGTH, _CHUNKS, _TO_CLOSE, _DONE = range(5)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one exchange at a time."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._waiter: asyncio.Future[Response] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._read_timeout = 0.0
        self._head_only = False
        self._max_body: int | None = None
        self._state = _DONE
        self._status = 0
        self._headers: dict[str, str] = {}
        self._remaining = 0
        self._parts: list[bytes] = []
        self._size = 0
        self._keep_alive = True
        self.last_read = 0.0
        self.alive = True
        self.idle_since = 0.0

    # ------------------------------------------------------------ asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio.Transport subclasses
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self._waiter is None:  # bytes nobody asked for: the connection cannot be trusted
            self.abort()
            return
        self.last_read = time.monotonic()
        self._buf += data
        try:
            self._parse()
        except (_BadAnswer, ValueError, zlib.error) as exc:
            self._fail(ExchangeFailed(f"the answer was not valid HTTP/1.1 ({exc})"))

    def eof_received(self) -> bool | None:
        if self._state == _TO_CLOSE:
            self._keep_alive = False
            self._finish(bytes(self._buf))
        return None  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.alive = False
        self._transport = None
        if self._state == _TO_CLOSE:
            self._keep_alive = False
            self._finish(bytes(self._buf))
        reason = type(exc).__name__ if exc is not None else "closed by the server"
        self._fail(ExchangeFailed(f"connection lost before the whole answer ({reason})"))

    # ------------------------------------------------------------ one exchange

    def send(
        self,
        request: bytes,
        body: bytes | None,
        *,
        head_only: bool,
        max_body: int | None,
        read_timeout: float,
    ) -> asyncio.Future[Response]:
        transport = self._transport
        if transport is None or not self.alive:
            raise ExchangeFailed("connection lost before the request was sent")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        self._waiter = waiter
        self._head_only, self._max_body = head_only, max_body
        self._state, self._keep_alive = _HEAD, True
        self._parts, self._size = [], 0
        self.last_read = time.monotonic()
        if self._timer is None or read_timeout != self._read_timeout:
            self._stop_timer()  # else the armed check (_check_read) serves this exchange too
            self._timer = loop.call_later(read_timeout, self._check_read)
        self._read_timeout = read_timeout
        if body is not None and len(body) < 65536:
            transport.write(request + body)
        else:
            transport.write(request)
            if body:
                transport.write(body)
        return waiter

    def _check_read(self) -> None:
        """The read timeout's check. One timer per connection, not per exchange: it is left
        armed when an exchange ends, and a check that finds none under way disarms it (a
        keep-alive connection runs thousands of exchanges a minute)."""
        if self._waiter is None:
            self._timer = None
            return
        transport = self._transport
        if transport is not None and transport.get_write_buffer_size():
            # Still sending the request (a large body to a slow reader): the wait for the
            # answer starts once it is out.
            self.last_read = time.monotonic()
        quiet = time.monotonic() - self.last_read
        if quiet < self._read_timeout:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._read_timeout - quiet, self._check_read)
            return
        self._timer = None
        self._fail(ReadTimedOut("no answer within the read timeout"))

    def _parse(self) -> None:
        while True:
            state = self._state
            if state == _HEAD:
                if not self._parse_head():
                    return
            elif state == _LENGTH:
                if len(self._buf) < self._remaining:
                    return
                self._take(self._remaining)
                self._finish(b"".join(self._parts))
                return
            elif state == _CHUNKS:
                if not self._parse_chunk():
                    return
            elif state == _TO_CLOSE:  # the body ends with the stream (eof_received)
                self._over(len(self._buf))
                return
            else:
                return

    def _parse_head(self) -> bool:
        buf = self._buf
        end = buf.find(_HEAD_END)
        if end < 0:
            if len(buf) > 65536:
                raise _BadAnswer("head over 64 KiB")
            return False
        lines = buf[:end].decode("latin-1").split("\r\n")
        del buf[: end + 4]
        status_line = lines[0]
        if not status_line.startswith("HTTP/1.") or len(status_line) < 12:
            raise _BadAnswer("no status line")
        status = int(status_line[9:12])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _BadAnswer("a header line without a colon")
            name = name.strip().lower()
            value = value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        if status < 200:  # an interim answer (100 Continue, 103 Early Hints): the real one follows
            return True
        self._status, self._headers = status, headers
        connection = headers.get("connection", "").lower()
        self._keep_alive = (
            "keep-alive" in connection if status_line[7] == "0" else "close" not in connection
        )
        if self._head_only or status in _NO_BODY_STATUSES:
            self._finish(b"")
            return False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            self._state = _CHUNKS
        elif "content-length" in headers:
            length = int(headers["content-length"])
            if length < 0:
                raise _BadAnswer("a negative content-length")
            if self._over(length):
                return False
            self._state, self._remaining = _LENGTH, length
        else:
            self._state, self._keep_alive = _TO_CLOSE, False
        return True

    def _parse_chunk(self) -> bool:
        buf = self._buf
        line_end = buf.find(b"\r\n")
        if line_end < 0:
            return False
        size = int(bytes(buf[:line_end]).split(b";", 1)[0], 16)
        if size == 0:  # the last chunk; then optional trailers and an empty line
            tail = buf.find(b"\r\n", line_end + 2)
            if tail == line_end + 2:
                del buf[: tail + 2]
            else:
                trailers_end = buf.find(_HEAD_END, line_end)
                if trailers_end < 0:
                    return False
                del buf[: trailers_end + 4]
            self._finish(b"".join(self._parts))
            return False
        if len(buf) < line_end + 2 + size + 2:
            return False
        del buf[: line_end + 2]
        self._take(size)
        del buf[:2]
        return not self._over(self._size)

    def _take(self, size: int) -> None:
        self._parts.append(bytes(self._buf[:size]))
        del self._buf[:size]
        self._size += size

    def _over(self, size: int) -> bool:
        """Whether the body is over the caller's cap: answered unread, the connection closed."""
        limit = self._max_body
        if limit is None or size <= limit or not 200 <= self._status < 300:
            return False
        self._keep_alive = False
        self._complete(Response(self._status, self._headers, b"", complete=False))
        return True

    def _finish(self, body: bytes) -> None:
        encoding = self._headers.get("content-encoding", "identity").lower()
        if encoding not in ("identity", ""):
            body = self._decoded(body, encoding)
        if not self._over(len(body)):
            self._complete(Response(self._status, self._headers, body))

    def _decoded(self, body: bytes, encoding: str) -> bytes:
        if encoding in ("gzip", "x-gzip"):
            wbits = 31
        elif encoding == "deflate":  # zlib-wrapped as the RFC says, or raw as some servers send
            wbits = 15 if body[:1] == b"\x78" else -15
        else:
            raise _BadAnswer(f"content-encoding {encoding!r} was not asked for")
        decoder = zlib.decompressobj(wbits)
        limit = self._max_body
        out = decoder.decompress(body, 0 if limit is None else limit + 1)
        return out + decoder.flush() if limit is None else out

    def _complete(self, response: Response) -> None:
        self._state = _DONE
        waiter, self._waiter = self._waiter, None
        if self._buf and self._keep_alive:  # bytes past the answer: framing went wrong
            self._keep_alive = False
        transport = self._transport
        if transport is not None and transport.get_write_buffer_size():
            self._keep_alive = False  # answered before the whole request was out: not reusable
        if not self._keep_alive:
            self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_result(response)

    def _fail(self, error: WireError) -> None:
        self._state = _DONE
        self._stop_timer()
        waiter, self._waiter = self._waiter, None
        self.abort()
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def reusable(self) -> bool:
        return self.alive and self._keep_alive and self._state == _DONE

    def abort(self) -> None:
        """Drop the connection now (an exchange that did not end cleanly leaves it unusable)."""
        self.alive = False
        self._stop_timer()
        if self._transport is not None:
            self._transport.abort()

    def close(self) -> None:
        self.alive = False
        self._stop_timer()
        if self._transport is not None:
            self._transport.close()


class _TunnelSetup(asyncio.Protocol):
    """A connection to the proxy until it answers CONNECT; then TLS to the origin takes it."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = bytearray()
        self._answer: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        end = self._buf.find(_HEAD_END)
        answer = self._answer
        if answer is None or answer.done():
            return
        if end >= 0:
            answer.set_result(bytes(self._buf[: end + 4]))
        elif len(self._buf) > 65536:
            answer.set_exception(ConnectionError("the proxy's answer has a head over 64 KiB"))

    def connection_lost(self, exc: Exception | None) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(ConnectionError("the proxy closed the connection"))

    async def connect(self, request: bytes) -> tuple[int, str]:
        """Send CONNECT; the proxy's status and reason (interim 1xx answers skipped)."""
        transport = self.transport
        if transport is None:
            raise ConnectionError("the proxy closed the connection")
        self._answer = asyncio.get_running_loop().create_future()
        transport.write(request)
        while True:
            head = await self._answer
            del self._buf[: len(head)]
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            if not line.startswith("HTTP/1.") or len(line) < 12 or not line[9:12].isdigit():
                raise ConnectionError("the proxy's answer to CONNECT was not HTTP")
            status = int(line[9:12])
            if status >= 200:
                if status < 300 and self._buf:  # a TLS server speaks after the client only
                    raise ConnectionError("the proxy sent bytes after opening the tunnel")
                return status, line[13:].strip()
            self._answer = asyncio.get_running_loop().create_future()
            self.data_received(b"")


class ConnectionPool:
    """Keep-alive connections to one origin. It does not bound how many exchanges run at once:
    the transport's connection slots do, so it never holds more connections than slots."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None,
        connect_timeout: float,
        read_timeout: float,
        proxy: ProxyURL | None = None,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("the API URL must be http:// or https:// with a host")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = self._port == (443 if parts.scheme == "https" else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        self.host_header = host if default_port else f"{host}:{self._port}"
        self._ssl = ssl_context if parts.scheme == "https" else None
        self._proxy = proxy
        # Through a proxy, an https origin is tunnelled (CONNECT); an http one is named in every
        # request line (absolute form) and each request carries the proxy's credentials.
        self._absolute: tuple[bytes, bytes] | None = None
        if proxy is not None and self._ssl is None:
            auth = proxy.authorization
            lines = f"Proxy-Authorization: {auth}\r\n".encode() if auth else b""
            self._absolute = (f" http://{self.host_header}/".encode(), lines)
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._idle: list[_Connection] = []
        self._busy: set[_Connection] = set()
        self._closed = False
        self.opened = 0
        """Connections opened so far."""

    def __repr__(self) -> str:
        via = f", proxy={self._proxy.shown!r}" if self._proxy is not None else ""
        return (
            f"ConnectionPool(host={self.host_header!r}{via}, open={len(self._idle) + self.in_use})"
        )

    @property
    def in_use(self) -> int:
        """Connections checked out for an exchange now."""
        return len(self._busy)

    @property
    def closed(self) -> bool:
        return self._closed

    async def request(
        self,
        method: str,
        request: bytes,
        body: bytes | None,
        *,
        max_body: int | None = None,
    ) -> Response:
        """One exchange: `request` is the request line (origin form: `GET /path HTTP/1.1`) and
        headers, ready to send."""
        if self._absolute is not None:
            request = _absolute_form(request, *self._absolute)
        conn = self._checkout() or await self._open()
        self._busy.add(conn)
        try:
            waiter = conn.send(
                request,
                body,
                head_only=method == "HEAD",
                max_body=max_body,
                read_timeout=self._read_timeout,
            )
            response = await waiter
        except BaseException:
            conn.abort()  # cancelled or failed mid-exchange: never reused
            raise
        finally:
            self._busy.discard(conn)
        if conn.reusable and not self._closed:
            conn.idle_since = time.monotonic()
            self._idle.append(conn)
        else:
            conn.close()
        return response

    def _checkout(self) -> _Connection | None:
        idle = self._idle
        stale = time.monotonic() - IDLE_SECONDS
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be timing out
            if conn.alive and conn.idle_since > stale:
                return conn
            conn.close()
        return None

    async def _open(self) -> _Connection:
        if self._closed:
            raise ConfigError("the client is closed")
        loop = asyncio.get_running_loop()
        try:
            if self._proxy is not None:
                conn = await self._through_proxy(self._proxy, loop)
            else:
                async with asyncio.timeout(self._connect_timeout):
                    _, conn = await loop.create_connection(
                        _Connection,
                        self._host,
                        self._port,
                        ssl=self._ssl,
                        server_hostname=self._host if self._ssl is not None else None,
                    )
        except ssl.SSLCertVerificationError as exc:
            raise CertificateFailed(exc, self._host, self._port) from None
        except TimeoutError:
            raise ConnectTimedOut("connecting timed out") from None
        except OSError as exc:
            raise ConnectFailed(exc) from None
        self.opened += 1
        return conn

    async def _through_proxy(self, proxy: ProxyURL, loop: asyncio.AbstractEventLoop) -> _Connection:
        """A connection to the origin through `proxy`, all of it within the connect timeout. A
        failure of the proxy is ProxyFailed; of the origin's TLS, what a direct one raises."""
        deadline = loop.time() + self._connect_timeout
        setup = _TunnelSetup if self._ssl is not None else _Connection
        try:
            async with asyncio.timeout_at(deadline):
                raw, opened = await loop.create_connection(setup, proxy.host, proxy.port)
        except OSError as exc:  # TimeoutError too
            raise ProxyFailed(proxy, "connect", _why(exc)) from None
        if isinstance(opened, _Connection):  # http origin: requests in absolute form
            return opened
        try:
            return await self._tunnel(proxy, loop, raw, cast(_TunnelSetup, opened), deadline)
        except BaseException:
            raw.abort()
            raise

    async def _tunnel(
        self,
        proxy: ProxyURL,
        loop: asyncio.AbstractEventLoop,
        raw: asyncio.BaseTransport,
        setup: _TunnelSetup,
        deadline: float,
    ) -> _Connection:
        auth = proxy.authorization
        host = f"[{self._host}]" if ":" in self._host else self._host
        target = f"{host}:{self._port}"  # authority form: the port even when it is the default
        request = (
            f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
            + (f"Proxy-Authorization: {auth}\r\n" if auth else "")
            + "\r\n"
        ).encode()
        try:
            async with asyncio.timeout_at(deadline):
                status, reason = await setup.connect(request)
        except TimeoutError:
            raise ProxyFailed(proxy, "tunnel", "no answer to CONNECT in time") from None
        except ConnectionError as exc:
            raise ProxyFailed(proxy, "tunnel", str(exc)) from None
        if not 200 <= status < 300:
            phase: ProxyPhase = "authentication" if status == 407 else "tunnel"
            raise ProxyFailed(proxy, phase, f"{status} {reason}".strip(), status)
        conn = _Connection()
        assert self._ssl is not None  # a tunnel is made for https origins only
        async with asyncio.timeout_at(deadline):
            tls = await loop.start_tls(
                cast(asyncio.WriteTransport, raw), conn, self._ssl, server_hostname=self._host
            )
        if tls is None:
            raise ConnectionError("the TLS handshake through the proxy did not complete")
        conn.connection_made(tls)  # start_tls does not call it
        return conn

    async def close(self) -> None:
        """Close every connection; exchanges under way fail."""
        self._closed = True
        conns = [*self._idle, *self._busy]
        self._idle.clear()
        for conn in conns:
            conn.close()
        if conns:
            await asyncio.sleep(0)  # let the transports report their end


def _absolute_form(request: bytes, origin: bytes, proxy_lines: bytes) -> bytes:
    """`GET /path HTTP/1.1` as `GET http://host/path HTTP/1.1`, the proxy's headers added."""
    line_end = request.index(b"\r\n") + 2
    line = request[:line_end].replace(b" /", origin, 1)
    return line + proxy_lines + request[line_end:]


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "connecting to it timed out"
    if isinstance(exc, OSError) and exc.errno:  # "Connection refused", not asyncio's words
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
