"""Large inputs and outputs: directories packed as tar.gz, size rules, streamed downloads and
safe extraction (the upload bodies themselves are in upload_bodies.py).

Blocking work (tar, gzip, extraction) runs in a worker thread that checks a stop flag between
chunks: when the caller is cancelled the thread stops within one chunk, the caller waits for it
(so no file stays open) and only then removes the temp files and re-raises the cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiofiles
import anyio
import anyio.to_thread

from asyncrun import _tar
from asyncrun._retry import Failure, retrying
from asyncrun.errors import InputError, UploadError

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_COMPRESSLEVEL",
    "DEFAULT_UPLOAD_CAP",
    "INLINE_LIMIT",
    "UPLOAD_URL_ATTEMPTS",
    "StopRequested",
    "check_upload_size",
    "download_and_extract",
    "extract_archive",
    "join_shielded",
    "pack_directory",
    "pack_files",
    "read_json_stream",
    "read_stream",
    "run_stoppable",
    "save_stream",
    "upload_with_fresh_url",
]

T = TypeVar("T")

StopRequested = _tar.StopRequested
logger = logging.getLogger("asyncrun")

INLINE_LIMIT = 5 * 1024 * 1024
"""Inputs and outputs strictly larger than this go through presigned URLs (the SDK's rule)."""
DEFAULT_UPLOAD_CAP = 500 * 1024 * 1024
"""Largest object sent to an upload URL (the published 500 MB limit)."""
DEFAULT_COMPRESSLEVEL = 1
"""gzip level for packed directories. On benchmarks/upload.py's CSV data level 1 packs about 9x
faster than the SDK's level 9 for an archive about 25% larger: for an upload, the time wins."""
CHUNK_SIZE = _tar.CHUNK_SIZE
UPLOAD_URL_ATTEMPTS = 3
"""Upload URLs tried (each fresh) before a 403 is final."""
_STOP_GRACE = 30.0
"""Upper bound on waiting for a stopped worker thread (it stops within one chunk)."""


# --- worker threads that stop when the caller is cancelled -------------------------------------


async def join_shielded(worker: asyncio.Future[Any]) -> None:
    """Wait (up to _STOP_GRACE) for work that holds files, even while being cancelled: leaving
    early would remove files under it or leave them open. A cancellation arriving meanwhile is
    not lost: the caller is already unwinding from one and re-raises it afterwards."""
    deadline = asyncio.get_running_loop().time() + _STOP_GRACE
    with anyio.CancelScope(shield=True):
        while not worker.done():
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([worker], timeout=remaining)
    if not worker.cancelled():
        worker.exception()  # mark it retrieved: the caller's own exception wins


async def run_stoppable(fn: Callable[[threading.Event], T]) -> T:
    """Run fn(stop) in a worker thread; on cancellation set stop and wait for the thread."""
    stop = threading.Event()
    worker = asyncio.ensure_future(anyio.to_thread.run_sync(fn, stop))
    try:
        return await asyncio.shield(worker)
    except BaseException:
        stop.set()
        await join_shielded(worker)
        raise


# --- size rules --------------------------------------------------------------------------------


def check_upload_size(size: int, cap: int | None, what: str) -> None:
    """Refuse an object over the upload cap before any byte of it is read or sent."""
    if cap is not None and size > cap:
        raise InputError(f"{what} is {size} bytes, over the upload cap of {cap} bytes")


# --- packing a directory -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def pack_directory(
    dir_path: str | os.PathLike[str],
    *,
    compresslevel: int = DEFAULT_COMPRESSLEVEL,
    max_size: int | None = DEFAULT_UPLOAD_CAP,
    temp_dir: str | os.PathLike[str] | None = None,
) -> AsyncIterator[Path]:
    """Pack a directory as tar.gz in a worker thread; yield the archive's path.

    Members are the directory's regular files, named relative to it (``data.json``,
    ``sub/t.csv``), walked in sorted order. A symlink to a file inside the directory is packed
    as a regular file holding the target's bytes; symlinks leaving the directory, dangling or
    pointing to a directory, and special files (fifo, socket, device) raise InputError before
    anything is compressed. Empty directories are not represented (the archive holds files).

    ``max_size`` caps the compressed archive: packing stops with InputError as soon as the
    output passes it (the uncompressed total proves nothing about the compressed size).
    The temp directory holding the archive is removed on exit, error or cancellation.
    """
    async with _pack(
        dir_path, None, None, compresslevel=compresslevel, max_size=max_size, temp_dir=temp_dir
    ) as archive:
        yield archive


@contextlib.asynccontextmanager
async def pack_files(
    dir_path: str | os.PathLike[str],
    names: Sequence[str],
    *,
    extra: Mapping[str, bytes] | None = None,
    compresslevel: int = DEFAULT_COMPRESSLEVEL,
    max_size: int | None = DEFAULT_UPLOAD_CAP,
    temp_dir: str | os.PathLike[str] | None = None,
) -> AsyncIterator[Path]:
    """Like pack_directory, but only the files `names` (relative to dir_path, say the files an
    app manifest lists), plus `extra` {name in the archive: bytes} (a generated app.yaml)."""
    async with _pack(
        dir_path, names, extra, compresslevel=compresslevel, max_size=max_size, temp_dir=temp_dir
    ) as archive:
        yield archive


