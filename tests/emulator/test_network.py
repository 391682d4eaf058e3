"""The emulator as the cloud is reached: HTTPS with its own CA or a given certificate, the
latency proxy in front, and connections and TLS handshakes counted per client."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from asyncrun.emulator import Emulator, EmulatorConfig, FaultProfile
from asyncrun.emulator.latency import _Delayed

AUTH = {"Authorization": "Bearer test-key", "User-Agent": "probe/1.0"}
Factory = Callable[..., AbstractAsyncContextManager[Emulator]]


def trusting(emu: Emulator) -> ssl.SSLContext:
    assert emu.ca_pem is not None
    return ssl.create_default_context(cadata=emu.ca_pem.decode())


async def create_run(http: aiohttp.ClientSession, emu: Emulator, ctx: ssl.SSLContext) -> str:
    async with http.post(
        f"{emu.url}/v1/applications/net-app/runs",
        json={"input": {"n": 1}},
        headers=AUTH,
        ssl=ctx,
    ) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
    return str(body["run_id"])


async def stats_over_http(http: aiohttp.ClientSession, emu: Emulator, **kw: Any) -> Any:
    async with http.get(f"{emu.url}/_emulator/stats", **kw) as resp:
        return await resp.json()


async def test_tls_serves_api_and_storage_over_https(emulator_factory: Factory) -> None:
    async with emulator_factory(tls=True) as emu, aiohttp.ClientSession() as http:
        assert emu.url.startswith("https://127.0.0.1:")
        assert emu.ca_file is not None and emu.ca_file.read_bytes() == emu.ca_pem
        ctx = trusting(emu)
        await create_run(http, emu, ctx)
        async with http.post(
            f"{emu.url}/v1/applications/net-app/runs/uploadurl", headers=AUTH, ssl=ctx
        ) as resp:
            upload_url = (await resp.json())["upload_url"]
        assert upload_url.startswith(emu.url + "/_storage/")
        async with http.put(
            upload_url, data=b'{"n": 2}', skip_auto_headers=["Content-Type"], ssl=ctx
        ) as resp:
            assert resp.status == 200
        conns = emu.stats()["connections"]
    # One keep-alive connection and one handshake, put down to the client of its first request;
    # the storage PUT (aiohttp's own User-Agent) came over the same connection.
    assert conns["opened"] == 1
    assert conns["tls_handshakes"] == 1
    assert conns["by_client"]["probe/1.0"] == {
        "connections": 1,
        "tls_handshakes": 1,
        "requests": 2,
    }
    assert conns["by_client"]["Python/3.11"]["connections"] == 0
    assert conns["by_client"]["Python/3.11"]["requests"] == 1


async def test_untrusted_ca_fails_the_handshake_and_no_request_arrives(
    emulator_factory: Factory,
) -> None:
    async with emulator_factory(tls=True) as emu, aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            await create_run(http, emu, ssl.create_default_context())
        stats = emu.stats()
    assert stats["connections"]["opened"] == 1
    assert stats["connections"]["tls_handshakes"] == 0
    assert stats["requests"] == {}


async def test_plain_http_counts_connections_without_handshakes(emulator: Emulator) -> None:
    connector = aiohttp.TCPConnector(limit=2)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(6):
            async with http.post(
                f"{emulator.url}/v1/applications/net-app/runs",
                json={"input": {}},
                headers=AUTH,
            ) as resp:
                assert resp.status == 200
    conns = emulator.stats()["connections"]
    assert conns["opened"] == 1
    assert conns["tls_handshakes"] == 0
    assert conns["by_client"]["probe/1.0"]["requests"] == 6


async def test_given_certificate_and_key(emulator_factory: Factory, tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "both.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    config = EmulatorConfig(
        api_key="test-key", tls=True, tls_cert=tmp_path / "both.pem", tls_key=tmp_path / "key.pem"
    )
    async with emulator_factory(config) as emu, aiohttp.ClientSession() as http:
        assert emu.ca_pem is None and emu.ca_file is None
        ctx = ssl.create_default_context()
        ca.configure_trust(ctx)
        await create_run(http, emu, ctx)


def test_tls_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="go together"):
        EmulatorConfig(tls=True, tls_cert=Path("cert.pem"))
    with pytest.raises(ValueError, match="need tls=True"):
        EmulatorConfig(tls_cert=Path("cert.pem"), tls_key=Path("key.pem"))
    with pytest.raises(ValueError, match="rtt_ms"):
        EmulatorConfig(rtt_ms=-1)


async def test_latency_proxy_carries_api_and_storage(emulator_factory: Factory) -> None:
    async with emulator_factory(tls=True, rtt_ms=5) as emu, aiohttp.ClientSession() as http:
        assert emu.url != emu.server_url
        ctx = trusting(emu)
        for _ in range(3):
            await create_run(http, emu, ctx)
        async with http.post(
            f"{emu.url}/v1/applications/net-app/runs/uploadurl", headers=AUTH, ssl=ctx
        ) as resp:
            upload_url = (await resp.json())["upload_url"]
        stats = await stats_over_http(http, emu, ssl=ctx)
    # Presigned URLs name the host the client asked for: the proxy.
    assert upload_url.startswith(emu.url + "/_storage/")
    # The TLS session runs end to end through the proxy: the server did the handshake.
    assert stats["connections"]["tls_handshakes"] == 1
    proxy = stats["proxy"]
    assert proxy["rtt_ms"] == 5
    assert proxy["connections"] == 1
    assert proxy["bytes_up"] > 0 and proxy["bytes_down"] > 0
    assert proxy["cpu_seconds"] >= 0


async def test_latency_proxy_passes_a_reset_on(emulator_factory: Factory) -> None:
    # The 'drop' fault resets the connection; the client must see it dropped, not hang.
    async with (
        emulator_factory(rtt_ms=5, faults=FaultProfile(drop=1.0)) as emu,
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
    ):
        with pytest.raises(aiohttp.ClientConnectionError):
            async with http.get(f"{emu.url}/v1/applications/net-app/runs", headers=AUTH):
                pass


class _FakeLoop:
    """Just what _Delayed uses of a loop: time() and call_at()."""

    def __init__(self) -> None:
        self.now = 0.0
        self.timers: list[tuple[float, Callable[[], None]]] = []

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], None]) -> Any:
        self.timers.append((when, callback))
        return _Handle()

    def run_until(self, when: float) -> None:
        while self.timers and min(t for t, _ in self.timers) <= when:
            self.timers.sort(key=lambda item: item[0])
            due, callback = self.timers.pop(0)
            self.now = due
            callback()
        self.now = when


class _Handle:
    def cancel(self) -> None:
        pass


class _Sink:
    def __init__(self, loop: _FakeLoop) -> None:
        self.loop = loop
        self.writes: list[tuple[float, bytes]] = []

    def write(self, data: bytes) -> None:
        self.writes.append((self.loop.now, data))


def test_client_bytes_wait_for_the_connect_then_half_the_round_trip() -> None:
    loop = _FakeLoop()
    # A connection accepted at t=0 with a 40 ms round trip: the upstream direction.
    up = _Delayed(loop, 0.020, not_before=0.040)  # type: ignore[arg-type]
    sink = _Sink(loop)
    up.start(sink)  # type: ignore[arg-type]
    up.push(b"hello")  # sent at once: leaves after the connect, arrives half a trip later
    loop.run_until(0.050)
    up.push(b"again")  # sent at 50 ms: arrives at 70 ms
    ended: list[bool] = []
    up.on_end = ended.append
    up.end(reset=False)
    loop.run_until(1.0)
    assert sink.writes == [(pytest.approx(0.060), b"hello"), (pytest.approx(0.070), b"again")]
    assert ended == [False]


def test_a_reset_drops_what_is_held_and_resets_the_other_end() -> None:
    loop = _FakeLoop()
    down = _Delayed(loop, 0.020, not_before=0.0)  # type: ignore[arg-type]
    sink = _Sink(loop)
    down.start(sink)  # type: ignore[arg-type]
    ended: list[bool] = []
    down.on_end = ended.append
    down.push(b"partial answer")
    down.end(reset=True)
    loop.run_until(1.0)
    assert sink.writes == []
    assert ended == [True]
