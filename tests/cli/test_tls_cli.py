"""`asyncrun run` against an HTTPS emulator: --ca-file trusts it; without it, one line, exit 2,
and the one connection's handshake is the only thing that happened."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from trust_env import clear_trust_env

from asyncrun.emulator import ThreadedEmulator

from .conftest import run_cli, write_manifest


@pytest.fixture
def tls_emulator(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[ThreadedEmulator]:
    clear_trust_env(monkeypatch)
    with emulator_thread_factory(tls=True, time_scale=20) as emu:
        yield emu


def test_ca_file_trusts_the_emulator(tls_emulator: ThreadedEmulator, tmp_path: Path) -> None:
    assert tls_emulator.ca_file is not None
    trust = ["--url", tls_emulator.url, "--ca-file", str(tls_emulator.ca_file)]
    result = run_cli(
        ["run", "--app-id", "tls-app", "--input-json", '{"a": 1}', "--wait", *trust], tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout


def test_untrusted_certificate_is_one_line_and_exit_2(
    tls_emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    result = run_cli(
        ["run", "--app-id", "tls-app", "--input-json", '{"a": 1}', "--url", tls_emulator.url],
        tmp_path,
    )
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "TLS certificate of 127.0.0.1" in lines[0]
    assert "--ca-file" in lines[0]
    assert "Traceback" not in result.stderr
    stats = tls_emulator.stats()
    assert stats["connections"]["opened"] == 1
    assert stats["connections"]["tls_handshakes"] == 0
    assert stats["requests"] == {}


def test_a_missing_ca_file_is_refused_before_any_request(
    tls_emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    trust = ["--url", tls_emulator.url, "--ca-file", str(tmp_path / "nope.pem")]
    result = run_cli(["run", "--app-id", "tls-app", "--input-json", "{}", *trust], tmp_path)
    assert result.returncode == 2
    assert "no CA bundle" in result.stdout + result.stderr
    assert tls_emulator.stats()["connections"]["opened"] == 0


def test_a_batch_stops_at_an_untrusted_certificate_with_one_line_and_exit_2(
    tls_emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    write_manifest(tmp_path / "sweep.jsonl", 20)
    where = ["--out", "out", "--limits", "unlimited", "--url", tls_emulator.url]
    result = run_cli(
        ["batch", "--app-id", "tls-app", "sweep.jsonl", "--journal", "j.db", *where],
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    problem = [line for line in result.stderr.splitlines() if "not trusted" in line]
    assert len(problem) == 1 and "--ca-file" in problem[0]
    assert "Traceback" not in result.stderr
    stats = tls_emulator.stats()
    # No request got through, and no submission was tried twice: at most one connection (and
    # refused handshake) per scenario, however many were under way when the batch stopped.
    assert stats["requests"] == {}
    assert stats["connections"]["tls_handshakes"] == 0
    assert 1 <= stats["connections"]["opened"] <= 20


def test_requests_ca_bundle_alone_trusts_the_emulator(
    tls_emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    assert tls_emulator.ca_file is not None
    command = ["run", "--app-id", "tls-app", "--input-json", '{"a": 1}', "--wait"]
    result = run_cli(
        [*command, "--url", tls_emulator.url],
        tmp_path,
        env={"REQUESTS_CA_BUNDLE": str(tls_emulator.ca_file)},
    )
    assert result.returncode == 0, result.stderr
    assert "succeeded" in result.stdout
    assert tls_emulator.stats()["runs_created"] == 1


def test_system_trust_reads_the_system_store(
    tls_emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    assert tls_emulator.ca_file is not None
    command = ["run", "--app-id", "tls-app", "--input-json", "{}", "--url", tls_emulator.url]
    refused = run_cli([*command, "--system-trust"], tmp_path)
    assert refused.returncode == 2
    assert "operating system's trust store" in refused.stderr
    # On Linux the system store is OpenSSL's default one, which SSL_CERT_FILE replaces.
    trusted = run_cli(
        [*command, "--system-trust"], tmp_path, env={"SSL_CERT_FILE": str(tls_emulator.ca_file)}
    )
    assert trusted.returncode == 0, trusted.stderr
    assert tls_emulator.stats()["runs_created"] == 1
    both = run_cli([*command, "--system-trust", "--ca-file", str(tls_emulator.ca_file)], tmp_path)
    assert both.returncode == 2
    assert "not allowed with argument" in both.stderr


def test_a_missing_requests_ca_bundle_is_one_line_and_exit_2_before_any_request(
    tls_emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    missing = tmp_path / "corp-ca.pem"
    result = run_cli(
        ["run", "--app-id", "tls-app", "--input-json", "{}", "--url", tls_emulator.url],
        tmp_path,
        env={"REQUESTS_CA_BUNDLE": str(missing)},
    )
    assert result.returncode == 2
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == [f"asyncrun run: no CA bundle at {missing} (REQUESTS_CA_BUNDLE)"]
    assert tls_emulator.stats()["connections"]["opened"] == 0
