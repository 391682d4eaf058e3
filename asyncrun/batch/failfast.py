"""Batch-wide failures: what no scenario can get past stops the whole batch at once.

- A refused API key: 401 or 403 on any call.
- An unknown application: a 404 while submitting (the POST runs, or the input's upload),
  confirmed by one listing of the application's runs that is a 404 too (a 404 on POST can
  also mean a scenario's unknown instance; the listing is made once and shared by every
  submit that got a 404 meanwhile).
- A server whose TLS certificate is not trusted (CertificateVerifyError): time cannot fix it.
- A proxy that cannot be used (ProxyError: unreachable after the transport's retries, a refused
  tunnel, refused or missing credentials): every request goes through it.
- An endpoint that cannot be reached: every request attempt of the client failing to connect
  (refused, no route, DNS, connect timeout) for `unreachable_after` seconds, as the
  transport's `Reachability` records them (`watch`, a task beside the driver). A submit that
  cannot connect is tried again meanwhile (`reach`), not counted as its scenario's failure.

The scenario task that becomes certain raises BatchAbortedError (for an unreachable endpoint:
the watch task, and the stream stops the driver); the batch's task group then
cancels every other scenario task where it waits (a rate-limit token, a journal commit, a POST
on the wire: its row stays "submitting" and a resume reconciles it by name) and the driver
stops pulling scenarios. So a wrong key costs at most `max_in_flight` POSTs, nothing is
canceled in the cloud, and no scenario is marked as failed for it: the journal resumes.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

from asyncrun._retry import full_jitter_delay
from asyncrun._types import Clock, Sleep
from asyncrun.batch.journal import utc_now
from asyncrun.batch.protocol import BatchApplication
from asyncrun.config import RetryPolicy
from asyncrun.errors import (
    AbortReason,
    APIConnectionError,
    APIError,
    APIStatusError,
    AuthenticationError,
    BatchAbortedError,
    CertificateVerifyError,
    NotFoundError,
    PermissionDeniedError,
    ProxyError,
)

__all__ = ["UNREACHABLE_AFTER", "FailFast"]

T = TypeVar("T")

UNREACHABLE_AFTER = 30.0
"""Seconds of nothing but failed connection attempts after which a batch stops (default)."""

_RESUME = "nothing was canceled; run the batch again with the same journal to resume"
_PROBE_NAME = "asyncrun/application-probe"
_RECONNECT = RetryPolicy(initial_delay=0.5, max_delay=5.0)


class FailFast:
    """Decides, for one batch, whether an error is batch-wide (see the module's docstring)."""

    def __init__(
        self,
        app: BatchApplication,
        *,
        unreachable_after: float = UNREACHABLE_AFTER,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.app = app
        self.unreachable_after = unreachable_after
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._app_probe: asyncio.Task[bool] | None = None  # True: the application exists

    # ------------------------------------------------------------------ reachability

    async def watch(self) -> None:
        """Raise BatchAbortedError once every request attempt of the client has failed to
        connect for `unreachable_after` seconds (runs until cancelled otherwise)."""
        reach = self.app.reachability
        tick = min(1.0, self.unreachable_after / 4)
        while True:
            await self._sleep(tick)
            lasted = reach.unreachable_for()
            if lasted >= self.unreachable_after and reach.last_error is not None:
                error = reach.last_error
                raise _aborted(
                    "unreachable",
                    f"{_where(error)} could not be reached for {lasted:.0f} s ({error.message})",
                    "check --url / NEXTMV_ENDPOINT and the network",
                    error,
                )

    async def reach(self, call: Callable[[], Awaitable[T]]) -> T:
        """`call`, made again after a pause while it cannot connect: a submit is not its
        scenario's failure while the API is unreachable; `watch` stops the batch if that lasts.
        Gives up (raises the connection error) after twice `unreachable_after` seconds."""
        failures = 0
        started = self._clock()
        while True:
            try:
                return await call()
            except APIConnectionError as exc:
                if not exc.unreachable or self._clock() - started >= 2 * self.unreachable_after:
                    raise
            await self._sleep(full_jitter_delay(_RECONNECT, failures, self._rng))
            failures += 1

    # ------------------------------------------------------------------ verdicts

    async def refusal(self, exc: BaseException, *, submitting: bool) -> BatchAbortedError | None:
        """The batch-wide failure `exc` proves, or None when it concerns one scenario.
        `submitting`: `exc` came from POST runs (a 404 there may be the application's)."""
        if isinstance(exc, AuthenticationError | PermissionDeniedError):
            return _refused_key(exc)
        if isinstance(exc, CertificateVerifyError):
            return _untrusted(exc)
        if isinstance(exc, ProxyError):
            return _aborted("proxy", exc.message, "fix the proxy setting or the proxy", exc)
        if submitting and isinstance(exc, NotFoundError) and not await self._app_exists():
            return _aborted(
                "unknown_application",
                f"application {self.app.id!r} does not exist at {_where(exc)} (404)",
                "check --app-id and --url (an application must be created before it is run)",
                exc,
            )
        return None

    async def check(self, exc: BaseException, *, submitting: bool) -> None:
        """Raise BatchAbortedError when `exc`, which ended a scenario, is batch-wide.
        `submitting`: the scenario had no run yet (a 404 may be the application's: its input
        upload or POST)."""
        stop = await self.refusal(exc, submitting=submitting)
        if stop is not None:
            raise stop from exc

    async def _app_exists(self) -> bool:
        """One listing of the application's runs, shared by every caller until it answers: a
        404 means the application does not exist. Only a definite answer is kept."""
        if self._app_probe is None:
            self._app_probe = asyncio.ensure_future(self._probe())
        probe = self._app_probe
        try:
            return await asyncio.shield(probe)
        except APIError:
            if self._app_probe is probe:
                self._app_probe = None  # unsure: the next 404 asks again
            return True

    async def aclose(self) -> None:
        """Stop a listing still under way (the batch is over)."""
        probe, self._app_probe = self._app_probe, None
        if probe is not None and not probe.done():
            probe.cancel()
            await asyncio.gather(probe, return_exceptions=True)

    async def _probe(self) -> bool:
        try:
            await self.app.find_runs_by_name(_PROBE_NAME, created_after=utc_now())
        except NotFoundError:
            return False
        return True


def _refused_key(exc: APIStatusError) -> BatchAbortedError:
    what = (
        "the API key was refused"
        if isinstance(exc, AuthenticationError)
        else "the API key is not allowed to use this application"
    )
    return _aborted(
        "authentication",
        f"{what} by {_where(exc)} ({exc.status_code})",
        "check NEXTMV_API_KEY (or apikey in ~/.nextmv/config.yaml) and --url",
        exc,
    )


def _untrusted(exc: CertificateVerifyError) -> BatchAbortedError:
    return _aborted(
        "unreachable",
        f"the TLS certificate of {exc.host or _where(exc)} is not trusted ({exc.reason})",
        "trust its CA with --ca-file PATH (AsyncClient(verify=PATH)), REQUESTS_CA_BUNDLE=PATH "
        "or --system-trust, or check --url",
        exc,
    )


def _aborted(
    reason: AbortReason, message: str, check: str, cause: BaseException
) -> BatchAbortedError:
    error = BatchAbortedError(message, reason=reason, hint=f"{check}; {_RESUME}", cause=cause)
    error.__cause__ = cause
    return error


def _where(exc: APIError) -> str:
    """The scheme and host of the failed request's URL (already redacted)."""
    if not exc.url:
        return "the API"
    parts = urlsplit(exc.url)
    return f"{parts.scheme}://{parts.netloc}"
