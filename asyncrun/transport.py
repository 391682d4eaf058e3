"""The HTTP engine: one aiohttp session, a connection-slot semaphore above aiohttp, rate buckets,
retries with full-jitter backoff and Retry-After, presigned transfers, redaction.

It knows HTTP, not Nextmv: callers say which rate bucket a request draws from and whether it is
idempotent. A non-idempotent request (POST runs) is retried only when it provably never left
the client (connect failure, connect or pool timeout) or the server rejected it with 429.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Literal

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from asyncrun.config import Bucket, Limits, RetryPolicy, Timeouts, _Secret
from asyncrun.errors import (
    AmbiguousSubmitError,
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncrunError,
    ConfigError,
    RateLimitError,
    UploadError,
    redact_url,
    status_error_class,
)
from asyncrun.ratelimit import RateLimiter

__all__ = [
    "BodyFactory",
    "Response",
    "Transport",
    "full_jitter_delay",
    "parse_retry_after",
]

logger = logging.getLogger("asyncrun")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
BodyFactory = Callable[[], "bytes | aiohttp.payload.Payload"]

_RETRY_STATUSES = frozenset({429, 502, 503, 504})
_USER_AGENT = "asyncrun/0.1.0"
_CHUNK = 64 * 1024


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date.

    None for a missing or unusable value (empty, garbage, inf, nan); a negative delta or a date
    in the past gives 0. The caller applies its cap.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        return _parse_http_date(text, time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _parse_http_date(text: str, now: float) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return max(0.0, when.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None


def full_jitter_delay(policy: RetryPolicy, attempt: int, rng: random.Random) -> float:
    """uniform(0, min(max_delay, initial_delay * 2**attempt)); safe for any attempt number."""
    try:
        ceiling = math.ldexp(policy.initial_delay, max(attempt, 0))
    except OverflowError:
        ceiling = math.inf
    return rng.uniform(0.0, min(policy.max_delay, ceiling))


@dataclass(frozen=True)
class Response:
    """A fully read API answer."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def request_id(self) -> str | None:
        return _request_id(self.headers)


def _request_id(headers: Mapping[str, str]) -> str | None:
    return headers.get("x-request-id") or headers.get("request-id")


@dataclass(frozen=True)
class _Failure:
    """One failed attempt: the error to raise if it is the last, and how to retry it."""

    error: AsyncrunError
    retryable: bool
    retry_after: float | None = None
    rate_limited: bool = False


Phase = Literal["connect", "read", "pool", "total"]


