"""What the API's HTTP/1.1 pool (asyncrun/_http11.py) says to a proxy, byte for byte, against a
scripted proxy that records each request head and answers as told: CONNECT in authority form
(with the port, also the default one), Basic credentials, absolute-form requests for an http
origin, and each way a proxy can refuse."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from asyncrun._http11 import ConnectionPool, ProxyFailed
from asyncrun._proxy import ProxyURL, parse_proxy


class ScriptedProxy:
    """Reads one request head per connection, records it, writes `answer` and closes."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.heads: list[str] = []

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            self.heads.append(head.decode("latin-1"))
            writer.write(self.answer)
            await writer.drain()
        finally:
            writer.close()


@asynccontextmanager
async def scripted(answer: bytes) -> AsyncIterator[tuple[ScriptedProxy, ProxyURL]]:
    proxy = ScriptedProxy(answer)
    server = await asyncio.start_server(proxy.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield proxy, parse_proxy(f"http://alice:s3cret@127.0.0.1:{port}")
    finally:
        server.close()
        await server.wait_closed()


def pool(url: str, proxy: ProxyURL) -> ConnectionPool:
    ssl_context = None
    if url.startswith("https:"):
        import ssl

        ssl_context = ssl.create_default_context()
    return ConnectionPool(
        url, ssl_context=ssl_context, connect_timeout=5, read_timeout=5, proxy=proxy
    )


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("https://api.example.com", "api.example.com:443"),
        ("https://api.example.com:8443/v1", "api.example.com:8443"),
        ("https://[2001:db8::1]", "[2001:db8::1]:443"),
    ],
)
async def test_connect_names_the_origin_in_authority_form_with_credentials(
    url: str, target: str
) -> None:
    async with scripted(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n") as (fake, proxy):
        api = pool(url, proxy)
        with pytest.raises(ProxyFailed) as caught:
            await api.request("GET", b"GET /v1/x HTTP/1.1\r\nHost: h\r\n\r\n", None)
        await api.close()
    assert fake.heads == [
        f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n"
        "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n\r\n"
    ]
    assert (caught.value.phase, caught.value.status) == ("tunnel", 403)
    assert caught.value.reason == "403 Forbidden"


async def test_a_407_to_connect_is_an_authentication_failure() -> None:
    answer = b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n"
    async with scripted(answer) as (_, proxy):
        api = pool("https://api.example.com", proxy)
        with pytest.raises(ProxyFailed) as caught:
            await api.request("GET", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", None)
        await api.close()
    assert (caught.value.phase, caught.value.status) == ("authentication", 407)


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (b"", "the proxy closed the connection"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "the proxy's answer to CONNECT was not HTTP"),
        (b"HTTP/1.1 200 OK\r\n\r\nsurprise", "the proxy sent bytes after opening the tunnel"),
    ],
)
async def test_a_tunnel_that_does_not_open_cleanly_is_a_tunnel_failure(
    answer: bytes, reason: str
) -> None:
    async with scripted(answer) as (_, proxy):
        api = pool("https://api.example.com", proxy)
        with pytest.raises(ProxyFailed) as caught:
            await api.request("GET", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", None)
        await api.close()
    assert (caught.value.phase, caught.value.status, caught.value.reason) == (
        "tunnel",
        None,
        reason,
    )


async def test_an_http_origin_is_asked_in_absolute_form_with_the_credentials() -> None:
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    async with scripted(answer) as (fake, proxy):
        api = pool("http://api.example.com:8080", proxy)
        head = (
            b"POST /v1/runs?x=1 HTTP/1.1\r\nHost: api.example.com:8080\r\nContent-Length: 0\r\n\r\n"
        )
        response = await api.request("POST", head, None)
        await api.close()
    assert response.status == 200 and response.body == b"{}"
    assert fake.heads == [
        "POST http://api.example.com:8080/v1/runs?x=1 HTTP/1.1\r\n"
        "Proxy-Authorization: Basic YWxpY2U6czNjcmV0\r\n"
        "Host: api.example.com:8080\r\nContent-Length: 0\r\n\r\n"
    ]


async def test_a_proxy_that_cannot_be_connected_to_is_a_connect_failure() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    api = pool("https://api.example.com", ProxyURL("127.0.0.1", port))
    with pytest.raises(ProxyFailed) as caught:
        await api.request("GET", b"GET / HTTP/1.1\r\nHost: h\r\n\r\n", None)
    await api.close()
    assert (caught.value.phase, caught.value.reason) == ("connect", "Connection refused")
