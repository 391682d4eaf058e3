"""Upload bodies: exact Content-Length, never chunked, no Content-Type, the size cap checked
before reading, cancellation mid-upload, and a real S3 implementation (moto) accepting them."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import aiohttp
import anyio
import psutil
import pytest
from aiohttp import web

from asyncrun.errors import InputError
from asyncrun.payload import CHUNK_SIZE, DEFAULT_UPLOAD_CAP, check_upload_size
from asyncrun.upload_bodies import FileBody, bytes_body, file_body

from ._support import RecordingServer, S3Server

# What the presigned PUT sends: no Content-Type of aiohttp's own (the URL did not sign one).
NO_TYPE = ("Content-Type",)


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "input.tar.gz"
    # Several chunks plus a tail, so chunk boundaries are exercised.
    path.write_bytes(os.urandom(3 * CHUNK_SIZE + 12345))
    return path


def _open_paths() -> set[str]:
    return {f.path for f in psutil.Process().open_files()}


def _size(path: Path) -> int:
    return path.stat().st_size


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _assert_plain_put(headers: dict[str, str], size: int) -> None:
    lowered = {k.lower(): v for k, v in headers.items()}
    assert lowered["content-length"] == str(size)
    assert "transfer-encoding" not in lowered
    assert "content-type" not in lowered
    assert "authorization" not in lowered


async def test_file_body_streams_with_exact_length(
    data_file: Path, recording_server: RecordingServer
) -> None:
    body = file_body(data_file)
    assert body.size == _size(data_file)
    async with (
        aiohttp.ClientSession() as session,
        session.put(
            f"{recording_server.url}/up?sig=1", data=body, skip_auto_headers=NO_TYPE
        ) as resp,
    ):
        assert resp.status == 200
    (seen,) = recording_server.requests
    assert seen.method == "PUT"
    _assert_plain_put(seen.headers, _size(data_file))
    assert seen.body == _read(data_file)


async def test_file_body_can_be_sent_again(
    data_file: Path, recording_server: RecordingServer
) -> None:
    body = file_body(data_file)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.put(
                recording_server.url, data=body, skip_auto_headers=NO_TYPE
            ) as resp:
                assert resp.status == 200
    assert [r.body for r in recording_server.requests] == [_read(data_file)] * 2


async def test_bytes_body_has_length_and_no_type(recording_server: RecordingServer) -> None:
    data = b'{"text": "' + b"x" * 100_000 + b'"}'
    async with (
        aiohttp.ClientSession() as session,
        session.put(recording_server.url, data=bytes_body(data), skip_auto_headers=NO_TYPE) as resp,
    ):
        assert resp.status == 200
    (seen,) = recording_server.requests
    _assert_plain_put(seen.headers, len(data))
    assert seen.body == data


async def test_empty_file_is_sent_with_zero_length(
    tmp_path: Path, recording_server: RecordingServer
) -> None:
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    async with (
        aiohttp.ClientSession() as session,
        session.put(recording_server.url, data=file_body(empty), skip_auto_headers=NO_TYPE) as resp,
    ):
        assert resp.status == 200
    (seen,) = recording_server.requests
    _assert_plain_put(seen.headers, 0)


def test_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:  # sparse: 600 MiB of size, no data on disk
        handle.truncate(600 * 1024 * 1024)
    with pytest.raises(InputError, match=f"over the upload cap of {DEFAULT_UPLOAD_CAP} bytes"):
        file_body(huge)
    small = tmp_path / "small"
    small.write_bytes(b"12345")
    with pytest.raises(InputError, match="5 bytes, over the upload cap of 4 bytes"):
        file_body(small, max_size=4)
    assert file_body(small, max_size=5).size == 5
    assert file_body(huge, max_size=None).size == 600 * 1024 * 1024


def test_check_upload_size_boundaries() -> None:
    check_upload_size(100, 100, "x")
    check_upload_size(10**12, None, "x")
    with pytest.raises(InputError, match="'in' is 101 bytes"):
        check_upload_size(101, 100, "'in'")


def test_missing_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        file_body(tmp_path / "missing")


async def test_file_shrinking_during_upload_fails_the_request(
    data_file: Path, recording_server: RecordingServer
) -> None:
    lying = FileBody(data_file, _size(data_file) + 10)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError) as caught:
            async with session.put(recording_server.url, data=lying, skip_auto_headers=NO_TYPE):
                pass
    assert isinstance(caught.value.__cause__, InputError)
    assert recording_server.requests == []


async def test_cancel_mid_upload_leaves_no_open_file(data_file: Path) -> None:
    first_bytes = asyncio.Event()
    test_done = asyncio.Event()

    async def stalled_reader(request: web.Request) -> web.Response:
        await request.content.readexactly(1024)
        first_bytes.set()
        with anyio.move_on_after(10):
            await test_done.wait()
        # Drop the connection rather than let aiohttp linger reading the unread body.
        if request.transport is not None:
            request.transport.close()
        return web.Response()

    app = web.Application()
    app.router.add_put("/up", stalled_reader)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/up"
        before = _open_paths()
        async with aiohttp.ClientSession() as session:
            body = file_body(data_file)

            async def put() -> None:
                async with session.put(url, data=body, skip_auto_headers=NO_TYPE):
                    pytest.fail("the upload must not finish")

            task = asyncio.create_task(put())
            with anyio.fail_after(10):
                await first_bytes.wait()
            assert str(data_file) in _open_paths()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # aiohttp cancels the body writer without awaiting it: wait_closed covers the gap.
            await body.wait_closed()
        assert _open_paths() == before
    finally:
        test_done.set()
        await runner.cleanup()


async def test_s3_accepts_the_streamed_put(data_file: Path, s3_server: S3Server) -> None:
    url = s3_server.presigned_put("inputs/input.tar.gz")
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, data=file_body(data_file), skip_auto_headers=NO_TYPE) as resp,
    ):
        assert resp.status == 200, await resp.text()
    stored = await asyncio.to_thread(s3_server.object_bytes, "inputs/input.tar.gz")
    assert hashlib.sha256(stored).digest() == hashlib.sha256(_read(data_file)).digest()


async def test_s3_accepts_the_bytes_put(s3_server: S3Server) -> None:
    url = s3_server.presigned_put("inputs/text.txt")
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, data=bytes_body(b"hello text"), skip_auto_headers=NO_TYPE) as resp,
    ):
        assert resp.status == 200, await resp.text()
    assert await asyncio.to_thread(s3_server.object_bytes, "inputs/text.txt") == b"hello text"
