"""The `verify=` setting, as httpx has it: which certificates the client trusts over HTTPS.

True (the default): the system's trust store, as OpenSSL finds it, honouring SSL_CERT_FILE and
SSL_CERT_DIR. A path: a CA bundle file (PEM) or a directory of hashed certificates. An
ssl.SSLContext: used as given. False: no verification at all, only when asked for.
"""

from __future__ import annotations

import logging
import os
import ssl
from pathlib import Path
from typing import Literal, TypeAlias

from asyncrun.errors import ConfigError

__all__ = ["Verify", "check_verify", "ssl_context", "ssl_setting"]

Verify: TypeAlias = "bool | str | os.PathLike[str] | ssl.SSLContext"

logger = logging.getLogger("asyncrun")

_ENV_TRUST = ("SSL_CERT_FILE", "SSL_CERT_DIR")


def check_verify(verify: object) -> Verify:
    """The setting as given, or ConfigError for a wrong type or a CA path that does not exist."""
    if isinstance(verify, bool | ssl.SSLContext):
        return verify
    if isinstance(verify, str | os.PathLike):
        path = Path(verify)
        if not path.exists():
            raise ConfigError(f"no CA bundle at {path}")
        return verify
    raise ConfigError(
        f"verify must be True, False, a CA bundle path or an ssl.SSLContext, not {verify!r}"
    )


def ssl_setting(verify: Verify) -> ssl.SSLContext | Literal[True, False]:
    """What aiohttp's connector takes as `ssl=`: a context made now, or True / False."""
    if isinstance(verify, ssl.SSLContext):
        return verify
    if verify is False:
        logger.warning("TLS certificate verification is off (verify=False)")
        return False
    if verify is True:
        # aiohttp's own default context read SSL_CERT_FILE when aiohttp was imported; make a
        # context now when one is set, so that a value set later is honoured too.
        if any(os.environ.get(name) for name in _ENV_TRUST):
            return ssl.create_default_context()
        return True
    return _context_from(Path(verify))


def ssl_context(setting: ssl.SSLContext | bool) -> ssl.SSLContext:
    """What `ssl_setting` gave, as one context (the API connections' own, made once)."""
    if isinstance(setting, ssl.SSLContext):
        return setting
    context = ssl.create_default_context()
    if setting is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _context_from(path: Path) -> ssl.SSLContext:
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot read the CA bundle {path} ({exc})") from None
