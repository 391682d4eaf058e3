"""Which certificates the client trusts over HTTPS: `verify=` as httpx has it, the environment
as requests reads it, and the operating system's store through truststore.

The first that applies wins:

1. An explicit `verify=` (the CLI's `--ca-file` / `--system-trust`): a CA bundle file (PEM) or
   a directory of hashed certificates, "system" (the operating system's store, truststore), an
   ssl.SSLContext used as given, or False (no verification, only when asked for).
2. With `trust_env` (the default), NEXTMV_SYSTEM_CERTS=1/true/yes: the operating system's
   store, as the official SDK reads it (an opt-in for Nextmv tools: it goes before the
   machine-wide variables below, which CI images often set to the system bundle).
3. With `trust_env`, the variables requests reads: REQUESTS_CA_BUNDLE, then CURL_CA_BUNDLE (a
   file or a directory, replacing the default store as requests does).
4. With `trust_env`, SSL_CERT_FILE and SSL_CERT_DIR: OpenSSL's default store read from them.
5. OpenSSL's default store (the system's CA bundle on Linux).

A bundle named by the setting or a variable that does not exist or holds no certificate is a
ConfigError naming where it came from, raised when the client opens: before any request.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal, TypeAlias

from asyncrun.errors import ConfigError

__all__ = [
    "SYSTEM",
    "Trust",
    "Verify",
    "check_verify",
    "resolve_trust",
    "ssl_context",
    "ssl_setting",
]

Verify: TypeAlias = "bool | str | os.PathLike[str] | ssl.SSLContext"

SYSTEM = "system"
"""`verify=SYSTEM`: the operating system's trust store (`pip install asyncrun[truststore]`)."""

logger = logging.getLogger("asyncrun")

_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
_SYSTEM_VARIABLE = "NEXTMV_SYSTEM_CERTS"
_TRUE_WORDS = frozenset({"1", "true", "yes"})
_OPENSSL_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR")

Kind = Literal["context", "off", "system", "bundle", "environment", "default"]


@dataclass(frozen=True)
class Trust:
    """What the client trusts, and where that came from (for messages): `source` is
    "verify=", a variable's name, or "default"."""

    kind: Kind
    source: str
    path: Path | None = None
    context: ssl.SSLContext | None = None

    def describe(self) -> str:
        """A few words for an error message: which trust was in use."""
        if self.kind == "system":
            return f"the operating system's trust store ({self.source})"
        if self.path is not None:
            return f"{self.source}={self.path}"
        if self.kind == "environment":
            return "OpenSSL's store read from " + self.source
        return {"context": "the given ssl.SSLContext", "off": "no verification"}.get(
            self.kind, "the default trust store"
        )


def check_verify(verify: object) -> Verify:
    """The setting as given, or ConfigError for a wrong type, a CA path that does not exist, or
    "system" without truststore installed."""
    if isinstance(verify, bool | ssl.SSLContext):
        return verify
    if verify == SYSTEM:
        _truststore()  # installed?
        return SYSTEM
    if isinstance(verify, str | os.PathLike):
        path = Path(verify)
        if not path.exists():
            raise ConfigError(f"no CA bundle at {path}")
        return verify
    raise ConfigError(
        f"verify must be True, False, 'system', a CA bundle path or an ssl.SSLContext, "
        f"not {verify!r}"
    )


def resolve_trust(
    verify: Verify, *, trust_env: bool = True, environ: Mapping[str, str] | None = None
) -> Trust:
    """Which trust applies (the order in the module's docstring); the environment is read now."""
    if isinstance(verify, ssl.SSLContext):
        return Trust("context", "verify=", context=verify)
    if verify is False:
        return Trust("off", "verify=")
    if verify == SYSTEM:
        return Trust("system", "verify='system'")
    if verify is not True:
        return Trust("bundle", "verify", path=Path(verify))
    if not trust_env:
        return Trust("default", "default")
    env = os.environ if environ is None else environ
    if env.get(_SYSTEM_VARIABLE, "").strip().lower() in _TRUE_WORDS:
        return Trust("system", f"{_SYSTEM_VARIABLE}={env[_SYSTEM_VARIABLE]}")
    for name in _BUNDLE_VARIABLES:
        if env.get(name):  # requests takes an empty value as unset
            path = Path(env[name])
            if not path.exists():
                raise ConfigError(f"no CA bundle at {path} ({name})")
            return Trust("bundle", name, path=path)
    named = [name for name in _OPENSSL_VARIABLES if env.get(name)]
    if named:
        _check_openssl_variables(env, named)
        return Trust("environment", " and ".join(named))
    return Trust("default", "default")


