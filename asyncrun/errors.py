"""The asyncrun error tree, one class per phase of a call.

AsyncrunError
  ConfigError                 bad configuration or argument, raised before any request
    JournalLockedError        another live process holds the batch journal (pid, host, since)
  InputError                  input not serialisable, too large, bad directory
  APIError
    APIConnectionError        could not connect / connection dropped (phase in the message)
      APITimeoutError         connect, read, or waiting for a pooled connection
      CertificateVerifyError  the server's TLS certificate is not trusted (never retried)
      ProxyError              the proxy could not be reached, refused the tunnel or asked for
                              credentials (407); names the proxy by host:port only
    APIStatusError            a non-2xx answer: status_code, request_id, short body
      BadRequestError 400, AuthenticationError 401, PermissionDeniedError 403,
      NotFoundError 404, ConflictError 409, UnprocessableEntityError 422,
      RateLimitError 429 (retry_after), ServerError 5xx
      RedirectError           a 3xx not followed (Location not http(s)); TooManyRedirects: > 10
    AmbiguousSubmitError      POST /runs was sent but no answer came: the run may exist
  UploadError                 presigned PUT or GET failed (URL shown without its query string)
  RunError                    carries run_id and the last RunInformation
    RunFailedError, RunCanceledError, PollingTimeoutError
  BatchAbortedError           a failure no scenario can get past stopped a batch (wrong key,
                              unknown application, endpoint unreachable); `cause` is the error

Messages never contain the API key or a presigned URL's query string: anything that builds
an error from a URL passes it through `redact_url` first.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AmbiguousSubmitError",
    "AsyncrunError",
    "AuthenticationError",
    "BadRequestError",
    "BatchAbortedError",
    "CertificateVerifyError",
    "ConfigError",
    "ConflictError",
    "InputError",
    "JournalLockedError",
    "NotFoundError",
    "PermissionDeniedError",
    "PollingTimeoutError",
    "ProxyError",
    "RateLimitError",
    "RedirectError",
    "RunCanceledError",
    "RunError",
    "RunFailedError",
    "ServerError",
    "TooManyRedirects",
    "UnprocessableEntityError",
    "UploadError",
    "redact_url",
    "status_error_class",
]

_BODY_LIMIT = 500


def redact_url(url: str) -> str:
    """The URL without query string, fragment or user info: what may appear in messages."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "<unparseable url>"
    host = parts.hostname or ""
    if port is not None:
        host = f"{host}:{port}"
    redacted = urlunsplit((parts.scheme, host, parts.path, "", ""))
    return redacted + ("?<redacted>" if parts.query else "")


def _short(body: str | None) -> str | None:
    if body is None:
        return None
    body = body.strip()
    return body if len(body) <= _BODY_LIMIT else body[:_BODY_LIMIT] + "..."


class AsyncrunError(Exception):
    """Base of every error asyncrun raises."""


class ConfigError(AsyncrunError):
    """Missing API key, bad id or argument: raised before any request is sent."""


class JournalLockedError(ConfigError):
    """The batch journal is held by another live process (or another run_batch call in this
    one): two batches on one journal would submit every scenario twice."""

    def __init__(
        self, journal: str, *, pid: int | None, host: str | None, since: str | None
    ) -> None:
        self.journal = journal
        self.pid = pid
        self.host = host
        self.since = since
        holder = f"pid {pid if pid is not None else '?'} on host {host or '?'}"
        super().__init__(
            f"journal {journal!r} is in use by another asyncrun batch: {holder} since "
            f"{since or '?'}; wait for it to end or stop it (a journal whose process died "
            "is taken over automatically)"
        )


class InputError(AsyncrunError):
    """Input that cannot be sent: not serialisable, over the upload cap, a bad directory."""


class APIError(AsyncrunError):
    """Talking to the Nextmv API failed.

    `method` and `url` (redacted) say which request; `request_id` is the server's, when sent.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.method = method
        self.url = redact_url(url) if url is not None else None
        self.request_id = request_id

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class APIConnectionError(APIError):
    """No HTTP answer: the connection could not be made or was dropped.

    `unreachable` is true when no connection could be made at all (refused, no route, name
    not resolved, connecting timed out): the request never reached the server.
    """

    unreachable: bool = False


class APITimeoutError(APIConnectionError):
    """A timeout. `phase`: "connect", "read", "pool" (waiting for a pooled connection), "total"."""

    def __init__(
        self,
        message: str,
        *,
        phase: Literal["connect", "read", "pool", "total"],
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.phase = phase


class CertificateVerifyError(APIConnectionError):
    """The server's TLS certificate could not be verified (unknown CA, wrong host name, expired).

    Retrying cannot help, so it never is; the message says how to trust the server's CA.
    `host` is the server that was refused, `reason` OpenSSL's words for why.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        reason: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.host = host
        self.reason = reason


