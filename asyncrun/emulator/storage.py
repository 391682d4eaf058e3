"""S3-like object storage: HMAC-presigned URLs with expiry, objects streamed to and from disk."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

CHUNK = 256 * 1024

# Keys are made by the emulator itself ("uploads/<id>", "outputs/<run id>/<file>"); anything
# else in a storage URL is refused before it gets near the file system.
_KEY_RE = re.compile(r"^[a-z]+(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){1,2}$")


class StorageError(Exception):
    """A storage request refused the way S3 would: HTTP status, S3 error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class Storage:
    """Objects under one directory, addressed by key, reachable through signed URLs."""

    def __init__(self, root: Path | None, *, url_ttl: float, upload_cap: int) -> None:
        self._owned = root is None
        self.root = Path(tempfile.mkdtemp(prefix="asyncrun-emulator-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = secrets.token_bytes(32)
        self.url_ttl = url_ttl
        self.upload_cap = upload_cap
        self._sizes: dict[str, int] = {}

    # -- signing -----------------------------------------------------------------------------

    def _signature(self, method: str, key: str, expires: int) -> str:
        message = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def presign(self, base_url: str, method: str, key: str) -> str:
        expires = int(time.time() + self.url_ttl)
        signature = self._signature(method, key, expires)
        return f"{base_url}/_storage/{quote(key)}?expires={expires}&signature={signature}"

    def verify(self, method: str, key: str, expires: str | None, signature: str | None) -> None:
        """Raise StorageError(403) unless the URL was signed by us for this method and key."""
        if not _KEY_RE.match(key) or ".." in key:
            raise StorageError(403, "AccessDenied", "Malformed object key")
        if not expires or not signature or not expires.isdigit():
            raise StorageError(403, "AccessDenied", "Query-string authentication required")
        expected = self._signature(method, key, int(expires))
        if not hmac.compare_digest(expected, signature):
            raise StorageError(
                403, "SignatureDoesNotMatch", "The request signature we calculated does not match"
            )
        if int(expires) < time.time():
            raise StorageError(403, "AccessDenied", "Request has expired")

    # -- objects -----------------------------------------------------------------------------

    def path(self, key: str) -> Path:
        return self.root.joinpath(*key.split("/"))

    def exists(self, key: str) -> bool:
        return key in self._sizes

    def size(self, key: str) -> int:
        return self._sizes[key]

    @property
    def bytes_stored(self) -> int:
        return sum(self._sizes.values())

    async def receive(self, key: str, chunks: AsyncIterable[bytes], length: int) -> int:
        """Stream a body of exactly `length` bytes into the object; the old one stays on error."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + f".part-{secrets.token_hex(4)}")
        received = 0
        try:
            with partial.open("wb") as sink:
                async for chunk in chunks:
                    received += len(chunk)
                    if received > length:
                        break
                    sink.write(chunk)
            if received != length:
                raise StorageError(400, "IncompleteBody", "Body length differs from Content-Length")
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        self._sizes[key] = received
        return received

    def write_with(self, key: str, writer: Callable[[BinaryIO], None]) -> int:
        """Build an object with `writer` (blocking: call it from a thread for big objects)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + f".part-{secrets.token_hex(4)}")
        try:
            with partial.open("wb") as sink:
                writer(sink)
            os.replace(partial, target)
        finally:
            partial.unlink(missing_ok=True)
        size = target.stat().st_size
        self._sizes[key] = size
        return size

    def adopt(self, key: str) -> int:
        """Register an object written in place by someone else (an app command's stdout)."""
        size = self.path(key).stat().st_size
        self._sizes[key] = size
        return size

    def put_bytes(self, key: str, data: bytes) -> int:
        def _write(sink: BinaryIO) -> None:
            sink.write(data)

        return self.write_with(key, _write)

    def delete_prefix(self, prefix: str) -> None:
        for key in [k for k in self._sizes if k.startswith(prefix)]:
            del self._sizes[key]
            self.path(key).unlink(missing_ok=True)

    def close(self) -> None:
        self._sizes.clear()
        if self._owned:
            shutil.rmtree(self.root, ignore_errors=True)
