"""The commands through a real HTTP proxy (pproxy, tests/counting_proxy.py) to the emulator over
TLS, as a user behind a company proxy runs them: HTTPS_PROXY or --proxy. Every connection the
emulator accepted is one the proxy opened to it (their two counts agree); a proxy that cannot be
used is one line and exit code 2, with nothing at the server."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from counting_proxy import PROXY_VARIABLES, CountingProxy, serving_proxy, through, unused_port

from asyncrun.emulator import ThreadedEmulator

from .conftest import cli_env, write_manifest

PASSWORD = "hunter2-proxy"
BATCH = ["batch", "--app-id", "proxy-app", "sweep.jsonl", "--journal", "j.db", "--out", "out"]
BATCH += ["--limits", "unlimited"]
RUN = ["run", "--app-id", "proxy-app", "--input-json", '{"a": 1}']


@pytest.fixture
def proxy() -> Iterator[CountingProxy]:
    with serving_proxy(f"carol:{PASSWORD}") as running:
        yield running


def env(**proxies: str) -> dict[str, str]:
    """The subprocess's proxy variables: exactly these."""
    return proxies


def run_cli(
    args: list[str], cwd: Path, *, env: dict[str, str], timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`asyncrun ARGS` in a subprocess whose proxy variables are `env`'s and no other (an
    empty lower-case one would unset its upper-case twin, so the others are removed)."""
    clean = {k: v for k, v in cli_env().items() if k not in PROXY_VARIABLES}
    return subprocess.run(
        [sys.executable, "-m", "asyncrun", *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def trusting(emu: ThreadedEmulator) -> list[str]:
    assert emu.ca_file is not None
    return ["--url", emu.url, "--ca-file", str(emu.ca_file)]


def output_lines(result: object) -> list[str]:
    text = f"{result.stdout}{result.stderr}"  # type: ignore[attr-defined]
    return [line for line in text.splitlines() if line.strip()]


def test_a_sweep_goes_through_https_proxy(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy, tmp_path: Path
) -> None:
    write_manifest(tmp_path / "sweep.jsonl", 12)
    result = run_cli(
        [*BATCH, *trusting(tls_emulator)],
        tmp_path,
        env=env(HTTPS_PROXY=proxy.url),
    )
    assert result.returncode == 0, result.stderr
    assert tls_emulator.stats()["runs_created"] == 12
    assert len(list((tmp_path / "out" / "results").iterdir())) == 12
    assert through(proxy, tls_emulator) >= 1
    assert PASSWORD not in result.stdout + result.stderr


def test_a_run_goes_through_the_proxy_option(
    tls_emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    with serving_proxy() as open_proxy:
        result = run_cli(
            [*RUN, "--wait", "--proxy", open_proxy.url, *trusting(tls_emulator)],
            tmp_path,
            env=env(NO_PROXY="*"),  # --proxy wins over the environment
        )
        assert result.returncode == 0, result.stderr
        assert "succeeded" in result.stdout
        assert through(open_proxy, tls_emulator) == 1


def test_no_proxy_bypasses_the_proxy(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy, tmp_path: Path
) -> None:
    result = run_cli(
        [*RUN, "--wait", *trusting(tls_emulator)],
        tmp_path,
        env=env(https_proxy=proxy.url, no_proxy="localhost,127.0.0.1"),
    )
    assert result.returncode == 0, result.stderr
    assert proxy.accepted == 0
    assert tls_emulator.stats()["connections"]["opened"] == 1


@pytest.mark.parametrize("command", ["run", "batch"])
def test_an_unreachable_proxy_is_one_line_exit_2_and_nothing_at_the_server(
    tls_emulator: ThreadedEmulator, tmp_path: Path, command: str
) -> None:
    port = unused_port()
    write_manifest(tmp_path / "sweep.jsonl", 5)
    what = RUN if command == "run" else BATCH
    result = run_cli(
        [*what, *trusting(tls_emulator)],
        tmp_path,
        env=env(HTTPS_PROXY=f"http://carol:{PASSWORD}@127.0.0.1:{port}"),
        timeout=120,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    # One line says it, the last (a batch's progress bar is above it); the connect attempts
    # are retried quietly (-v shows them).
    lines = output_lines(result)
    said = [line for line in lines if line.startswith("asyncrun")]
    assert said == [lines[-1]], lines
    if command == "run":
        assert len(lines) == 1, lines
    assert f"the proxy 127.0.0.1:{port} could not be reached (Connection refused)" in lines[-1]
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    stats = tls_emulator.stats()
    assert stats["requests"] == {} and stats["connections"]["opened"] == 0


def test_wrong_proxy_credentials_are_one_line_exit_2_without_the_password(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy, tmp_path: Path
) -> None:
    wrong = proxy.url.replace(PASSWORD, "wr0ng-secret")
    result = run_cli(
        [*RUN, *trusting(tls_emulator)],
        tmp_path,
        env=env(HTTPS_PROXY=wrong),
    )
    assert result.returncode == 2
    lines = output_lines(result)
    assert len(lines) == 1, lines
    assert f"the proxy {proxy.address} refused the credentials" in lines[0]
    assert "wr0ng-secret" not in result.stdout + result.stderr
    assert proxy.accepted == 1  # a 407 is not retried
    assert tls_emulator.stats()["requests"] == {}


def test_a_batch_stops_at_wrong_proxy_credentials_with_its_reason(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy, tmp_path: Path
) -> None:
    write_manifest(tmp_path / "sweep.jsonl", 20)
    result = run_cli(
        [*BATCH, *trusting(tls_emulator)],
        tmp_path,
        env=env(HTTPS_PROXY=proxy.url.replace(PASSWORD, "wr0ng-secret")),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    stopped = [line for line in result.stderr.splitlines() if "stopped:" in line]
    assert len(stopped) == 1 and "refused the credentials" in stopped[0]
    assert "wr0ng-secret" not in result.stdout + result.stderr
    assert tls_emulator.stats()["requests"] == {}


def test_credentials_in_the_proxy_option_are_refused_before_anything_is_sent(
    tls_emulator: ThreadedEmulator, proxy: CountingProxy, tmp_path: Path
) -> None:
    result = run_cli(
        [*RUN, "--proxy", proxy.url, *trusting(tls_emulator)],
        tmp_path,
        env=env(),
    )
    assert result.returncode == 2
    assert "put the proxy URL with them in HTTPS_PROXY" in result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert proxy.accepted == 0
    assert tls_emulator.stats()["connections"]["opened"] == 0


def test_an_unusable_proxy_variable_is_one_line_exit_2_before_any_request(
    tls_emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    result = run_cli(
        [*RUN, *trusting(tls_emulator)],
        tmp_path,
        env=env(HTTPS_PROXY=f"socks5://carol:{PASSWORD}@127.0.0.1:1080"),
    )
    assert result.returncode == 2
    assert output_lines(result) == [
        "asyncrun run: HTTPS_PROXY: socks5:// proxies are not supported (use an http:// proxy "
        "URL; HTTPS requests still go through it encrypted, with CONNECT)"
    ]
    assert tls_emulator.stats()["connections"]["opened"] == 0


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ("socks5://127.0.0.1:1080", "argument --proxy: socks5:// proxies are not supported"),
        ("http://127.0.0.1:99999", "argument --proxy: not a proxy URL"),
        ("", "argument --proxy: the proxy URL has no host"),
    ],
)
def test_a_bad_proxy_option_is_a_usage_error(tmp_path: Path, value: str, words: str) -> None:
    result = run_cli([*RUN, "--url", "http://127.0.0.1:9", "--proxy", value], tmp_path, env=env())
    assert result.returncode == 2
    assert words in result.stderr
