"""The HTTP engine: API exchanges on lean keep-alive connections (_http11.py), presigned
transfers on one aiohttp session, a connection-slot queue above both, rate buckets, retries with
full-jitter backoff and Retry-After, redaction.

Both honour the proxy settings (_proxy.py): the API's pool connects through the proxy chosen
for the base URL; each presigned transfer through the one chosen for its URL.

It knows HTTP, not Nextmv: callers say which rate bucket a request draws from and whether it is
idempotent. A non-idempotent request (POST runs) is retried only when it provably never left
the client (connect failure, connect or pool timeout) or the server rejected it with 429.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

from asyncrun._http11 import (
    CertificateFailed,
    ConnectFailed,
    ConnectionPool,
    ConnectTimedOut,
    ProxyFailed,
    ReadTimedOut,
    Response,
    WireError,
)
from asyncrun._proxy import ProxyConfig, ProxyURL
from asyncrun._reachability import Reachability
from asyncrun._redirects import REDIRECT_STATUSES, Hop, first_hop, next_hop, origin_of
from asyncrun._retry import Failure, parse_retry_after, retry_after, retry_delay, retrying
from asyncrun._slots import ConnectionSlots, PoolStalled
from asyncrun._tls import Trust, Verify, resolve_trust, ssl_context, ssl_setting
from asyncrun._types import Clock, Sleep
from asyncrun.config import Bucket, Limits, RetryPolicy, Timeouts, _Secret
from asyncrun.errors import (
    AmbiguousSubmitError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AsyncrunError,
    CertificateVerifyError,
    ConfigError,
    ProxyError,
    ProxyPhase,
    RateLimitError,
    UploadError,
    redact_url,
    status_error_class,
)
from asyncrun.ratelimit import RateLimiter

if TYPE_CHECKING:  # imported when a presigned transfer first needs it (see `session`)
    import aiohttp

__all__ = ["BodyFactory", "Response", "Transport"]

logger = logging.getLogger("asyncrun")

BodyFactory = Callable[[], "bytes | aiohttp.payload.Payload"]

EXPRESS_CONNECTIONS = 2
# Origins other than the API's whose connections are kept for the redirects that lead there.
_KEPT_ORIGINS = 4
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Object storage asks for a retry of its 500 InternalError too (S3's guidance); a presigned PUT
# or GET is idempotent (the same object), unlike an API 500 that may hide a half-done action.
_STORAGE_RETRY_STATUSES = _RETRY_STATUSES | {500}
_USER_AGENT = "asyncrun/0.1.0"
_CHUNK = 64 * 1024
_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


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
        verify: Verify = True,
        proxies: ProxyConfig | None = None,
        trust_env: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._base = base_url if base_url.endswith("/") else base_url + "/"
        # The request target of every API call starts with the base URL's path.
        parts = urlsplit(self._base)
        self._base_path = parts.path or "/"
        self._https = parts.scheme == "https"
        if any(ord(c) < 32 or ord(c) == 127 for c in api_key.get()):
            # It goes into a header line as it is: a line break would end the header there.
            raise ConfigError("the API key contains a line break or another control character")
        self._key = api_key
        self._timeouts = timeouts
        self._limits = limits
        self._retry = retry
        self._verify = verify
        self._proxies = proxies if proxies is not None else ProxyConfig()
        self._trust_env = trust_env
        self._trust: Trust | None = None
        self._ssl: ssl.SSLContext | bool | None = None
        self._api_ssl: ssl.SSLContext | None = None
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(limits.rate, retry, clock=clock, sleep=sleep)
        self.reachability = Reachability(clock)
        """Whether the API could be connected to lately (every API attempt records it)."""
        # A request waits its turn for as long as slots keep changing hands (_slots.py).
        self._slots = ConnectionSlots(limits.max_connections, patience=timeouts.pool)
        # A few connections of their own for requests that answer for many (a page of the run
        # list standing for up to 50 status reads): they never queue behind a submit storm.
        self._express = ConnectionSlots(EXPRESS_CONNECTIONS, patience=timeouts.pool)
        self._session: aiohttp.ClientSession | None = None
        self._api: ConnectionPool | None = None
        self._origin = origin_of(self._base)
        # Connections to the origins a redirect of an API call led to (_redirects.py).
        self._elsewhere: dict[str, ConnectionPool] = {}
        self._redirect_seen = False

    def __repr__(self) -> str:
        return f"Transport(url={redact_url(self._base)!r}, proxies={self._proxies!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        """aiohttp's session for presigned transfers, made on first use: a client that never
        uploads or downloads through a presigned URL never imports aiohttp (about 20 MB)."""
        if self._api is None or self._api.closed:
            raise ConfigError("the client is not open: use `async with AsyncClient(...) as client`")
        if self._session is None:
            self._session = self._new_session()
        return self._session

    @property
    def api_connections(self) -> ConnectionPool:
        """The API's keep-alive connections (aiohttp's session carries presigned transfers)."""
        if self._api is None or self._api.closed:
            raise ConfigError("the client is not open: use `async with AsyncClient(...) as client`")
        return self._api

    @property
    def base_url(self) -> str:
        return self._base

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def timeouts(self) -> Timeouts:
        return self._timeouts

    async def open(self) -> None:
        if self._api is not None and not self._api.closed:
            return
        # The trust is resolved here, and for an https API its CA bundle read: a bad one fails
        # before any request. (An http API reads it when something first needs TLS.)
        self._trust = resolve_trust(self._verify, trust_env=self._trust_env)
        self._ssl = self._api_ssl = None
        if self._https:
            self._tls_setting()
        self._api = self._new_pool(self._base)

    def _new_pool(self, url: str) -> ConnectionPool:
        return ConnectionPool(
            url,
            ssl_context=self._api_context() if url.startswith("https:") else None,
            connect_timeout=self._timeouts.connect,
            read_timeout=self._timeouts.read,
            proxy=self._proxies.for_url(url),  # a proxy URL that cannot be used: now
        )

    def _tls_setting(self) -> ssl.SSLContext | bool:
        """The TLS setting of the trust (a context, or aiohttp's True / False), made once."""
        if self._ssl is None:
            self._ssl = ssl_setting(self.trust)
        return self._ssl

    def _api_context(self) -> ssl.SSLContext:
        """The API connections' TLS context, made once (most API URLs are https)."""
        if self._api_ssl is None:
            self._api_ssl = ssl_context(self._tls_setting())
        return self._api_ssl

    @property
    def trust(self) -> Trust:
        """Which certificates are trusted and where that came from (once open)."""
        if self._trust is None:
            raise ConfigError("the client is not open: use `async with AsyncClient(...) as client`")
        return self._trust

    def _new_session(self) -> aiohttp.ClientSession:
        import aiohttp

        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections + EXPRESS_CONNECTIONS,
            ssl=self._tls_setting(),
        )
        # No default headers: the Authorization header is added per API request only, so a
        # presigned transfer can never carry it.
        session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=self._timeouts.connect, sock_read=self._timeouts.read
            ),
        )
        # aiohttp silently resends an idempotent request once when the connection drops; our
        # RetryPolicy must be the only retry layer (two layers multiply the attempts), so turn
        # it off. Private attribute, pinned by the retry-matrix tests ("drop" rows).
        session._retry_connection = False
        return session

    async def close(self) -> None:
        session, self._session = self._session, None
        api = self._api
        if api is not None:
            await api.close()
        elsewhere, self._elsewhere = list(self._elsewhere.values()), {}
        for pool in elsewhere:
            await pool.close()
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
        express: bool = False,
        max_body: int | None = None,
    ) -> Response:
        """Send an API request (path relative to the base URL) with retries; 2xx or an error.
        `express`: on the few connections kept for requests that answer for many (it still
        draws from its rate bucket). `max_body`: a 2xx body over this many bytes is not read
        (the answer comes back with `complete=False`; its connection is closed)."""
        if params:
            path = f"{path}?{urlencode(params)}"
        # Ids in `path` are already percent-escaped by the caller; keep them as they are.
        path = path.lstrip("/")
        slots = self._express if express else self._slots
        # The first attempt outside the retry loop: most calls need no other, and a request
        # waiting for a connection holds fewer frames.
        first = await self._attempt(method, path, body, bucket, idempotent, slots, max_body)
        if isinstance(first, Failure):
            first = await retry_after(
                first,
                functools.partial(
                    self._attempt, method, path, body, bucket, idempotent, slots, max_body
                ),
                attempts=self._retry.max_attempts,
                pause=functools.partial(self._before_retry, method, self._base + path),
            )
        if first.status < 300:
            return first
        # A redirect (_attempt passes no other non-2xx answer).
        hop = first_hop(self._base + path, method, body)
        return await self._follow(hop, first, bucket, idempotent, slots, max_body)

    async def _follow(
        self,
        hop: Hop,
        response: Response,
        bucket: Bucket,
        idempotent: bool,
        slots: ConnectionSlots,
        max_body: int | None,
    ) -> Response:
        """Follow redirects until an answer that is not one (_redirects.py has the rules).
        Each hop is a request like any other: a rate grant, a slot, its own retries."""
        while response.status >= 300:
            location = response.headers["location"]
            before, hop = hop, next_hop(hop, response.status, location, response.request_id)
            self._log_redirect(response.status, before, hop)
            # A method turned into GET reads; it may be sent again like any read.
            safe = idempotent or hop.method in ("GET", "HEAD")
            attempt = functools.partial(
                self._attempt, hop.method, "", hop.body, bucket, safe, slots, max_body, hop
            )
            first = await attempt()
            if isinstance(first, Failure):
                first = await retry_after(
                    first,
                    attempt,
                    attempts=self._retry.max_attempts,
                    pause=functools.partial(self._before_retry, hop.method, hop.url),
                )
            response = first
        return response

    def _log_redirect(self, status: int, before: Hop, hop: Hop) -> None:
        # Once per client a warning (each redirected call costs a round trip more; the URL to
        # use instead is in it), then one debug line per hop.
        if not self._redirect_seen and before.number == 0:
            self._redirect_seen = True
            rest = before.url[len(self._base) :]
            moved = hop.url[: -len(rest)] if rest and hop.url.endswith(rest) else hop.url
            logger.warning(
                "API calls to %s are redirected (%d) to %s; pass that URL instead "
                "(--url, NEXTMV_ENDPOINT) to save a round trip per call",
                redact_url(self._base),
                status,
                redact_url(moved),
            )
        logger.debug("following a redirect (%d) to %s %s", status, hop.method, redact_url(hop.url))

    def _head(
        self, host: str, method: str, target: str, body: bytes | None, authorized: bool = True
    ) -> bytes:
        """The request line and headers of an API call (the Authorization header is added here
        only, so a presigned transfer can never carry it; nor does a request that a redirect
        sent to another origin)."""
        if body is not None:
            length = f"Content-Length: {len(body)}\r\n"
        else:
            length = "Content-Length: 0\r\n" if method in _WITH_BODY else ""
        auth = f"Authorization: Bearer {self._key.get()}\r\n" if authorized else ""
        return (
            f"{method} {target} HTTP/1.1\r\n"
            f"Host: {host}\r\n{auth}"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            f"Accept-Encoding: gzip, deflate\r\nUser-Agent: {_USER_AGENT}\r\n{length}\r\n"
        ).encode()

    async def _attempt(
        self,
        method: str,
        path: str,
        body: bytes | None,
        bucket: Bucket,
        idempotent: bool,
        slots: ConnectionSlots,
        max_body: int | None = None,
        hop: Hop | None = None,
    ) -> Response | Failure:
        """One attempt: a grant of the rate bucket, a connection slot, the exchange. The hot
        path of every API call (a batch makes thousands a second): one frame, plain
        try/finally, and a URL redacted only when an error needs it. `hop`: a request a
        redirect asked for (its URL, not the base URL and `path`). A redirect with a Location
        comes back as a Response, for `request` to follow."""
        limiter = self._limiter
        grant = await limiter.acquire(bucket)
        try:
            try:
                # A submission goes ahead of reads waiting for a connection (_slots.py).
                await slots.acquire(first=not idempotent)
            except PoolStalled:  # nothing was sent
                return Failure(_timeout(method, self._shown(path, hop), "pool"), retryable=True)
            try:
                if hop is None:
                    api = self.api_connections
                    head = self._head(api.host_header, method, self._base_path + path, body)
                    response = await api.request(method, head, body, max_body=max_body)
                else:
                    response = await self._send_hop(hop, max_body)
            except WireError as exc:
                return self._wire_failure(method, path, exc, idempotent, hop)
            finally:
                slots.release()
        finally:
            limiter.release(grant)
        self.reachability.connected()
        if 200 <= response.status < 300:
            limiter.cooldown.reset()
            return response
        if response.status in REDIRECT_STATUSES and "location" in response.headers:
            return response
        url = hop.url if hop is not None else self._base
        if response.status == 407 and (proxy := self._forwarding(url)) is not None:
            error = proxy_error(method, self._shown(path, hop), proxy, "authentication", 407)
            return Failure(error, retryable=False)
        return _status_failure(method, self._shown(path, hop), response, idempotent)

    def _forwarding(self, url: str) -> ProxyURL | None:
        """The proxy that answers for an http `url` (absolute form: its 407 is the proxy's);
        None for https, whose answers come from the origin through the tunnel."""
        return self._proxies.for_url(url) if url[:5].lower() == "http:" else None

    async def _send_hop(self, hop: Hop, max_body: int | None) -> Response:
        """One exchange of a redirected request, on the connections of its origin."""
        if hop.origin == self._origin:
            pool, one_off = self.api_connections, False
        else:
            pool, one_off = self._pool_of(hop.origin, hop.url)
        try:
            head = self._head(pool.host_header, hop.method, hop.target, hop.body, hop.authorized)
            return await pool.request(hop.method, head, hop.body, max_body=max_body)
        finally:
            if one_off:
                await pool.close()

    def _pool_of(self, origin: str, url: str) -> tuple[ConnectionPool, bool]:
        """The kept connections of another origin; past a few origins, a pool for one
        exchange only (a Location chosen by a server must not grow the client without end)."""
        pool = self._elsewhere.get(origin)
        if pool is not None and not pool.closed:
            return pool, False
        self.api_connections  # noqa: B018 (raises when the client is closed)
        pool = self._new_pool(url)
        if len(self._elsewhere) >= _KEPT_ORIGINS:
            return pool, True
        self._elsewhere[origin] = pool
        return pool, False

    def _wire_failure(
        self, method: str, path: str, exc: WireError, idempotent: bool, hop: Hop | None = None
    ) -> Failure:
        shown = self._shown(path, hop)
        if isinstance(exc, ProxyFailed):
            refused = proxy_error(method, shown, exc.proxy, exc.phase, exc.status, exc.reason)
            return Failure(refused, retryable=proxy_retryable(exc.phase, exc.status))
        if isinstance(exc, CertificateFailed):
            failure = certificate_error(method, shown, exc.cause, exc.host, exc.port, self._trust)
            return Failure(failure, retryable=False)
        if isinstance(exc, ConnectFailed | ConnectTimedOut):
            failed = (
                _connect_error(method, shown, exc.cause)
                if isinstance(exc, ConnectFailed)
                else _timeout(method, shown, "connect")
            )
            self.reachability.connect_failed(failed)
            return Failure(failed, retryable=True)
        self.reachability.connected()
        error = _after_send_error(method, shown, exc, idempotent)
        return Failure(error, idempotent)

    def _shown(self, path: str, hop: Hop | None = None) -> str:
        return redact_url(self._base + path if hop is None else hop.url)

    async def _acquire_slot(self, method: str, url: str) -> None:
        """Take a connection slot in turn; APITimeoutError (pool) when no slot was freed for
        the pool timeout while this request waited."""
        try:
            await self._slots.acquire()  # a free slot: returns without suspending
        except PoolStalled:
            raise _timeout(method, redact_url(url), "pool") from None

    @asynccontextmanager
    async def _slot(self, method: str, url: str) -> AsyncIterator[None]:
        await self._acquire_slot(method, url)
        try:
            yield
        finally:
            self._slots.release()

    async def _before_retry(self, method: str, url: str, attempt: int, failure: Failure) -> None:
        if failure.rate_limited:
            delay = self._limiter.cooldown.trigger(failure.retry_after)
        else:
            delay = retry_delay(self._retry, attempt, failure, self._rng)
        logger.log(
            _retry_level(failure),
            "retrying %s %s: attempt %d failed (%s), next in %.2f s",
            method,
            redact_url(url),
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

        async def once() -> Failure | None:
            return await self._put_once(url, shown, body_factory, headers, limit)

        async def pause(attempt: int, failure: Failure) -> None:
            delay = retry_delay(self._retry, attempt, failure, self._rng)
            logger.log(
                _retry_level(failure),
                "retrying upload to %s: attempt %d failed (%s), next in %.2f s",
                shown,
                attempt + 1,
                _reason(failure.error),
                delay,
            )
            await self._sleep(delay)

        await retrying(once, attempts=self._retry.max_attempts, pause=pause)

    def _certificate_error(
        self, method: str, shown: str, exc: aiohttp.ClientConnectorCertificateError
    ) -> CertificateVerifyError:
        return certificate_error(
            method, shown, exc.certificate_error, exc.host, exc.port, self._trust
        )

    async def _put_once(
        self,
        url: str,
        shown: str,
        body_factory: BodyFactory,
        headers: dict[str, str],
        limit: float,
    ) -> Failure | None:
        import aiohttp
        from yarl import URL

        timeout = aiohttp.ClientTimeout(total=limit, sock_connect=self._timeouts.connect)
        proxy = self._proxies.for_url(url)
        try:
            async with (
                self._slot("PUT", url),
                self.session.put(
                    URL(url, encoded=True),
                    data=body_factory(),
                    skip_auto_headers=() if "Content-Type" in headers else {"Content-Type"},
                    timeout=timeout,
                    **_via(proxy, url, headers),
                ) as resp,
            ):
                status, text = resp.status, await _short_text(resp)
        except APITimeoutError:
            return Failure(UploadError("upload waited too long for a connection", url=url), True)
        except aiohttp.ClientConnectorCertificateError as exc:
            return Failure(self._certificate_error("PUT", shown, exc), retryable=False)
        except (TimeoutError, aiohttp.ClientError) as exc:
            return _proxy_failure("PUT", shown, proxy, exc) or Failure(
                UploadError(f"upload failed: {_reason(exc)}", url=url), True
            )
        if status == 407 and proxy is not None and self._forwarding(url) is not None:
            return Failure(proxy_error("PUT", shown, proxy, "authentication", 407), False)
        if 200 <= status < 300:
            return None
        error = UploadError(
            f"upload rejected: {text}" if text else "upload rejected", url=url, status_code=status
        )
        return Failure(error, status in _STORAGE_RETRY_STATUSES)

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
        import aiohttp
        from yarl import URL

        proxy = self._proxies.for_url(url)

        async def once() -> aiohttp.ClientResponse | Failure:
            try:
                resp = await self.session.get(URL(url, encoded=True), **_via(proxy, url, {}))
            except aiohttp.ClientConnectorCertificateError as exc:
                return Failure(self._certificate_error("GET", shown, exc), retryable=False)
            except (TimeoutError, aiohttp.ClientError) as exc:
                return _proxy_failure("GET", shown, proxy, exc) or Failure(
                    UploadError(f"download failed: {_reason(exc)}", url=url), True
                )
            if resp.status == 407 and proxy is not None and self._forwarding(url) is not None:
                resp.release()
                return Failure(proxy_error("GET", shown, proxy, "authentication", 407), False)
            if 200 <= resp.status < 300:
                return resp
            text = await _short_text(resp)
            resp.release()
            error = UploadError(
                f"download rejected: {text}" if text else "download rejected",
                url=url,
                status_code=resp.status,
            )
            return Failure(error, retryable=resp.status in _STORAGE_RETRY_STATUSES)

        async def pause(attempt: int, failure: Failure) -> None:
            delay = retry_delay(self._retry, attempt, failure, self._rng)
            logger.log(
                _retry_level(failure),
                "retrying download from %s in %.2f s (%s)",
                shown,
                delay,
                failure.error,
            )
            await self._sleep(delay)

        return await retrying(once, attempts=self._retry.max_attempts, pause=pause)


def _via(proxy: ProxyURL | None, url: str, headers: Mapping[str, str]) -> dict[str, Any]:
    """aiohttp's arguments for a request to `url` through `proxy`: the credentials apart from
    the proxy's URL (no URL aiohttp may show in an error holds them), in the CONNECT request
    of an https URL, in the request itself (absolute form) of an http one."""
    if proxy is None:
        return {"headers": headers}
    via: dict[str, Any] = {"proxy": f"http://{proxy.shown}", "headers": headers}
    auth = proxy.authorization
    if auth is not None:
        if url[:6].lower() == "https:":
            via["proxy_headers"] = {"Proxy-Authorization": auth}
        else:
            via["headers"] = {**headers, "Proxy-Authorization": auth}
    return via


def _retry_level(failure: Failure) -> int:
    """Retries are warnings, except a proxy's: its final error says all there is to say (one
    line on the command line; -v shows the attempts)."""
    return logging.INFO if isinstance(failure.error, ProxyError) else logging.WARNING


def _proxy_failure(
    method: str, shown: str, proxy: ProxyURL | None, exc: BaseException
) -> Failure | None:
    """aiohttp's proxy errors as ProxyError (None for any other error)."""
    import aiohttp

    if proxy is None:
        return None
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        error = proxy_error(method, shown, proxy, "connect", None, _reason(exc.os_error))
        return Failure(error, retryable=True)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        phase: ProxyPhase = "authentication" if exc.status == 407 else "tunnel"
        error = proxy_error(method, shown, proxy, phase, exc.status, exc.message)
        return Failure(error, retryable=proxy_retryable(phase, exc.status))
    return None


def proxy_retryable(phase: ProxyPhase, status: int | None) -> bool:
    """A proxy that could not be connected to, or could not reach the origin (502/503/504 to
    CONNECT), may be back on the next attempt (nothing was sent); refused credentials or a
    refused tunnel will not."""
    if phase == "connect":
        return True
    return phase == "tunnel" and (status is None or status in (502, 503, 504))


def proxy_error(
    method: str,
    shown: str,
    proxy: ProxyURL,
    phase: ProxyPhase,
    status: int | None,
    reason: str = "",
) -> ProxyError:
    """One line naming the proxy by host:port (never its credentials) and what to check."""
    where = f"the proxy {proxy.shown}"
    if phase == "connect":
        what = f"{where} could not be reached ({reason})"
    elif phase == "authentication":
        what = (
            f"{where} refused the credentials of the proxy URL (407)"
            if proxy.authorization is not None
            else f"{where} asks for credentials (407): give http://USER:PASSWORD@HOST:PORT"
        )
    else:
        what = f"{where} did not open the tunnel ({reason})"
    return ProxyError(
        f"{method} {shown}: {what}; check --proxy / proxy= or HTTPS_PROXY, HTTP_PROXY, "
        "ALL_PROXY (NO_PROXY lists hosts reached directly)",
        proxy=proxy.shown,
        phase=phase,
        status_code=status,
        method=method,
        url=shown,
    )


async def _chunks(resp: aiohttp.ClientResponse, url: str) -> AsyncIterator[bytes]:
    import aiohttp

    try:
        async for chunk in resp.content.iter_chunked(_CHUNK):
            yield chunk
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise UploadError(f"download interrupted: {_reason(exc)}", url=url) from None


async def _short_text(resp: aiohttp.ClientResponse) -> str:
    import aiohttp

    try:
        raw = await resp.content.read(500)
    except (TimeoutError, aiohttp.ClientError):
        return ""
    return raw.decode("utf-8", "replace").strip()


def _reason(exc: BaseException) -> str:
    """A short cause for logs and messages; never the exception text of aiohttp (it holds URLs)."""
    if isinstance(exc, APIStatusError):
        return f"status {exc.status_code}"
    if isinstance(exc, UploadError) and exc.status_code is not None:
        return f"status {exc.status_code}"
    if isinstance(exc, AsyncrunError):
        return type(exc).__name__
    if isinstance(exc, WireError):  # its own words: no URL in them
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return f"{type(exc).__name__}: {exc.strerror}"
    return type(exc).__name__


def certificate_error(
    method: str,
    shown: str,
    cause: Exception,
    host: str,
    port: int | None,
    trust: Trust | None = None,
) -> CertificateVerifyError:
    """One line: what failed (host, OpenSSL's reason), what was trusted, and how to trust the
    server's CA."""
    reason = getattr(cause, "verify_message", None) or _reason(cause)
    host = host if port in (None, 443) else f"{host}:{port}"
    trusted = f" (trusted: {trust.describe()})" if trust is not None else ""
    return CertificateVerifyError(
        f"{method} {shown}: the TLS certificate of {host} is not trusted ({reason}){trusted}; "
        "trust its CA with --ca-file PATH, AsyncClient(verify=PATH), REQUESTS_CA_BUNDLE=PATH "
        "or SSL_CERT_FILE=PATH, or the system's store with --system-trust "
        "(`asyncrun emulator --tls --ca-out PATH` writes the emulator's)",
        host=host,
        reason=reason,
        method=method,
        url=shown,
    )


def _connect_error(method: str, shown: str, cause: OSError) -> APIConnectionError:
    error = APIConnectionError(
        f"{method} {shown}: could not connect ({_reason(cause)})", method=method, url=shown
    )
    error.unreachable = True
    return error


def _timeout(method: str, shown: str, phase: Phase) -> APITimeoutError:
    what = {
        "connect": "connecting timed out",
        "read": "the server did not answer in time",
        "pool": "no connection of the pool was freed in time",
        "total": "the request took too long",
    }[phase]
    error = APITimeoutError(
        f"{method} {shown}: {what} ({phase})", phase=phase, method=method, url=shown
    )
    error.unreachable = phase == "connect"
    return error


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
    if isinstance(exc, ReadTimedOut | TimeoutError):
        return _timeout(method, shown, "read")
    return APIConnectionError(
        f"{method} {shown}: connection lost before the answer ({_reason(exc)})",
        method=method,
        url=shown,
    )


def _status_failure(method: str, shown: str, response: Response, idempotent: bool) -> Failure:
    status = response.status
    text = response.body[:2000].decode("utf-8", "replace")
    kwargs: dict[str, Any] = {
        "status_code": status,
        "body": text,
        "method": method,
        "url": shown,
        "request_id": response.request_id,
    }
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    message = f"{method} {shown} failed"
    if status == 429:
        error: APIStatusError = RateLimitError(message, retry_after=retry_after, **kwargs)
        return Failure(error, retryable=True, retry_after=retry_after, rate_limited=True)
    error = status_error_class(status)(message, **kwargs)
    retryable = idempotent and status in _RETRY_STATUSES
    return Failure(error, retryable=retryable, retry_after=retry_after)