@contextlib.asynccontextmanager
async def _pack(
    dir_path: str | os.PathLike[str],
    names: Sequence[str] | None,
    extra: Mapping[str, bytes] | None,
    *,
    compresslevel: int,
    max_size: int | None,
    temp_dir: str | os.PathLike[str] | None,
) -> AsyncIterator[Path]:
    if not 0 <= compresslevel <= 9:
        raise InputError(f"compresslevel must be between 0 and 9, not {compresslevel}")
    source = Path(dir_path)
    workdir = Path(tempfile.mkdtemp(prefix="asyncrun-pack-", dir=temp_dir))
    try:
        archive = workdir / "input.tar.gz"
        generated = []
        for index, (arcname, data) in enumerate((extra or {}).items()):
            path = workdir / f"extra-{index}"
            path.write_bytes(data)
            generated.append((str(path), arcname))
        await run_stoppable(
            lambda stop: _tar.build_tar_gz(
                source,
                archive,
                compresslevel=compresslevel,
                max_size=max_size,
                stop=stop,
                names=names,
                extra=generated,
            )
        )
        yield archive
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- uploads to presigned URLs ----------------------------------------------------------------


async def upload_with_fresh_url(
    request_url: Callable[[], Awaitable[tuple[str, str]]],
    put: Callable[[str], Awaitable[None]],
    *,
    attempts: int = UPLOAD_URL_ATTEMPTS,
) -> str:
    """Ask for an upload URL right before each PUT; return the upload id that took the body.

    `request_url()` gives (upload_id, url); `put(url)` sends the body (retrying 5xx itself).
    A 403 means the URL expired (say, while the PUT waited for a connection) or was refused:
    retrying the same URL cannot help, so a fresh one is requested, up to `attempts` in all.
    """

    async def once() -> str | Failure:
        upload_id, url = await request_url()
        try:
            await put(url)
        except UploadError as exc:
            if exc.status_code != 403:
                raise
            return Failure(exc, retryable=True)
        return upload_id

    async def log_fresh_url(attempt: int, failure: Failure) -> None:
        logger.warning(
            "upload URL refused (403: expired or rejected); asking for a fresh one "
            "(attempt %d of %d)",
            attempt + 2,
            attempts,
        )

    return await retrying(once, attempts=attempts, pause=log_fresh_url)


# --- downloads ---------------------------------------------------------------------------------


async def _collect(chunks: AsyncIterable[bytes], max_size: int | None) -> bytearray:
    buffer = bytearray()
    async for chunk in chunks:
        buffer += chunk
        if max_size is not None and len(buffer) > max_size:
            raise UploadError(f"the download is larger than the {max_size}-byte limit")
    return buffer


async def read_stream(chunks: AsyncIterable[bytes], *, max_size: int | None = None) -> bytes:
    """Collect a streamed download in memory, refusing it once it passes max_size."""
    return bytes(await _collect(chunks, max_size))


async def read_json_stream(chunks: AsyncIterable[bytes], *, max_size: int | None = None) -> Any:
    """A streamed JSON download, parsed from the buffer it was read into (no joined copy;
    json still decodes it to text once); UploadError when it is not JSON or passes max_size."""
    data = await _collect(chunks, max_size)
    try:
        return json.loads(data)
    except ValueError as exc:
        raise UploadError(f"the downloaded output is not valid JSON: {exc}") from exc


async def save_stream(
    chunks: AsyncIterable[bytes], path: str | os.PathLike[str], *, max_size: int | None = None
) -> int:
    """Write a streamed download to path with aiofiles; return the byte count."""
    written = 0
    async with aiofiles.open(path, "wb") as handle:
        async for chunk in chunks:
            written += len(chunk)
            if max_size is not None and written > max_size:
                raise UploadError(f"the download is larger than the {max_size}-byte limit")
            await handle.write(chunk)
    return written


async def extract_archive(
    archive: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
) -> list[str]:
    """Extract a tar(.gz) into dest in a worker thread, refusing unsafe members.

    Every member is checked first (absolute names, ``..``, links leaving dest, devices and
    fifos, and files adding up to more than `max_bytes` raise UploadError and nothing is
    written); extraction then runs through tarfile's "data" filter. Returns the member names.
    """
    source, target = Path(archive), Path(dest)
    return await run_stoppable(lambda stop: _tar.extract_tar(source, target, stop, max_bytes))


async def download_and_extract(
    chunks: AsyncIterable[bytes],
    dest: str | os.PathLike[str],
    *,
    max_size: int | None = None,
    temp_dir: str | os.PathLike[str] | None = None,
) -> list[str]:
    """Stream a tar.gz download to a temp file, extract it safely into dest, remove the file.
    `max_size` caps the download and the bytes extracted."""
    workdir = Path(tempfile.mkdtemp(prefix="asyncrun-download-", dir=temp_dir))
    try:
        archive = workdir / "output.tar.gz"
        await save_stream(chunks, archive, max_size=max_size)
        return await extract_archive(archive, dest, max_bytes=max_size)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
