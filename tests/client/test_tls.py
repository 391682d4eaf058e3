"""The client over HTTPS: `verify=` as httpx has it, connections reused over TLS, and a
certificate it does not trust failing once, clearly, with nothing retried."""

from __future__ import annotations

import logging
import ssl
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import trustme
from trust_env import clear_trust_env

from asyncrun import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    CertificateVerifyError,
    ConfigError,
    Limits,
    PollingOptions,
    RateLimits,
    RetryPolicy,
    Scenario,
    run_batch_all,
)
from asyncrun._retry import is_transient
from asyncrun._tls import resolve_trust
from asyncrun.emulator import Emulator
from asyncrun.transport import EXPRESS_CONNECTIONS

Factory = Callable[..., AbstractAsyncContextManager[Emulator]]
KEY = "test-key"
FAST = PollingOptions(initial_delay=0.01, delay=0.01, backoff=0.01, max_delay=0.1, jitter=0.01)
CLIENT = "asyncrun/0.1.0"


@pytest.fixture(autouse=True)
def _system_trust_only(monkeypatch: pytest.MonkeyPatch) -> None:
    # The runner's environment must not decide what these tests trust.
    clear_trust_env(monkeypatch)


def client_of(emu: Emulator, verify: Any, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("limits", Limits(max_connections=10, rate=RateLimits.unlimited()))
    return AsyncClient(KEY, emu.url, verify=verify, **kwargs)


def connections_of(emu: Emulator) -> dict[str, int]:
    counts: dict[str, int] = emu.stats()["connections"]["by_client"][CLIENT]
    return counts


async def test_ca_file_trusts_the_emulator_for_api_and_storage(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "data.csv").write_text("a,b\n1,2\n")
    async with emulator_factory(tls=True, time_scale=20) as emu:
        assert emu.ca_file is not None
        async with client_of(emu, emu.ca_file) as client:
            app = client.application("tls-app")
            result = await app.new_run_with_result(input={"n": 1}, polling_options=FAST)
            # A directory input goes up through a presigned https URL.
            run_id = await app.new_run(dir_path=tmp_path / "inputs")
        stats = emu.stats()
    assert result.metadata.status_v2 == "succeeded"
    assert run_id
    assert stats["requests"]["PUT /_storage/{key}"] == {"200": 1}
    assert stats["connections"]["tls_handshakes"] == stats["connections"]["opened"]


async def test_ssl_context_and_ssl_cert_file_are_trusted(
    emulator_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with emulator_factory(tls=True) as emu:
        assert emu.ca_pem is not None and emu.ca_file is not None
        context = ssl.create_default_context(cadata=emu.ca_pem.decode())
        async with client_of(emu, context) as client:
            await client.application("tls-app").new_run(input={"n": 1})
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_file))
        async with client_of(emu, True) as client:
            await client.application("tls-app").new_run(input={"n": 2})
        assert emu.stats()["runs_created"] == 2