def ssl_setting(trust: Trust) -> ssl.SSLContext | Literal[True, False]:
    """What aiohttp's connector takes as `ssl=`: a context made now, or True / False. A bundle
    is read here, so a bad one fails when the client opens, before any request."""
    if trust.context is not None:
        return trust.context
    if trust.kind == "off":
        logger.warning("TLS certificate verification is off (verify=False)")
        return False
    if trust.kind == "system":
        return _truststore_context()
    if trust.path is not None:
        return _context_from(trust.path, trust.source)
    if trust.kind == "environment":
        # aiohttp's own default context read SSL_CERT_FILE when aiohttp was imported; make a
        # context now, so that a value set later is honoured too.
        return _environment_context()
    if any(os.environ.get(name) for name in _OPENSSL_VARIABLES):
        # trust_env=False with SSL_CERT_FILE set: OpenSSL would still read it, so load the
        # store OpenSSL was built with by its paths.
        return _compiled_default_context()
    return True


def ssl_context(setting: ssl.SSLContext | bool) -> ssl.SSLContext:
    """What `ssl_setting` gave, as one context (the API connections' own, made once)."""
    if isinstance(setting, ssl.SSLContext):
        return setting
    context = ssl.create_default_context()
    if setting is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _context_from(path: Path, source: str) -> ssl.SSLContext:
    where = f"{path}" if source == "verify" else f"{path} ({source})"
    if not path.exists():
        raise ConfigError(f"no CA bundle at {where}")
    try:
        if path.is_dir():
            return ssl.create_default_context(capath=str(path))
        return ssl.create_default_context(cafile=str(path))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"cannot read the CA bundle {where} ({exc})") from None


def _check_openssl_variables(env: Mapping[str, str], named: list[str]) -> None:
    """OpenSSL skips a SSL_CERT_FILE or SSL_CERT_DIR that is not there without a word; say so."""
    if "SSL_CERT_FILE" in named and not os.path.isfile(env["SSL_CERT_FILE"]):
        raise ConfigError(f"no CA bundle at {env['SSL_CERT_FILE']} (SSL_CERT_FILE)")
    if "SSL_CERT_DIR" in named and not os.path.isdir(env["SSL_CERT_DIR"]):
        raise ConfigError(f"no CA directory at {env['SSL_CERT_DIR']} (SSL_CERT_DIR)")


def _environment_context() -> ssl.SSLContext:
    """OpenSSL's default store read from SSL_CERT_FILE / SSL_CERT_DIR; a SSL_CERT_FILE with no
    certificate in it (and no SSL_CERT_DIR to read instead) is an error, not an empty store."""
    context = ssl.create_default_context()
    cafile = os.environ.get("SSL_CERT_FILE")
    if cafile and not os.environ.get("SSL_CERT_DIR") and not context.cert_store_stats()["x509_ca"]:
        raise ConfigError(
            f"cannot read the CA bundle {cafile} (SSL_CERT_FILE): no certificate in it"
        )
    return context


def _compiled_default_context() -> ssl.SSLContext:
    paths = ssl.get_default_verify_paths()
    cafile, capath = paths.openssl_cafile, paths.openssl_capath
    cafile_ok = bool(cafile) and os.path.isfile(cafile)
    capath_ok = bool(capath) and os.path.isdir(capath)
    if not (cafile_ok or capath_ok):
        return ssl.create_default_context()
    return ssl.create_default_context(
        cafile=cafile if cafile_ok else None, capath=capath if capath_ok else None
    )


def _truststore() -> ModuleType:
    try:
        import truststore
    except ImportError:
        raise ConfigError(
            "the operating system's trust store needs the truststore package: "
            "pip install 'asyncrun[truststore]'"
        ) from None
    return truststore


def _truststore_context() -> ssl.SSLContext:
    context: ssl.SSLContext = _truststore().SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return context
