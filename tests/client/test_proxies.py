"""API calls and presigned transfers through a real HTTP proxy (pproxy, tests/counting_proxy.py)
to the emulator over TLS: CONNECT tunnels for https, absolute-form requests for http.

The proof that traffic went through the proxy is a count on each side: every connection the
emulator accepted is one the proxy opened to it (the emulator's `connections.opened` equals the
proxy's `forwarded` count for its address), and the client's requests were answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from counting_proxy import CountingProxy, clear_proxy_env, serving_proxy, through, unused_port

from asyncrun import (
    AsyncClient,
    AuthenticationError,
    BatchAbortedError,
    PollingOptions,
    ProxyError,
    RetryPolicy,
    Scenario,
)
from asyncrun.emulator import ThreadedEmulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "knapsack"
PASSWORD = "s3cr3t-pw"
Factory = Callable[..., AbstractContextManager[ThreadedEmulator]]


@pytest.fixture(autouse=True)
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    clear_proxy_env(monkeypatch)


@pytest.fixture
def proxy() -> Iterator[CountingProxy]:
    with serving_proxy(f"alice:{PASSWORD}") as running:
        yield running


def client(emu: ThreadedEmulator, **kw: Any) -> AsyncClient:
    verify = str(emu.ca_file) if emu.ca_file is not None else True
    return AsyncClient(api_key="test-key", url=emu.url, verify=verify, **kw)


async def test_a_run_and_its_large_result_go_through_https_proxy(
    tls_emulator: ThreadedEmulator,
    proxy: CountingProxy,
    monkeypatch: pytest.MonkeyPatch,
    fast_polling: PollingOptions,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    async with client(tls_emulator) as c:
        result = await c.application("proxy-app").new_run_with_result(
            input={"n": 1},
            options={"emulator.output_bytes": str(6 * 1024 * 1024)},
            polling_options=fast_polling,
        )
    assert result.metadata is not None and result.metadata.status_v2 == "succeeded"
    assert len(str(result.output)) > 6 * 1024 * 1024
    stats = tls_emulator.stats()
    by_client = stats["connections"]["by_client"]
    # The API's keep-alive tunnel and aiohttp's one for the presigned download, both proxied.
    assert by_client["asyncrun/0.1.0"]["connections"] == 1
    assert by_client["asyncrun/0.1.0"]["requests"] >= 3
    assert by_client["Python/3.11"] == {"connections": 1, "tls_handshakes": 1, "requests": 1}
    assert through(proxy, tls_emulator) == 2


async def test_lower_case_all_proxy_is_honoured(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("all_proxy", proxy.url)
    async with client(tls_emulator) as c:
        await c.application("proxy-app").new_run(input={"n": 1})
    assert through(proxy, tls_emulator) == 1


async def test_a_sweep_goes_through_the_proxy_on_kept_alive_tunnels(
    tls_emulator: ThreadedEmulator,
    proxy: CountingProxy,
    tmp_path: Path,
    fast_polling: PollingOptions,
) -> None:
    scenarios = [Scenario(key=f"s{i}", input={"i": i}) for i in range(30)]
    async with client(tls_emulator, proxy=proxy.url) as c:
        outcomes = await c.application("proxy-app").run_batch_all(
            scenarios,
            max_in_flight=10,
            journal=tmp_path / "sweep.db",
            polling_options=fast_polling,
        )
    assert [o.status for o in outcomes] == ["succeeded"] * 30
    stats = tls_emulator.stats()
    assert stats["runs_created"] == 30
    requests = stats["connections"]["by_client"]["asyncrun/0.1.0"]["requests"]
    tunnels = through(proxy, tls_emulator)
    # Far more requests than tunnels: each tunnel carried many exchanges (keep-alive).
    assert 0 < tunnels <= 12 and requests >= 60


async def test_a_push_uploads_its_directory_through_the_proxy(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy
) -> None:
    async with client(tls_emulator, proxy=proxy.url) as c:
        app = await c.new_application("knapsack")
        await app.push(app_dir=EXAMPLE)
    stats = tls_emulator.stats()
    assert stats["requests"]["PUT /_storage/{key}"] == {"200": 1}  # the archive's upload
    assert stats["requests"]["PUT /v1/applications/{app_id}/binary"] == {"200": 1}
    assert stats["connections"]["by_client"]["Python/3.11"]["requests"] == 1
    assert through(proxy, tls_emulator) == 2


async def test_no_proxy_sends_its_hosts_direct(
    tls_emulator: ThreadedEmulator,
    proxy: CountingProxy,
    monkeypatch: pytest.MonkeyPatch,
    fast_polling: PollingOptions,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "example.com,127.0.0.1")
    async with client(tls_emulator) as c:
        await c.application("proxy-app").new_run_with_result(
            input={"n": 1},
            options={"emulator.output_bytes": str(6 * 1024 * 1024)},
            polling_options=fast_polling,
        )
    assert proxy.accepted == 0
    assert tls_emulator.stats()["connections"]["opened"] == 2


async def test_trust_env_false_ignores_the_proxy_variables(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.setenv("https_proxy", proxy.url)
    async with client(tls_emulator, trust_env=False) as c:
        await c.application("proxy-app").new_run(input={"n": 1})
    assert proxy.accepted == 0
    assert tls_emulator.stats()["connections"]["opened"] == 1


async def test_an_explicit_proxy_wins_over_no_proxy(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "*")
    async with client(tls_emulator, proxy=proxy.url) as c:
        await c.application("proxy-app").new_run(input={"n": 1})
    assert through(proxy, tls_emulator) == 1


async def test_an_http_origin_goes_through_in_absolute_form_with_credentials(
    emulator_thread_factory: Factory, proxy: CountingProxy, fast_polling: PollingOptions
) -> None:
    with emulator_thread_factory(time_scale=50) as emu:
        async with client(emu, proxy=proxy.url) as c:
            result = await c.application("proxy-app").new_run_with_result(
                input={"n": 2},
                options={"emulator.output_bytes": str(6 * 1024 * 1024)},
                polling_options=fast_polling,
            )
        assert result.metadata is not None and result.metadata.status_v2 == "succeeded"
        by_client = emu.stats()["connections"]["by_client"]
        assert by_client["asyncrun/0.1.0"]["requests"] >= 3
        assert by_client["Python/3.11"]["requests"] == 1  # the download, with the credentials
        assert through(proxy, emu) == 2


@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_wrong_credentials_are_one_proxy_error_never_retried_never_shown(
    emulator_thread_factory: Factory, proxy: CountingProxy, scheme: str
) -> None:
    wrong = proxy.url.replace(PASSWORD, "not-the-password")
    with emulator_thread_factory(tls=scheme == "https") as emu:
        async with client(emu, proxy=wrong) as c:
            with pytest.raises(ProxyError) as caught:
                await c.application("proxy-app").new_run(input={"n": 1})
        stats = emu.stats()
    error = caught.value
    assert (error.phase, error.status_code, error.proxy) == ("authentication", 407, proxy.address)
    assert f"the proxy {proxy.address} refused the credentials" in str(error)
    assert "not-the-password" not in f"{error} {error!r} {error.url}"
    assert proxy.accepted == 1  # one attempt: a 407 is not retried
    assert stats["requests"] == {} and stats["connections"]["opened"] == 0


async def test_an_unreachable_proxy_is_a_proxy_error_after_the_connect_retries(
    tls_emulator: ThreadedEmulator,
) -> None:
    port = unused_port()
    retry = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
    nowhere = f"http://bob:{PASSWORD}@127.0.0.1:{port}"
    async with client(tls_emulator, proxy=nowhere, retry=retry) as c:
        with pytest.raises(ProxyError) as caught:
            await c.application("proxy-app").new_run(input={"n": 1})
    assert caught.value.phase == "connect"
    assert f"the proxy 127.0.0.1:{port} could not be reached" in str(caught.value)
    assert PASSWORD not in f"{caught.value} {caught.value!r}"
    stats = tls_emulator.stats()
    assert stats["requests"] == {} and stats["connections"]["opened"] == 0


@pytest.mark.parametrize("scheme", ["https", "http"])
async def test_a_presigned_upload_through_a_refusing_proxy_is_a_proxy_error(
    emulator_thread_factory: Factory, proxy: CountingProxy, scheme: str
) -> None:
    """aiohttp's path (presigned transfers): a 407 to CONNECT (https) or to the absolute-form
    PUT itself (http) is the same ProxyError as on the API path, not retried, never shown."""
    with emulator_thread_factory(tls=scheme == "https") as emu:
        async with client(emu, trust_env=False) as direct:
            upload = await direct.application("proxy-app").upload_url()
        wrong = proxy.url.replace(PASSWORD, "not-the-password")
        async with client(emu, proxy=wrong) as c:
            with pytest.raises(ProxyError) as caught:
                await c.transport.put_presigned(upload.upload_url, lambda: b"{}", 2)
        stats = emu.stats()
    error = caught.value
    assert (error.phase, error.status_code, error.proxy) == ("authentication", 407, proxy.address)
    assert "not-the-password" not in f"{error} {error!r}"
    assert "?" not in (error.url or "").replace("?<redacted>", "")
    assert proxy.accepted == 1
    assert "PUT /_storage/{key}" not in stats["requests"]


async def test_a_presigned_download_through_an_unreachable_proxy_is_a_proxy_error(
    tls_emulator: ThreadedEmulator,
) -> None:
    port = unused_port()
    retry = RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.02)
    async with client(tls_emulator, trust_env=False) as direct:
        upload = await direct.application("proxy-app").upload_url()
    async with client(tls_emulator, proxy=f"http://127.0.0.1:{port}", retry=retry) as c:
        with pytest.raises(ProxyError) as caught:
            async with c.transport.stream_presigned(upload.upload_url):
                pass
    assert caught.value.phase == "connect"
    assert f"the proxy 127.0.0.1:{port} could not be reached" in str(caught.value)


async def test_a_proxy_that_drops_every_tunnel_request_is_tried_within_the_retry_budget(
    tls_emulator: ThreadedEmulator,
) -> None:
    """Not retried forever: one connection per attempt of the RetryPolicy, then ProxyError."""
    accepted = 0

    def drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        writer.close()

    server = await asyncio.start_server(drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    retry = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.02)
    try:
        async with client(tls_emulator, proxy=f"http://127.0.0.1:{port}", retry=retry) as c:
            with pytest.raises(ProxyError) as caught:
                await c.application("proxy-app").new_run(input={"n": 1})
    finally:
        server.close()
        await server.wait_closed()
    assert caught.value.phase == "tunnel"
    assert f"the proxy 127.0.0.1:{port} did not open the tunnel" in str(caught.value)
    assert accepted == 3
    assert tls_emulator.stats()["connections"]["opened"] == 0


async def test_a_batch_stops_at_a_proxy_error_with_its_reason(
    tls_emulator: ThreadedEmulator,
    proxy: CountingProxy,
    tmp_path: Path,
    fast_polling: PollingOptions,
) -> None:
    scenarios = [Scenario(key=f"s{i}", input={"i": i}) for i in range(20)]
    wrong = proxy.url.replace(PASSWORD, "not-the-password")
    async with client(tls_emulator, proxy=wrong) as c:
        with pytest.raises(BatchAbortedError) as caught:
            await c.application("proxy-app").run_batch_all(
                scenarios,
                max_in_flight=5,
                journal=tmp_path / "sweep.db",
                polling_options=fast_polling,
            )
    stop = caught.value
    assert stop.reason == "proxy" and isinstance(stop.cause, ProxyError)
    assert f"the proxy {proxy.address} refused the credentials" in str(stop)
    assert "not-the-password" not in str(stop)
    assert proxy.accepted <= 5  # at most one attempt per scenario under way, none retried
    assert tls_emulator.stats()["requests"] == {}


async def test_a_redirect_to_another_origin_goes_through_the_proxy_too(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy
) -> None:
    """The hop's pool (another origin: localhost) is made with the proxy its URL chooses; the
    key stays behind, so the emulator refuses the hop, but it got there through the proxy."""
    base = f"{tls_emulator.url}/_emulator/redirect/307@localhost/"
    verify = str(tls_emulator.ca_file)
    async with AsyncClient(api_key="test-key", url=base, verify=verify, proxy=proxy.url) as c:
        with pytest.raises(AuthenticationError):
            await c.application("proxy-app").new_run(input={"n": 1})
    port = tls_emulator.port
    assert proxy.forwarded(f"127.0.0.1:{port}") == 1
    assert proxy.forwarded(f"localhost:{port}") == 1
    assert tls_emulator.stats()["connections"]["opened"] == 2
    assert tls_emulator.stats()["runs_created"] == 0