async def test_verify_false_skips_the_check_and_says_so(
    emulator_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    async with emulator_factory(tls=True) as emu:
        with caplog.at_level(logging.WARNING, logger="asyncrun"):
            async with client_of(emu, False) as client:
                await client.application("tls-app").new_run(input={"n": 1})
    assert "verification is off" in caplog.text


async def test_untrusted_certificate_fails_once_with_a_clear_error(
    emulator_factory: Factory,
) -> None:
    retry = RetryPolicy(max_attempts=5, initial_delay=0.001, max_delay=0.01)
    async with emulator_factory(tls=True) as emu:
        async with client_of(emu, True, retry=retry) as client:
            with pytest.raises(CertificateVerifyError) as caught:
                await client.application("tls-app").run_metadata("run-1")
        stats = emu.stats()
    error = caught.value
    assert isinstance(error, APIConnectionError)
    message = str(error)
    assert "\n" not in message
    assert f"TLS certificate of 127.0.0.1:{emu.port}" in message
    assert "unable to get local issuer certificate" in message
    assert "--ca-file" in message and "SSL_CERT_FILE" in message
    assert KEY not in message
    # One connection, its handshake refused, no request: nothing was retried.
    assert stats["connections"]["opened"] == 1
    assert stats["connections"]["tls_handshakes"] == 0
    assert stats["requests"] == {}


def test_bad_verify_settings_are_refused_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no CA bundle"):
        AsyncClient(KEY, "https://127.0.0.1:1", verify=tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match="verify must be"):
        AsyncClient(KEY, "https://127.0.0.1:1", verify=3)  # type: ignore[arg-type]


async def test_a_file_that_is_no_ca_bundle_is_refused_on_open(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="cannot read the CA bundle"):
        async with AsyncClient(KEY, "https://127.0.0.1:1", verify=bogus):
            pass


@pytest.mark.slow
async def test_a_1000_run_sweep_over_tls_opens_at_most_its_connection_limit(
    emulator_factory: Factory, tmp_path: Path
) -> None:
    limit = 8
    scenarios = [Scenario(key=f"s{i}", input={"i": i}) for i in range(1000)]
    async with emulator_factory(tls=True, time_scale=50) as emu:
        limits = Limits(max_connections=limit, rate=RateLimits.unlimited())
        async with client_of(emu, emu.ca_file, limits=limits) as client:
            outcomes = await run_batch_all(
                client.application("tls-app"),
                iter(scenarios),
                max_in_flight=200,
                journal=tmp_path / "j.db",
                polling_options=FAST,
            )
        counts = connections_of(emu)
    assert [o.status for o in outcomes] == ["succeeded"] * 1000
    assert counts["requests"] >= 2000  # a create and at least one poll per run
    # The pool's limit: max_connections plus the few kept for list pages (express).
    assert 1 <= counts["connections"] <= limit + EXPRESS_CONNECTIONS
    assert counts["tls_handshakes"] == counts["connections"]


def test_the_retry_helper_takes_a_certificate_failure_as_lasting() -> None:
    error = CertificateVerifyError("GET https://h/v1: not trusted", host="h", reason="r")
    assert not is_transient(error)
    assert is_transient(APIConnectionError("GET https://h/v1: connection lost"))


# ---------------------------------------------------------------- trust from the environment


async def test_requests_ca_bundle_alone_trusts_the_emulator_for_api_and_storage(
    emulator_factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "data.csv").write_text("a,b\n1,2\n")
    async with emulator_factory(tls=True, time_scale=20) as emu:
        assert emu.ca_file is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_file))
        async with client_of(emu, True) as client:
            app = client.application("tls-app")
            result = await app.new_run_with_result(input={"n": 1}, polling_options=FAST)
            await app.new_run(dir_path=tmp_path / "inputs")  # a presigned PUT (aiohttp)
        stats = emu.stats()
    assert result.metadata.status_v2 == "succeeded"
    assert stats["runs_created"] == 2
    assert stats["requests"]["PUT /_storage/{key}"] == {"200": 1}


async def test_curl_ca_bundle_is_read_when_requests_ca_bundle_is_not_set(
    emulator_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with emulator_factory(tls=True) as emu:
        assert emu.ca_file is not None
        monkeypatch.setenv("CURL_CA_BUNDLE", str(emu.ca_file))
        async with client_of(emu, True) as client:
            await client.application("tls-app").new_run(input={"n": 1})
        assert emu.stats()["runs_created"] == 1


async def test_requests_ca_bundle_wins_over_ssl_cert_file_and_says_so(
    emulator_factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())  # a valid bundle without the emulator's CA
    async with emulator_factory(tls=True) as emu:
        assert emu.ca_file is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_file))
        async with client_of(emu, True) as client:
            with pytest.raises(CertificateVerifyError) as caught:
                await client.application("tls-app").new_run(input={"n": 1})
        assert f"trusted: REQUESTS_CA_BUNDLE={other}" in str(caught.value)
        assert emu.stats()["runs_created"] == 0


