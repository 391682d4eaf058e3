"""The emulator's settings: one frozen EmulatorConfig, with a FaultProfile inside."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

MIB = 2**20

# The real API refuses inline run bodies over 5 MiB; the SDK switches to uploads above it.
INLINE_LIMIT = 5 * MIB

RateProfile = Literal["unlimited", "realistic"]


@dataclass(frozen=True)
class FaultProfile:
    """Per-request probabilities of injected faults on the /v1 API (each in [0, 1]).

    One uniform draw per request picks at most one fault, so the rates add up and must not
    exceed 1. `lost_create` and `late_create` only apply to POST runs: `lost_create` creates
    the run, then drops the connection before the answer; `late_create` reads the request,
    drops the connection with no answer, and creates the run `late_seconds` (real seconds, not
    scaled) later, as a gateway may still act on a request whose client is gone. The
    `storage_*` rates apply to the presigned storage URLs instead, drawn from their own seeded
    sequence (they also add up to <= 1).
    """

    rate_429: float = 0.0
    rate_429_bare: float = 0.0
    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_503: float = 0.0
    drop: float = 0.0
    slow: float = 0.0
    lost_create: float = 0.0
    late_create: float = 0.0
    slow_seconds: float = 0.5
    late_seconds: float = 5.0
    storage_500: float = 0.0
    storage_drop: float = 0.0

    def __post_init__(self) -> None:
        for rates in (self.bands(), self.storage_bands()):
            if any(r < 0 for _, r in rates) or sum(r for _, r in rates) > 1.0 + 1e-9:
                raise ValueError("fault rates must be >= 0 and add up to at most 1")
        if self.slow_seconds < 0 or self.late_seconds < 0:
            raise ValueError("slow_seconds and late_seconds must be >= 0")

    def bands(self) -> list[tuple[str, float]]:
        """The fault kinds with their rates, in the order the single draw walks them."""
        return [
            ("429", self.rate_429),
            ("429_bare", self.rate_429_bare),
            ("500", self.rate_500),
            ("502", self.rate_502),
            ("503", self.rate_503),
            ("drop", self.drop),
            ("slow", self.slow),
            ("lost_create", self.lost_create),
            ("late_create", self.late_create),
        ]

    def storage_bands(self) -> list[tuple[str, float]]:
        return [("storage_500", self.storage_500), ("storage_drop", self.storage_drop)]


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything the emulator can be told; see docs/internals.md for the meaning of each."""

    api_key: str | None = None
    time_scale: float = 1.0
    duration: tuple[float, float] = (0.05, 0.2)
    queue_delay: float = 0.0
    capacity: int | None = None
    rate_profile: RateProfile = "unlimited"
    faults: FaultProfile = field(default_factory=FaultProfile)
    url_ttl: float = 900.0
    upload_cap: int = 500 * MIB
    storage_dir: Path | None = None
    app_command: str | None = None
    app_concurrency: int = 4
    # Pushed python apps run with this interpreter (None: the emulator's own), in which the
    # user installs the app's requirements; bundled dependencies are for the cloud's platform.
    app_python: str | None = None
    # The longest a real app process (pushed binary or --app-command) may run, in seconds.
    app_timeout: float = 600.0
    # Runs for an app id never created create the app on first use (True), so scripts, the
    # demo and the benchmarks need no setup step; False answers 404 as the cloud does.
    auto_create_apps: bool = True
    page_size: int = 50
    recent_requests: int = 1000
    seed: int = 0
    # HTTPS: with a CA and certificate made at start, or from tls_cert + tls_key (PEM files).
    tls: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # A round trip (milliseconds) added by a latency proxy in front of the server; 0: none.
    rtt_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.time_scale <= 0:
            raise ValueError("time_scale must be > 0")
        low, high = self.duration
        if low < 0 or high < low:
            raise ValueError("duration must be a (low, high) range with 0 <= low <= high")
        if self.queue_delay < 0:
            raise ValueError("queue_delay must be >= 0")
        if self.capacity is not None and self.capacity <= 0:
            raise ValueError("capacity must be None (unlimited) or > 0")
        if self.rate_profile not in ("unlimited", "realistic"):
            raise ValueError(f"unknown rate profile {self.rate_profile!r}")
        if self.url_ttl <= 0 or self.upload_cap <= 0 or self.page_size <= 0:
            raise ValueError("url_ttl, upload_cap and page_size must be > 0")
        if self.app_timeout <= 0:
            raise ValueError("app_timeout must be > 0")
        if self.app_command is not None and not self.app_command.split():
            raise ValueError("app_command is empty")
        if self.app_concurrency <= 0 or self.recent_requests <= 0:
            raise ValueError("app_concurrency and recent_requests must be > 0")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together")
        if self.tls_cert is not None and not self.tls:
            raise ValueError("tls_cert and tls_key need tls=True")
        if self.rtt_ms < 0:
            raise ValueError("rtt_ms must be >= 0")
        if self.api_key is not None and not self.api_key:
            raise ValueError("api_key must be None (accept any) or a non-empty string")

    def replace(self, **changes: object) -> EmulatorConfig:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        # The accepted key is a secret: never print it.
        shown = "None" if self.api_key is None else "'***'"
        return (
            f"EmulatorConfig(api_key={shown}, time_scale={self.time_scale}, "
            f"rate_profile={self.rate_profile!r}, faults={self.faults!r}, seed={self.seed}, "
            f"tls={self.tls}, rtt_ms={self.rtt_ms})"
        )
