"""HTTPS for the emulator: a local CA and server certificate made at start, or the user's own."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

# Names every certificate the emulator makes is valid for, besides the host it serves on.
_LOCAL_NAMES = ("127.0.0.1", "localhost", "::1")
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class TLSSetupError(ValueError):
    """TLS cannot be set up as asked (missing library, unreadable certificate or key)."""


@dataclass(frozen=True)
class ServerTLS:
    """The server's SSL context and, when the emulator made its own CA, that CA in PEM."""

    context: ssl.SSLContext
    ca_pem: bytes | None


def server_tls(host: str, cert_file: Path | None, key_file: Path | None) -> ServerTLS:
    """TLS from the given certificate chain and key, else from a CA made now for `host`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if cert_file is not None and key_file is not None:
        try:
            context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            raise TLSSetupError(
                f"cannot load the certificate {cert_file} with the key {key_file}: {exc}"
            ) from exc
        return ServerTLS(context, None)
    try:
        import trustme
    except ImportError as exc:
        raise TLSSetupError(
            "TLS with a certificate made at start needs trustme: "
            "pip install 'asyncrun[tls]' (or give --cert and --key)"
        ) from exc
    ca = trustme.CA(organization_name="asyncrun emulator")
    ca.issue_cert(*_identities(host)).configure_cert(context)
    return ServerTLS(context, ca.cert_pem.bytes())


def _identities(host: str) -> list[str]:
    names = list(_LOCAL_NAMES)
    if host not in _WILDCARD_HOSTS and host not in names:
        names.append(host)
    return names
