"""Proxies as requests and httpx choose them: an explicit `proxy=` wins; else, when `trust_env`,
HTTP_PROXY / HTTPS_PROXY / ALL_PROXY and NO_PROXY (lower case first, as urllib reads them).

A proxy URL is http:// (a scheme-less `host:port` is taken as http://, as requests does);
`user:password@` in it becomes a Basic Proxy-Authorization header. `ProxyURL` never shows the
password: its repr, `shown` and every error name the proxy by host:port only.
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import unquote, urlsplit

from asyncrun.errors import ConfigError

__all__ = ["ProxyConfig", "ProxyURL", "bypasses", "parse_proxy"]

_SUPPORTED = ("http",)
_SCHEMES = ("http", "https", "all")


@dataclass(frozen=True, slots=True)
class ProxyURL:
    """An HTTP proxy: where it listens and, when it asks for them, the credentials."""

    host: str
    port: int
    username: str = field(default="", repr=False)
    password: str = field(default="", repr=False)

    def __repr__(self) -> str:
        user = f"{self.username}:***@" if self.username or self.password else ""
        return f"ProxyURL('http://{user}{self.shown}')"

    @property
    def shown(self) -> str:
        """host:port, for messages (never the credentials)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def authorization(self) -> str | None:
        """The Proxy-Authorization header's value, when the URL carries credentials."""
        if not self.username and not self.password:
            return None
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


def parse_proxy(url: str, *, source: str = "proxy") -> ProxyURL:
    """A proxy URL as given to `proxy=`, `--proxy` or a *_PROXY variable (`source` names it in
    the error, "" for none); ConfigError for what cannot be used, without repeating a
    password."""
    try:
        return _parsed(url)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}" if source else str(exc)) from None


def _parsed(url: str) -> ProxyURL:
    text = url.strip()
    if "://" not in text:
        text = "http://" + text  # requests' prepend_scheme_if_needed
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise ConfigError("not a proxy URL (expected http://HOST:PORT)") from None
    scheme = parts.scheme.lower()
    if scheme not in _SUPPORTED:
        raise ConfigError(
            f"{scheme}:// proxies are not supported (use an http:// proxy URL; "
            "HTTPS requests still go through it encrypted, with CONNECT)"
        )
    if not parts.hostname:
        raise ConfigError("the proxy URL has no host (expected http://HOST:PORT)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ConfigError("a proxy URL is http://[USER:PASSWORD@]HOST[:PORT] only")
    username = unquote(parts.username or "")
    password = unquote(parts.password or "")
    if any(ord(c) < 32 or ord(c) == 127 for c in username + password):
        raise ConfigError("the proxy credentials contain a control character")
    return ProxyURL(parts.hostname, port or 80, username, password)


def bypasses(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether NO_PROXY (`no_proxy`, comma separated) exempts host[:port], as urllib's
    proxy_bypass_environment reads it: `*` for every host; `name` or `.name` for that host and
    every subdomain; `name:port` for that port only; an IP address, or a CIDR block (as
    requests reads one) for the addresses in it."""
    host = host.lower().strip("[]")
    with_port = f"{host}:{port}" if port is not None else host
    address = _address(host)
    for raw in no_proxy.split(","):
        entry = raw.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        if address is not None and _in_network(address, entry):
            return True
        name = entry.lstrip(".")
        if name.startswith("["):  # [::1] or [::1]:8080
            name = name[1:].replace("]", "", 1)
        if name in (host, with_port) or host.endswith("." + name) or with_port.endswith("." + name):
            return True
    return False


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _in_network(address: ipaddress.IPv4Address | ipaddress.IPv6Address, entry: str) -> bool:
    try:
        network = ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return False
    return address.version == network.version and address in network


def _environment(environ: Mapping[str, str]) -> dict[str, str]:
    """scheme ("http", "https", "all", "no") -> value, as urllib's getproxies_environment
    reads them: lower-case names win over upper case (an empty lower-case one unsets), and an
    upper-case HTTP_PROXY is ignored under CGI (REQUEST_METHOD set: "httpoxy")."""
    found: dict[str, str] = {}
    for name, value in environ.items():
        if value and name.lower().endswith("_proxy"):
            found[name[:-6].lower()] = value
    if "REQUEST_METHOD" in environ:
        found.pop("http", None)
    for name, value in environ.items():
        if name.endswith("_proxy") and name == name.lower():
            scheme = name[:-6]
            if value:
                found[scheme] = value
            else:
                found.pop(scheme, None)
    return found


@dataclass(frozen=True)
class ProxyConfig:
    """Which proxy, if any, a URL goes through. `explicit` (proxy=, --proxy) is used for every
    URL, as httpx does; else `env` (read once, when the client opens) with its NO_PROXY."""

    explicit: ProxyURL | None = None
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @classmethod
    def resolve(
        cls,
        proxy: str | ProxyURL | None,
        *,
        trust_env: bool,
        environ: Mapping[str, str] | None = None,
    ) -> ProxyConfig:
        if proxy is not None:
            explicit = proxy if isinstance(proxy, ProxyURL) else parse_proxy(proxy)
            return cls(explicit=explicit)
        if not trust_env:
            return cls()
        found = _environment(os.environ if environ is None else environ)
        return cls(env=MappingProxyType({k: v for k, v in found.items() if k in (*_SCHEMES, "no")}))

    def __repr__(self) -> str:
        if self.explicit is not None:
            return f"ProxyConfig(explicit={self.explicit!r})"
        return f"ProxyConfig(from_env={sorted(k for k in self.env if k != 'no')})"

    @property
    def active(self) -> bool:
        """Whether any URL can go through a proxy."""
        return self.explicit is not None or any(k in self.env for k in _SCHEMES)

    def for_url(self, url: str) -> ProxyURL | None:
        """The proxy for `url`, or None to connect directly. ConfigError when the variable that
        applies holds a proxy URL that cannot be used."""
        if self.explicit is not None:
            return self.explicit
        if not self.env:
            return None
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        key = scheme if scheme in self.env else "all"
        value = self.env.get(key)
        if value is None:
            return None
        if "no" in self.env and bypasses(parts.hostname or "", parts.port, self.env["no"]):
            return None
        return parse_proxy(value, source=f"{key.upper()}_PROXY")
