"""Frozen client settings: credentials, timeouts, connection and rate limits, retry policy.

Every settings object is an immutable pydantic model built with keywords; derive a changed copy
with `model_copy(update={...})`. Nothing here is a mutable module-level default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field

from asyncrun.errors import ConfigError, redact_url

__all__ = [
    "DEFAULT_URL",
    "Bucket",
    "Credentials",
    "Limits",
    "Rate",
    "RateLimits",
    "RetryPolicy",
    "Timeouts",
    "check_url",
    "needs_profile_file",
    "read_profile",
    "resolve_credentials",
]

DEFAULT_URL = "https://api.cloud.nextmv.io"

Bucket = Literal["create", "result", "general"]
"""The Nextmv rate bucket a request draws from (see docs/internals.md)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Timeouts(_Frozen):
    """Seconds allowed per phase of a request.

    `connect`: opening a TCP connection; `read`: between bytes of an answer; `pool`: how long a
    request waiting for a pooled connection lets the pool go without freeing one (a queue that
    moves is not a timeout; reported as APITimeoutError(phase="pool"), never as a network timeout);
    `upload`: a whole presigned transfer.
    """

    connect: float = Field(default=10.0, gt=0)
    read: float = Field(default=60.0, gt=0)
    pool: float = Field(default=30.0, gt=0)
    upload: float = Field(default=900.0, gt=0)


class RetryPolicy(_Frozen):
    """Retries of transient failures: full-jitter exponential backoff, Retry-After honoured."""

    max_attempts: int = Field(default=5, ge=1)
    initial_delay: float = Field(default=0.5, ge=0)
    max_delay: float = Field(default=8.0, ge=0)
    max_retry_after: float = Field(default=60.0, ge=0)


class Rate(_Frozen):
    """`count` requests per `per_seconds` seconds (bursts of up to `count` allowed)."""

    count: int = Field(gt=0)
    per_seconds: float = Field(gt=0)


class RateLimits(_Frozen):
    """One rate per Nextmv bucket; None means that bucket is not limited client-side."""

    create: Rate | None = None
    result: Rate | None = None
    general: Rate | None = None

    @classmethod
    def standard(cls) -> RateLimits:
        """The published default plan: 5 runs/s, 200 results per 10 s, 2,000 requests/min."""
        return cls(
            create=Rate(count=5, per_seconds=1.0),
            result=Rate(count=200, per_seconds=10.0),
            general=Rate(count=2000, per_seconds=60.0),
        )

    @classmethod
    def power(cls) -> RateLimits:
        """The published power-user plan: 10 runs/s, 500 results per 10 s, 10,000 requests/min."""
        return cls(
            create=Rate(count=10, per_seconds=1.0),
            result=Rate(count=500, per_seconds=10.0),
            general=Rate(count=10000, per_seconds=60.0),
        )

    @classmethod
    def unlimited(cls) -> RateLimits:
        """No client-side rate limit (the 429 cool-down still applies)."""
        return cls()

    def for_bucket(self, bucket: Bucket) -> Rate | None:
        """The rate of one bucket."""
        rate: Rate | None = getattr(self, bucket)
        return rate


class Limits(_Frozen):
    """Connection pool size, per-bucket request rates, the largest object uploaded
    (`upload_cap`, bytes; the published 500 MB) and the largest result taken in (`output_cap`,
    bytes: a downloaded output, and what a multi-file output may extract to, so a hostile or
    broken archive cannot fill the disk). None: no client-side cap."""

    max_connections: int = Field(default=100, gt=0)
    rate: RateLimits = Field(default_factory=RateLimits.standard)
    upload_cap: int | None = Field(default=500 * 1024 * 1024, gt=0)
    output_cap: int | None = Field(default=5 * 1024 * 1024 * 1024, gt=0)


class _Secret:
    """Holds the API key; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, kw_only=True)
class Credentials:
    """A resolved API key (redacted in repr) and base URL."""

    api_key: _Secret
    url: str


def check_url(url: str) -> str:
    """The API base URL, checked: http or https (https:// is added when no scheme is given)
    and a host. Raises ConfigError otherwise (the URL is shown without query or user info)."""
    url = url.strip()
    if "://" not in url:
        url = "https://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise ConfigError(f"invalid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(
            f"URL {redact_url(url)!r} must start with http:// or https://, not {parts.scheme}://"
        )
    if not parts.hostname:
        raise ConfigError(f"URL {redact_url(url)!r} has no host")
    return url


def needs_profile_file(api_key: str | None, url: str | None) -> bool:
    """Whether resolution must read ~/.nextmv/config.yaml (so the caller can do it in a thread)."""
    key = api_key or os.environ.get("NEXTMV_API_KEY")
    endpoint = url or os.environ.get("NEXTMV_ENDPOINT")
    return not (key and endpoint)


def read_profile(profile: str | None) -> dict[str, Any]:
    """The selected profile of ~/.nextmv/config.yaml ({} when the file does not exist).

    Blocking file I/O: call it from a worker thread inside an event loop.
    NEXTMV_PROFILE wins over the `profile` argument; "default" (or none) is the top level.
    """
    path = Path.home() / ".nextmv" / "config.yaml"
    chosen = os.environ.get("NEXTMV_PROFILE") or profile
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if chosen and chosen != "default":
            raise ConfigError(f"profile {chosen!r} not found: {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise ConfigError(f"{path} is not valid YAML") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping")
    if not chosen or chosen == "default":
        return data
    section = data.get(chosen)
    if not isinstance(section, dict):
        raise ConfigError(f"profile {chosen!r} not found in {path}")
    return section


def resolve_credentials(
    api_key: str | None, url: str | None, profile_data: dict[str, Any] | None
) -> Credentials:
    """api key: argument > NEXTMV_API_KEY > profile `apikey`; URL: argument > NEXTMV_ENDPOINT >
    profile `endpoint` > the public API. A URL with no scheme gets https://."""
    data = profile_data or {}
    key = api_key or os.environ.get("NEXTMV_API_KEY") or data.get("apikey")
    if not isinstance(key, str) or not key.strip():
        raise ConfigError(
            "API key is missing: pass api_key=, set NEXTMV_API_KEY, "
            "or add `apikey` to ~/.nextmv/config.yaml"
        )
    endpoint = url or os.environ.get("NEXTMV_ENDPOINT") or data.get("endpoint") or DEFAULT_URL
    if not isinstance(endpoint, str) or not endpoint.strip():
        raise ConfigError("the endpoint in ~/.nextmv/config.yaml must be a string")
    return Credentials(api_key=_Secret(key.strip()), url=check_url(endpoint))