async def test_an_explicit_verify_wins_over_the_environment_and_trust_env_false_ignores_it(
    emulator_factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())
    async with emulator_factory(tls=True) as emu:
        assert emu.ca_file is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
        async with client_of(emu, emu.ca_file) as client:
            await client.application("tls-app").new_run(input={"n": 1})
        # The environment names the right CA, but the client was told not to read it.
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_file))
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_file))
        async with client_of(emu, True, trust_env=False) as client:
            with pytest.raises(CertificateVerifyError):
                await client.application("tls-app").new_run(input={"n": 2})
        assert emu.stats()["runs_created"] == 1


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
async def test_a_variable_naming_a_missing_or_bogus_bundle_is_a_config_error_before_any_request(
    emulator_factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    async with emulator_factory(tls=True) as emu:
        monkeypatch.setenv(variable, str(tmp_path / "missing.pem"))
        with pytest.raises(ConfigError, match=f"no CA bundle at .*missing.pem \\({variable}\\)"):
            async with client_of(emu, True):
                pass
        monkeypatch.setenv(variable, str(bogus))
        with pytest.raises(
            ConfigError, match=f"cannot read the CA bundle .*bogus.pem \\({variable}"
        ):
            async with client_of(emu, True):
                pass
        assert emu.stats()["connections"]["opened"] == 0


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    trust = resolve_trust(True)
    assert (trust.source, str(trust.path)) == (
        "CURL_CA_BUNDLE",
        "/etc/ssl/certs/ca-certificates.crt",
    )


# ---------------------------------------------------------------- the operating system's store


async def test_verify_system_uses_the_system_store_through_truststore(
    emulator_factory: Factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    async with emulator_factory(tls=True) as emu:
        assert emu.ca_file is not None
        # The system store does not hold the emulator's CA: refused, and the message says
        # which store was asked.
        async with client_of(emu, "system") as client:
            with pytest.raises(CertificateVerifyError, match="operating system's trust store"):
                await client.application("tls-app").new_run(input={"n": 1})
        # On Linux the system store is OpenSSL's default one, which SSL_CERT_FILE replaces:
        # the way to put the emulator's CA into it for a test.
        monkeypatch.setenv("SSL_CERT_FILE", str(emu.ca_file))
        async with client_of(emu, "system") as client:
            transport = client.transport
            await client.application("tls-app").new_run(input={"n": 2})
            assert type(transport._ssl).__module__.startswith("truststore")
        # The official SDK's switch, NEXTMV_SYSTEM_CERTS, asks for the same, before a
        # machine-wide REQUESTS_CA_BUNDLE (here one without the emulator's CA).
        other = tmp_path / "other-ca.pem"
        other.write_bytes(trustme.CA().cert_pem.bytes())
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(other))
        monkeypatch.setenv("NEXTMV_SYSTEM_CERTS", "true")
        async with client_of(emu, True) as client:
            await client.application("tls-app").new_run(input={"n": 3})
            assert client.transport.trust.kind == "system"
        assert emu.stats()["runs_created"] == 2


def test_verify_system_without_truststore_is_a_clear_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "truststore", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'asyncrun\[truststore\]'"):
        AsyncClient(KEY, "https://127.0.0.1:1", verify="system")


async def test_a_redirect_to_another_https_origin_uses_the_same_trust(
    emulator_factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with emulator_factory(tls=True) as emu:
        assert emu.ca_file is not None
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emu.ca_file))
        url = f"{emu.url}/_emulator/redirect/307@localhost/"
        async with AsyncClient(KEY, url) as client:
            # The TLS handshake with localhost succeeded; the key stayed behind: 401.
            with pytest.raises(AuthenticationError):
                await client.application("tls-app").run_metadata("run-1")
        stats = emu.stats()
    assert stats["connections"]["tls_handshakes"] == 2
    assert stats["recent_requests"][-1]["headers"]["Host"] == f"localhost:{emu.port}"
