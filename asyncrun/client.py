"""AsyncClient: credentials, settings and the one HTTP transport shared by all applications."""

from __future__ import annotations

import asyncio
import json
import random
import time
from types import TracebackType

import anyio.to_thread

from asyncrun._proxy import ProxyConfig, ProxyURL, parse_proxy
from asyncrun._tls import Verify, check_verify
from asyncrun._types import Clock, Sleep
from asyncrun.application import AsyncApplication, validate_app_id
from asyncrun.apps.management import list_application_pages
from asyncrun.apps.models import Application
from asyncrun.config import (
    Credentials,
    Limits,
    RetryPolicy,
    Timeouts,
    needs_profile_file,
    read_profile,
    resolve_credentials,
)
from asyncrun.errors import ConfigError
from asyncrun.transport import Transport

__all__ = ["AsyncClient"]


class AsyncClient:
    """An asyncio Nextmv Cloud client. Use it as an async context manager:

    ```python
    async with AsyncClient() as client:          # NEXTMV_API_KEY / NEXTMV_ENDPOINT / profile
        app = client.application("my-app")
        result = await app.new_run_with_result(input={"foo": "bar"})
    ```

    Credentials: `api_key` argument > NEXTMV_API_KEY > ~/.nextmv/config.yaml (profile from
    NEXTMV_PROFILE or `profile`); URL: `url` > NEXTMV_ENDPOINT > profile `endpoint` > the public
    API. `verify` says which TLS certificates to trust, as in httpx: True (the default store,
    or with `trust_env` the one named by NEXTMV_SYSTEM_CERTS, REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE,
    SSL_CERT_FILE / SSL_CERT_DIR, in that order), a CA bundle path, "system" (the operating
    system's store, `pip install asyncrun[truststore]`), an ssl.SSLContext, or False (no
    checks). They are resolved when the context is entered (a CA bundle that cannot be read is
    a ConfigError then, before any request); the profile file is read in a worker
    thread, so entering never blocks the event loop. One aiohttp session (a pool of
    `limits.max_connections`) is opened on enter and closed on exit; the client can be shared by
    any number of tasks.

    Proxies, as httpx names them: `proxy="http://[USER:PASSWORD@]HOST:PORT"` sends every request
    (API calls and presigned transfers) through that HTTP proxy; without it, when `trust_env`
    (the default), HTTPS_PROXY / HTTP_PROXY / ALL_PROXY and NO_PROXY choose, as requests reads
    them; `trust_env=False` ignores them.
    """

    def __init__(
        self,
        api_key: str | None = None,
        url: str | None = None,
        *,
        profile: str | None = None,
        timeouts: Timeouts | None = None,
        limits: Limits | None = None,
        retry: RetryPolicy | None = None,
        verify: Verify = True,
        proxy: str | None = None,
        trust_env: bool = True,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._api_key = api_key
        self._url = url
        self._profile = profile
        self.timeouts = timeouts or Timeouts()
        self.limits = limits or Limits()
        self.retry = retry or RetryPolicy()
        self._verify = check_verify(verify)
        # Checked now (a ConfigError before anything is sent), kept without its text.
        self._proxy: ProxyURL | None = parse_proxy(proxy) if proxy is not None else None
        self._trust_env = trust_env
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._credentials: Credentials | None = None
        self._transport: Transport | None = None

    def __repr__(self) -> str:
        url = self._credentials.url if self._credentials else self._url
        return f"AsyncClient(url={url!r})"

    @property
    def url(self) -> str:
        """The resolved base URL (after the context was entered)."""
        return self._require_open().base_url

    async def _resolve(self) -> Credentials:
        profile_data = None
        if needs_profile_file(self._api_key, self._url):
            profile_data = await anyio.to_thread.run_sync(read_profile, self._profile)
        return resolve_credentials(self._api_key, self._url, profile_data)

    async def __aenter__(self) -> AsyncClient:
        if self._transport is not None:
            raise ConfigError("this AsyncClient is already open")
        self._credentials = await self._resolve()
        transport = Transport(
            base_url=self._credentials.url,
            api_key=self._credentials.api_key,
            timeouts=self.timeouts,
            limits=self.limits,
            retry=self.retry,
            verify=self._verify,
            proxies=ProxyConfig.resolve(self._proxy, trust_env=self._trust_env),
            trust_env=self._trust_env,
            clock=self._clock,
            sleep=self._sleep,
            rng=self._rng,
        )
        await transport.open()
        self._transport = transport
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP session (idempotent)."""
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.close()

    def _require_open(self) -> Transport:
        if self._transport is None:
            raise ConfigError(
                "the AsyncClient is not open: use `async with AsyncClient(...) as client:`"
            )
        return self._transport

    @property
    def transport(self) -> Transport:
        """The HTTP engine (presigned transfers for the payload layer)."""
        return self._require_open()

    def application(self, app_id: str) -> AsyncApplication:
        """The run API of one application (the id is validated here, before any request)."""
        return AsyncApplication(
            self._require_open(), app_id, clock=self._clock, sleep=self._sleep, rng=self._rng
        )

    async def new_application(
        self,
        id: str,
        name: str | None = None,
        description: str | None = None,
        default_instance_id: str | None = None,
    ) -> AsyncApplication:
        """Create an application (POST v1/applications, the SDK's body) and return its handle.

        The id rule is checked before any request: 3 to 30 lowercase letters, digits, '.' or
        '-', not starting or ending with '.' or '-'. The name defaults to the id.
        """
        validate_app_id(id)
        transport = self._require_open()
        payload: dict[str, str] = {"name": name or id, "id": id}
        if description is not None:
            payload["description"] = description
        if default_instance_id is not None:
            payload["default_instance"] = default_instance_id
        body = json.dumps(payload, separators=(",", ":")).encode()
        await transport.request(
            "POST", "v1/applications", bucket="general", idempotent=False, body=body
        )
        return self.application(id)

    async def list_applications(self) -> list[Application]:
        """Every application of the account (paged as the SDK pages it)."""
        return await list_application_pages(
            self._require_open(), "v1/applications", Application, "list_applications"
        )
