"""Credential and URL resolution (argument > env > profile file), frozen settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from asyncrun import AsyncClient, ConfigError, Limits, RateLimits, RetryPolicy, Timeouts
from asyncrun.config import Credentials, Rate, needs_profile_file, read_profile, resolve_credentials

PROFILE_FILE = """
apikey: top-key
endpoint: top.example.com
staging:
  apikey: staging-key
  endpoint: http://staging.example.com:8080
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("NEXTMV_API_KEY", "NEXTMV_ENDPOINT", "NEXTMV_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def write_profile(home: Path) -> None:
    (home / ".nextmv").mkdir()
    (home / ".nextmv" / "config.yaml").write_text(PROFILE_FILE)


def resolve(
    api_key: str | None = None, url: str | None = None, profile: str | None = None
) -> Credentials:
    data = read_profile(profile) if needs_profile_file(api_key, url) else None
    return resolve_credentials(api_key, url, data)


@pytest.mark.parametrize(
    ("env", "args", "key", "url"),
    [
        ({}, {"api_key": "arg", "url": "http://a:1"}, "arg", "http://a:1"),
        ({"NEXTMV_API_KEY": "env"}, {}, "env", "https://top.example.com"),
        ({"NEXTMV_ENDPOINT": "e.io"}, {}, "top-key", "https://e.io"),
        ({"NEXTMV_API_KEY": "env"}, {"api_key": "arg"}, "arg", "https://top.example.com"),
        ({}, {"profile": "staging"}, "staging-key", "http://staging.example.com:8080"),
        (
            {"NEXTMV_PROFILE": "staging"},
            {"profile": "default"},
            "staging-key",
            "http://staging.example.com:8080",
        ),
        ({}, {"profile": "default"}, "top-key", "https://top.example.com"),
        ({"NEXTMV_API_KEY": "env"}, {"url": "127.0.0.1:8000"}, "env", "https://127.0.0.1:8000"),
    ],
)
def test_resolution_order(
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    args: dict[str, str],
    key: str,
    url: str,
) -> None:
    write_profile(home)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    creds = resolve(**args)
    assert (creds.api_key.get(), creds.url) == (key, url)


def test_default_url_without_profile_file(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEXTMV_API_KEY", "env")
    assert resolve().url == "https://api.cloud.nextmv.io"


def test_missing_key_is_config_error(home: Path) -> None:
    with pytest.raises(ConfigError, match="API key is missing"):
        resolve()


def test_unknown_profile_is_config_error(home: Path) -> None:
    write_profile(home)
    with pytest.raises(ConfigError, match="nope"):
        resolve(profile="nope")


def test_profile_file_not_read_when_env_has_everything(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / ".nextmv").mkdir()
    (home / ".nextmv" / "config.yaml").write_text(": not yaml : [")
    monkeypatch.setenv("NEXTMV_API_KEY", "env")
    monkeypatch.setenv("NEXTMV_ENDPOINT", "http://x:1")
    assert resolve().url == "http://x:1"
    monkeypatch.delenv("NEXTMV_ENDPOINT")
    with pytest.raises(ConfigError, match="not valid YAML"):
        resolve()


async def test_client_resolves_on_enter_and_repr_hides_key(home: Path) -> None:
    write_profile(home)
    client = AsyncClient(profile="staging")
    async with client:
        assert client.url == "http://staging.example.com:8080/"
        assert "staging-key" not in repr(client) and "staging-key" not in repr(client.transport)
    assert repr(client) == "AsyncClient(url='http://staging.example.com:8080')"


async def test_client_without_key_fails_on_enter(home: Path) -> None:
    with pytest.raises(ConfigError):
        async with AsyncClient(url="http://127.0.0.1:9"):
            pass


def test_secret_repr_is_redacted(home: Path) -> None:
    creds = resolve_credentials("s3cret-key", "http://x", None)
    assert "s3cret" not in repr(creds) and "s3cret" not in str(creds.api_key)


def test_settings_are_frozen_and_keyword_only() -> None:
    t = Timeouts()
    assert (t.connect, t.read, t.pool, t.upload) == (10.0, 60.0, 30.0, 900.0)
    with pytest.raises(ValidationError):
        t.read = 1.0
    assert t.model_copy(update={"read": 5.0}).read == 5.0
    assert RetryPolicy() == RetryPolicy(
        max_attempts=5, initial_delay=0.5, max_delay=8.0, max_retry_after=60.0
    )
    assert Limits().max_connections == 100 and Limits().rate == RateLimits.standard()
    with pytest.raises(ValidationError):
        Rate(count=0, per_seconds=1)


def test_presets() -> None:
    std, power = RateLimits.standard(), RateLimits.power()
    assert std.create == Rate(count=5, per_seconds=1.0)
    assert std.result == Rate(count=200, per_seconds=10.0)
    assert std.general == Rate(count=2000, per_seconds=60.0)
    assert (power.create, power.result, power.general) == (
        Rate(count=10, per_seconds=1.0),
        Rate(count=500, per_seconds=10.0),
        Rate(count=10000, per_seconds=60.0),
    )
    assert RateLimits.unlimited() == RateLimits(create=None, result=None, general=None)