class Transport:
    """Owns the aiohttp session of one client. Open with `await open()`, close with `close()`."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: _Secret,
        timeouts: Timeouts,
        limits: Limits,
        retry: RetryPolicy,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._base = base_url if base_url.endswith("/") else base_url + "/"
        self._key = api_key
        self._timeouts = timeouts
        self._limits = limits
        self._retry = retry
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(limits.rate, retry, clock=clock, sleep=sleep)
        self._slots = asyncio.Semaphore(limits.max_connections)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"Transport(url={redact_url(self._base)!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise ConfigError("the client is not open: use `async with AsyncClient(...) as client`")
        return self._session

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def limits(self) -> Limits:
        return self._limits

    async def open(self) -> None:
        if self._session is not None and not self._session.closed:
            return
        connector = aiohttp.TCPConnector(limit=self._limits.max_connections)
        # No default headers: the Authorization header is added per API request only, so a
        # presigned transfer can never carry it.
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._timeouts.connect, sock_read=self._timeouts.read
            ),
        )
        # aiohttp silently resends an idempotent request once when the connection drops; our
        # RetryPolicy must be the only retry layer (two layers multiply the attempts), so turn
        # it off. Private attribute, pinned by the retry-matrix tests ("drop" rows).
        self._session._retry_connection = False

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # ---------------------------------------------------------------- API requests

    async def request(
        self,
        method: str,
        path: str,
        *,
        bucket: Bucket,
        idempotent: bool,
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Response:
        """Send an API request (path relative to the base URL) with retries; 2xx or an error."""
        url = self._url(path, params)
        for attempt in range(self._retry.max_attempts):
            grant = await self._limiter.acquire(bucket)
            try:
                outcome = await self._attempt(method, url, body, idempotent)
            finally:
                self._limiter.release(grant)
            if isinstance(outcome, Response):
                self._limiter.cooldown.reset()
                return outcome
            if not outcome.retryable or attempt + 1 >= self._retry.max_attempts:
                raise outcome.error
            await self._before_retry(method, url, attempt, outcome)
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _url(self, path: str, params: Mapping[str, str] | None) -> URL:
        # Ids in `path` are already percent-escaped by the caller; keep them as they are.
        url = URL(self._base + path.lstrip("/"), encoded=True)
        return url.update_query(dict(params)) if params else url

    def _api_headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._key.get()}",
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": _USER_AGENT,
        }

    async def _attempt(
        self, method: str, url: URL, body: bytes | None, idempotent: bool
    ) -> Response | _Failure:
        # The hot path of every API call: plain try/finally and a URL redacted only when an
        # error needs it (a batch makes thousands of these calls a second).
        try:
            await self._acquire_slot(method, url)
        except APITimeoutError as exc:  # no free connection slot: nothing was sent
            return _Failure(exc, retryable=True)
        try:
            async with self.session.request(
                method, url, data=body, headers=self._api_headers()
            ) as resp:
                response = Response(resp.status, resp.headers, await resp.read())
        except aiohttp.ClientConnectorError as exc:
            return _Failure(_connect_error(method, _shown(url), exc), retryable=True)
        except aiohttp.ConnectionTimeoutError:
            return _Failure(_timeout(method, _shown(url), "connect"), retryable=True)
        except (TimeoutError, aiohttp.ClientError) as exc:
            error = _after_send_error(method, _shown(url), exc, idempotent)
            return _Failure(error, idempotent)
        finally:
            self._slots.release()
        if 200 <= response.status < 300:
            return response
        return _status_failure(method, _shown(url), response, idempotent)

    async def _acquire_slot(self, method: str, url: URL | str) -> None:
        """Take a connection slot, waiting at most the pool timeout (APITimeoutError)."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns without suspending
            return
        try:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
            # that arrives as the acquire completes, and the caller then runs on.
            async with asyncio.timeout(self._timeouts.pool):
                await self._slots.acquire()
        except TimeoutError:
            raise _timeout(method, _shown(url), "pool") from None

    @asynccontextmanager
    async def _slot(self, method: str, url: URL | str) -> AsyncIterator[None]:
        await self._acquire_slot(method, url)
        try:
            yield
        finally:
            self._slots.release()

    async def _before_retry(self, method: str, url: URL, attempt: int, failure: _Failure) -> None:
        if failure.rate_limited:
            delay = self._limiter.cooldown.trigger(failure.retry_after)
        elif failure.retry_after is not None:
            delay = min(failure.retry_after, self._retry.max_retry_after)
        else:
            delay = full_jitter_delay(self._retry, attempt, self._rng)
        logger.warning(
            "retrying %s %s: attempt %d failed (%s), next in %.2f s",
            method,
            _shown(url),
            attempt + 1,
            _reason(failure.error),
            delay,
        )
        if not failure.rate_limited:  # a 429 waits on the shared cool-down before sending
            await self._sleep(delay)

    # ---------------------------------------------------------------- presigned transfers

    async def put_presigned(
        self,
        url: str,
        body_factory: BodyFactory,
        size: int,
        timeout: float | None = None,  # noqa: ASYNC109 (a per-transfer budget, the seam's name)
        content_type: str | None = None,
    ) -> None:
        """PUT exactly `size` bytes to a presigned URL: explicit Content-Length, no
        Authorization, no Content-Type unless the URL was signed with one (a pushed app's
        archive: `application/octet-stream`, as the SDK sends it). `body_factory()` is called
        again for every attempt."""
        shown = redact_url(url)
        limit = self._timeouts.upload if timeout is None else timeout
        headers = {"Content-Length": str(size)}
        if content_type is not None:
            headers["Content-Type"] = content_type
        for attempt in range(self._retry.max_attempts):
            failure = await self._put_once(url, shown, body_factory, headers, limit)
            if failure is None:
                return
            if not failure.retryable or attempt + 1 >= self._retry.max_attempts:
                raise failure.error
            delay = full_jitter_delay(self._retry, attempt, self._rng)
            if failure.retry_after is not None:
                delay = min(failure.retry_after, self._retry.max_retry_after)
            logger.warning(
                "retrying upload to %s: attempt %d failed (%s), next in %.2f s",
                shown,
                attempt + 1,
                _reason(failure.error),
                delay,
            )
            await self._sleep(delay)

    async def _put_once(
        self,
        url: str,
        shown: str,
        body_factory: BodyFactory,
        headers: dict[str, str],
        limit: float,
    ) -> _Failure | None:
        timeout = aiohttp.ClientTimeout(total=limit, sock_connect=self._timeouts.connect)
        try:
            async with (
                self._slot("PUT", url),
                self.session.put(
                    URL(url, encoded=True),
                    data=body_factory(),
                    headers=headers,
                    skip_auto_headers=() if "Content-Type" in headers else {"Content-Type"},
                    timeout=timeout,
                ) as resp,
            ):
                status, text = resp.status, await _short_text(resp)
        except APITimeoutError:
            return _Failure(UploadError("upload waited too long for a connection", url=url), True)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return _Failure(UploadError(f"upload failed: {_reason(exc)}", url=url), True)
        if 200 <= status < 300:
            return None
        error = UploadError(
            f"upload rejected: {text}" if text else "upload rejected", url=url, status_code=status
        )
        return _Failure(error, status in _RETRY_STATUSES)

    @asynccontextmanager
    async def stream_presigned(self, url: str) -> AsyncIterator[AsyncIterator[bytes]]:
        """GET a presigned URL (no Authorization); yields an async iterator of byte chunks."""
        shown = redact_url(url)
        async with self._slot("GET", url):
            resp = await self._open_download(url, shown)
            try:
                yield _chunks(resp, url)
            finally:
                # A body left unread (the caller stopped early) must not go back to the pool.
                if resp.content.at_eof():
                    resp.release()
                else:
                    resp.close()

    async def _open_download(self, url: str, shown: str) -> aiohttp.ClientResponse:
        for attempt in range(self._retry.max_attempts):
            try:
                resp = await self.session.get(URL(url, encoded=True))
            except (TimeoutError, aiohttp.ClientError) as exc:
                error: UploadError = UploadError(f"download failed: {_reason(exc)}", url=url)
                retryable = True
            else:
                if 200 <= resp.status < 300:
                    return resp
                text = await _short_text(resp)
                resp.release()
                error = UploadError(
                    f"download rejected: {text}" if text else "download rejected",
                    url=url,
                    status_code=resp.status,
                )
                retryable = resp.status in _RETRY_STATUSES
            if not retryable or attempt + 1 >= self._retry.max_attempts:
                raise error
            delay = full_jitter_delay(self._retry, attempt, self._rng)
            logger.warning("retrying download from %s in %.2f s (%s)", shown, delay, error)
            await self._sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover


