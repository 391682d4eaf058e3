"""Storage streams objects to and from disk: memory does not grow with the object size."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import tracemalloc
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp

from asyncrun.emulator import Emulator

APP = "/v1/applications/test-app"
AUTH = {"Authorization": "Bearer test-key"}
SIZE = 48 * 2**20
CHUNK = 256 * 1024


async def _body(block: bytes, total: int) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        yield block
        sent += len(block)


def _tar_gz(root: Path, files: dict[str, bytes]) -> Path:
    path = root / "in.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


async def test_upload_and_download_do_not_hold_the_object_in_memory(emulator: Emulator) -> None:
    block = os.urandom(CHUNK)
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.post(f"{emulator.url}{APP}/runs/uploadurl") as resp,
    ):
        upload = await resp.json()
    tracemalloc.start()
    try:
        headers = {"Content-Length": str(SIZE)}
        async with aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as bare:
            async with bare.put(
                upload["upload_url"], data=_body(block, SIZE), headers=headers
            ) as resp:
                assert resp.status == 200, await resp.text()
            _, upload_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            key = f"uploads/{upload['upload_id']}"
            url = emulator.state.storage.presign(emulator.url, "GET", key)
            received = 0
            async with bare.get(url) as resp:
                async for chunk in resp.content.iter_chunked(CHUNK):
                    received += len(chunk)
            _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == SIZE
    assert emulator.stats()["bytes_stored"] == SIZE
    # Both directions together would need 2 x 48 MiB if either side buffered the object.
    assert upload_peak < 8 * 2**20
    assert download_peak < 8 * 2**20


async def test_multi_file_input_is_read_as_a_stream(emulator: Emulator, tmp_path: Path) -> None:
    files = {"a.txt": b"alpha\n", "dir/b.bin": os.urandom(20_000), "empty": b""}
    archive = _tar_gz(tmp_path, files)
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{emulator.url}{APP}/runs/uploadurl") as resp:
            upload = await resp.json()
        async with (
            aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as bare,
            bare.put(upload["upload_url"], data=archive.read_bytes()) as resp,
        ):
            assert resp.status == 200
        body = {
            "upload_id": upload["upload_id"],
            "configuration": {"format": {"input": {"type": "multi-file"}}},
        }
        async with http.post(f"{emulator.url}{APP}/runs", json=body) as resp:
            run_id = (await resp.json())["run_id"]
        run = emulator.state.store.get("test-app", run_id)
        assert run is not None
        assert run.files == [
            {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for n, d in sorted(files.items())
        ]
        assert run.digest == hashlib.sha256(archive.read_bytes()).hexdigest()


async def test_broken_archive_fails_the_run(emulator: Emulator) -> None:
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.post(f"{emulator.url}{APP}/runs/uploadurl") as resp:
            upload = await resp.json()
        async with (
            aiohttp.ClientSession(skip_auto_headers=["Content-Type"]) as bare,
            bare.put(upload["upload_url"], data=b"not a tarball") as resp,
        ):
            assert resp.status == 200
        body = {
            "upload_id": upload["upload_id"],
            "configuration": {"format": {"input": {"type": "multi-file"}}},
            "options": {"emulator.duration": "0"},
        }
        async with http.post(f"{emulator.url}{APP}/runs", json=body) as resp:
            run_id = (await resp.json())["run_id"]
        async with http.get(f"{emulator.url}{APP}/runs/{run_id}/metadata") as resp:
            meta = (await resp.json())["metadata"]
    assert meta["status_v2"] == "failed"
    assert "tar.gz" in meta["error"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_cli_serves_until_interrupted() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncrun", "emulator", "--port", str(port), "--api-key", "k9"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # bounded: the process prints this line or exits
        assert f"http://127.0.0.1:{port}" in line
        storage = Path(line.split("(storage ", 1)[1].split(";", 1)[0])
        assert storage.is_dir()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{APP}/runs", headers={"Authorization": "Bearer k9"}
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
            assert json.load(resp) == {"runs": []}
    finally:
        proc.terminate()
        code = proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()
    assert code == 0  # SIGTERM stops it cleanly...
    assert not storage.exists()  # ...and its temporary storage is gone