ProxyPhase = Literal["connect", "tunnel", "authentication"]


class ProxyError(APIConnectionError):
    """The proxy in the way failed: it could not be connected to (`phase` "connect"), it
    answered the tunnel request with a non-2xx status ("tunnel"), or it wants credentials it was
    not given or refused them (407, "authentication": never retried).

    Nothing reached the API. `proxy` is the proxy's host:port (never its credentials),
    `status_code` the proxy's answer when it gave one.
    """

    def __init__(
        self,
        message: str,
        *,
        proxy: str,
        phase: ProxyPhase,
        status_code: int | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.proxy = proxy
        self.phase: ProxyPhase = phase
        self.status_code = status_code


class AmbiguousSubmitError(APIConnectionError):
    """POST /runs reached the server but no answer came back: a run may or may not exist.

    It is never retried blindly. `run_name` is the name the run was submitted with, so the
    caller (the batch layer does) can look it up with list_runs before submitting again.
    """

    def __init__(
        self,
        message: str,
        *,
        run_name: str | None = None,
        method: str | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url)
        self.run_name = run_name


class APIStatusError(APIError):
    """The API answered with a non-2xx status."""

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: str | None = None,
        method: str | None = None,
        url: str | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, method=method, url=url, request_id=request_id)
        self.status_code = status_code
        self.body = _short(body)

    def __str__(self) -> str:
        detail = f"{self.message} (status {self.status_code}"
        if self.request_id:
            detail += f", request id {self.request_id}"
        detail += ")"
        if self.body:
            detail += f": {self.body}"
        return detail


class BadRequestError(APIStatusError):
    """400."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong."""


class PermissionDeniedError(APIStatusError):
    """403."""


class NotFoundError(APIStatusError):
    """404: unknown application or run."""


class ConflictError(APIStatusError):
    """409."""


class UnprocessableEntityError(APIStatusError):
    """422."""


class RateLimitError(APIStatusError):
    """429; `retry_after` is the server's Retry-After in seconds, when it sent one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ServerError(APIStatusError):
    """5xx."""


class RedirectError(APIStatusError):
    """The API answered a redirect (3xx) that was not followed: its Location is not an http(s)
    URL, or it is one redirect too many (TooManyRedirects). `location` is the target, redacted."""

    def __init__(self, message: str, *, location: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.location = redact_url(location) if location is not None else None


class TooManyRedirects(RedirectError):
    """More than 10 redirects in a row (requests' TooManyRedirects)."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error_class(status: int) -> type[APIStatusError]:
    """The APIStatusError subclass for an HTTP status."""
    if status >= 500:
        return ServerError
    return _BY_STATUS.get(status, APIStatusError)


class UploadError(AsyncrunError):
    """A presigned upload or download failed. `url` has its query string removed."""

    def __init__(self, message: str, *, url: str | None = None, status_code: int | None = None):
        self.url = redact_url(url) if url is not None else None
        self.status_code = status_code
        text = message
        if self.url:
            text += f" [{self.url}]"
        if status_code is not None:
            text += f" (status {status_code})"
        super().__init__(text)


class RunError(AsyncrunError):
    """A run did not end as asked. `run_id` and the last `info` (RunInformation) are kept."""

    def __init__(self, message: str, *, run_id: str, info: Any = None) -> None:
        super().__init__(message)
        self.run_id = run_id
        self.info = info


class RunFailedError(RunError):
    """The run ended with status failed."""


class RunCanceledError(RunError):
    """The run ended with status canceled."""


class PollingTimeoutError(RunError):
    """Polling gave up (max_duration or max_tries) before the run finished."""


AbortReason = Literal["authentication", "unknown_application", "unreachable", "proxy"]


class BatchAbortedError(AsyncrunError):
    """A failure that no scenario can get past stopped the batch at once: a refused API key
    (401/403), an unknown application (404 on the application), an endpoint that could not
    be reached for a sustained time, or a proxy that cannot be used (ProxyError).

    Nothing was canceled and no scenario was marked as failed for it: run the same batch again
    with the same journal once the cause is fixed. `reason` names the failure, `hint` says what
    to check, and `cause` (also `__cause__`) is the error that made it certain.
    """

    def __init__(
        self, message: str, *, reason: AbortReason, hint: str, cause: BaseException
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reason: AbortReason = reason
        self.hint = hint
        self.cause = cause

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}"