async def _chunks(resp: aiohttp.ClientResponse, url: str) -> AsyncIterator[bytes]:
    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            yield chunk
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UploadError(f"download interrupted: {_reason(exc)}", url=url) from None


async def _short_text(resp: aiohttp.ClientResponse) -> str:
    try:
        raw = await resp.content.read(500)
    except (TimeoutError, aiohttp.ClientError):
        return ""
    return raw.decode("utf-8", "replace").strip()


def _shown(url: URL | str) -> str:
    return redact_url(str(url))


def _reason(exc: BaseException) -> str:
    """A short cause for logs and messages; never the exception text of aiohttp (it holds URLs)."""
    if isinstance(exc, APIStatusError):
        return f"status {exc.status_code}"
    if isinstance(exc, UploadError) and exc.status_code is not None:
        return f"status {exc.status_code}"
    if isinstance(exc, AsyncrunError):
        return type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def _connect_error(method: str, shown: str, exc: aiohttp.ClientConnectorError) -> APIError:
    return APIConnectionError(
        f"{method} {shown}: could not connect ({_reason(exc.os_error)})", method=method, url=shown
    )


def _timeout(method: str, shown: str, phase: Phase) -> APITimeoutError:
    what = {
        "connect": "connecting timed out",
        "read": "the server did not answer in time",
        "pool": "no free connection in the pool in time",
        "total": "the request took too long",
    }[phase]
    return APITimeoutError(
        f"{method} {shown}: {what} ({phase})", phase=phase, method=method, url=shown
    )


def _after_send_error(
    method: str, shown: str, exc: BaseException, idempotent: bool
) -> APIConnectionError:
    """The request may have reached the server: a read timeout or a dropped connection."""
    if not idempotent:
        return AmbiguousSubmitError(
            f"{method} {shown}: the request was sent but no answer came ({_reason(exc)}); "
            "it may or may not have taken effect, so it was not retried",
            method=method,
            url=shown,
        )
    if isinstance(exc, asyncio.TimeoutError):
        return _timeout(method, shown, "read")
    return APIConnectionError(
        f"{method} {shown}: connection lost before the answer ({_reason(exc)})",
        method=method,
        url=shown,
    )


def _status_failure(method: str, shown: str, response: Response, idempotent: bool) -> _Failure:
    status = response.status
    text = response.body[:2000].decode("utf-8", "replace")
    kwargs: dict[str, Any] = {
        "status_code": status,
        "body": text,
        "method": method,
        "url": shown,
        "request_id": response.request_id,
    }
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    message = f"{method} {shown} failed"
    if status == 429:
        error: APIStatusError = RateLimitError(message, retry_after=retry_after, **kwargs)
        return _Failure(error, retryable=True, retry_after=retry_after, rate_limited=True)
    error = status_error_class(status)(message, **kwargs)
    retryable = idempotent and status in _RETRY_STATUSES
    return _Failure(error, retryable=retryable, retry_after=retry_after)
