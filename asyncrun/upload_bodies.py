"""Upload bodies for presigned PUTs (aiohttp payloads): a file streamed in chunks with an exact
size, or bytes. Kept apart from payload.py so that aiohttp is imported only by a client that
uploads or downloads through a presigned URL."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiofiles
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload, Payload

from asyncrun.errors import InputError
from asyncrun.payload import CHUNK_SIZE, DEFAULT_UPLOAD_CAP, check_upload_size, join_shielded

__all__ = ["FileBody", "bytes_body", "file_body", "open_file_body"]


class FileBody(Payload):
    """A request body streamed from a file in chunks, with an exact size.

    aiohttp sends Content-Length from `size`, so the body is never chunked (S3 and the emulator
    refuse chunked PUTs). Send it with ``skip_auto_headers=("Content-Type",)``: that also drops
    the payload's own octet-stream type (aiohttp requires payloads to carry some header), and a
    presigned URL that did not sign a Content-Type refuses one. The file is opened afresh on
    every write, so one FileBody can be sent again (a retry after an expired URL).
    """

    _autoclose = True  # nothing is held open between writes

    def __init__(self, path: str | os.PathLike[str], size: int) -> None:
        super().__init__(Path(path))
        self._path = Path(path)
        self._size = self._exact_size = size
        self._writers = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def size(self) -> int:
        return self._exact_size

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        self._writers += 1
        self._idle.clear()
        try:
            await self._stream(writer, content_length)
        finally:
            self._writers -= 1
            if not self._writers:
                self._idle.set()

    async def _stream(self, writer: AbstractStreamWriter, content_length: int | None) -> None:
        limit = self.size if content_length is None else min(content_length, self.size)
        sent = 0
        async with aiofiles.open(self._path, "rb") as handle:
            while sent < limit:
                chunk = await handle.read(min(CHUNK_SIZE, limit - sent))
                if not chunk:
                    raise InputError(f"{self._path.name!r} shrank while being uploaded")
                await writer.write(chunk)
                sent += len(chunk)

    async def wait_closed(self) -> None:
        """Return once no write holds the file open (bounded, and even while cancelled).

        aiohttp cancels a request's body writer without awaiting it, so right after a cancelled
        or failed PUT the file can still be open for a moment; wait before removing it.
        """
        if not self._idle.is_set():
            waiter = asyncio.ensure_future(self._idle.wait())
            try:
                await join_shielded(waiter)
            finally:
                waiter.cancel()

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        raise TypeError("a FileBody is streamed from disk and is not decoded in memory")


def file_body(
    path: str | os.PathLike[str], *, max_size: int | None = DEFAULT_UPLOAD_CAP
) -> FileBody:
    """A FileBody for path, its size from stat: InputError if missing or over max_size."""
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise InputError(f"cannot read {os.fspath(path)!r}: {exc.strerror}") from exc
    check_upload_size(size, max_size, f"{Path(path).name!r}")
    return FileBody(path, size)


@contextlib.asynccontextmanager
async def open_file_body(
    path: str | os.PathLike[str], *, max_size: int | None = DEFAULT_UPLOAD_CAP
) -> AsyncIterator[FileBody]:
    """A FileBody (see file_body) that is closed, whatever happened, when the block exits."""
    body = file_body(path, max_size=max_size)
    try:
        yield body
    finally:
        await body.wait_closed()


def bytes_body(data: bytes) -> BytesPayload:
    """An in-memory body with an exact Content-Length (send it like a FileBody)."""
    return BytesPayload(data)
