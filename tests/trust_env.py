"""The variables the client reads to choose its trusted CAs (asyncrun/_tls.py). This machine and
CI set several of them to the system bundle: a test whose outcome depends on trust clears them."""

from __future__ import annotations

import pytest

TRUST_VARIABLES = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "NEXTMV_SYSTEM_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


def clear_trust_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the trust variables set, here and in the subprocesses the test starts."""
    for name in TRUST_VARIABLES:
        monkeypatch.delenv(name, raising=False)
