"""Following a redirect of an API call, as requests and httpx do.

301, 302, 303: the next request is a GET without a body (303 turns any method but HEAD into
GET, 302 too, 301 only a POST; a method kept keeps its body). 307, 308: the same method and
body. The Location is resolved against the URL that answered; it must be http or https. The
Authorization header goes only to the origin it was meant for: it is dropped for a request to
another host, port or scheme (an upgrade from http to https on the same host and default ports
keeps it, as in requests) and stays dropped for the hops after. At most MAX_REDIRECTS hops.

It knows URLs and methods, not sockets: transport.py sends each hop like any request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import quote, urljoin, urlsplit

from asyncrun.errors import RedirectError, TooManyRedirects, redact_url

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "Hop", "first_hop", "next_hop"]

MAX_REDIRECTS = 10
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Every printable ASCII character but the space stays as it is.
_URL_SAFE = "".join(chr(c) for c in range(33, 127))


@dataclass(frozen=True, slots=True)
class Hop:
    """One request of a redirect chain: where it goes and what it carries."""

    url: str
    method: str
    body: bytes | None
    authorized: bool
    number: int = 0  # redirects followed to get here

    @property
    def origin(self) -> str:
        """scheme://host:port, the key of the connections it may reuse."""
        return origin_of(self.url)

    @property
    def target(self) -> str:
        """The request target: path and query, as sent on the request line."""
        parts = urlsplit(self.url)
        path = parts.path or "/"
        return f"{path}?{parts.query}" if parts.query else path


def first_hop(url: str, method: str, body: bytes | None) -> Hop:
    return Hop(url, method, body, authorized=True)


def next_hop(hop: Hop, status: int, location: str, request_id: str | None = None) -> Hop:
    """The request a redirect asks for; RedirectError when it cannot be followed."""
    # A space, a control character or non-ASCII is sent percent-encoded (requests requotes a
    # Location the same way): nothing in it can break the request line.
    url = quote(urljoin(hop.url, location.strip()), safe=_URL_SAFE)
    url = url.split("#", 1)[0]  # a fragment is never sent
    try:
        parts = urlsplit(url)
        scheme, host, _ = parts.scheme, parts.hostname, parts.port
    except ValueError:  # a port that is not a number
        scheme, host = "", None
    if scheme not in _DEFAULT_PORTS or not host:
        what = "to a URL that is not http(s) with a host"
        raise _refused(RedirectError, hop, status, url, request_id, what)
    if hop.number >= MAX_REDIRECTS:
        what = f"more than {MAX_REDIRECTS} times in a row (the last to {redact_url(url)})"
        raise _refused(TooManyRedirects, hop, status, url, request_id, what)
    method = _method_after(status, hop.method)
    body = hop.body if method == hop.method else None
    authorized = hop.authorized and _keeps_authorization(hop.url, url)
    return replace(
        hop, url=url, method=method, body=body, authorized=authorized, number=hop.number + 1
    )


def _refused(
    kind: type[RedirectError], hop: Hop, status: int, url: str, request_id: str | None, what: str
) -> RedirectError:
    return kind(
        f"{hop.method} {redact_url(hop.url)} was redirected ({status}) {what}; not followed",
        location=url,
        status_code=status,
        method=hop.method,
        url=hop.url,
        request_id=request_id,
    )


def _method_after(status: int, method: str) -> str:
    if status in (302, 303) and method != "HEAD":
        return "GET"
    if status == 301 and method == "POST":
        return "GET"
    return method


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}:{port}"


def _keeps_authorization(old: str, new: str) -> bool:
    """requests' rule (Session.should_strip_auth), inverted."""
    before, after = urlsplit(old), urlsplit(new)
    if before.hostname != after.hostname:
        return False
    if (before.scheme, after.scheme) == ("http", "https") and (
        before.port in (None, 80) and after.port in (None, 443)
    ):
        return True
    return origin_of(old) == origin_of(new)
