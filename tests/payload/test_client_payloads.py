"""Large inputs and outputs through AsyncApplication against the emulator: directories, text and
big JSON uploads, expired URLs, the upload cap, cancellation, multi-file and hostile outputs,
request counts, and the same upload path against moto's S3."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import psutil
import pytest

from asyncrun import (
    AsyncClient,
    Limits,
    PollingOptions,
    RateLimits,
    RetryPolicy,
    _tar,
    payload,
    upload_bodies,
)
from asyncrun.emulator import Emulator
from asyncrun.errors import ConfigError, InputError, UploadError
from asyncrun.models import ContentFormat, Input, UploadURL

from ._support import S3Server

KEY = "test-key"
MIB = 1024 * 1024
STORAGE = ("PUT /_storage/{key}", "GET /_storage/{key}")


def _client(url: str, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("limits", Limits(max_connections=20, rate=RateLimits.unlimited()))
    kwargs.setdefault("retry", RetryPolicy(initial_delay=0.001, max_delay=0.01))
    return AsyncClient(KEY, url, **kwargs)


@pytest.fixture
async def emu(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
) -> AsyncIterator[Emulator]:
    async with emulator_factory(time_scale=200.0) as e:
        yield e


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncClient]:
    async with _client(emu.url) as c:
        yield c


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own temp dir: whatever the client leaves behind shows up here."""
    path = tmp_path / "scratch"
    path.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "inputs"
    (root / "sub").mkdir(parents=True)
    (root / "orders.csv").write_bytes(
        b"".join(b"%d,item-%d,%d\n" % (i, i % 97, i) for i in range(20_000))
    )
    (root / "config.json").write_bytes(b'{"horizon": 7}')
    (root / "sub" / "depots.csv").write_bytes(b"id,lat,lon\n1,0.5,0.25\n")
    return root


def _listing(path: Path) -> list[Path]:
    return list(path.iterdir())


def _tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def _file_digests(root: Path) -> list[dict[str, Any]]:
    return [
        {
            "name": str(p.relative_to(root)),
            "size": p.stat().st_size,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        }
        for p in sorted(root.rglob("*"))
        if p.is_file()
    ]


def _read_json(path: Path) -> Any:
    return json.loads(path.read_bytes())


def calls(emu: Emulator, method: str | None = None, path_part: str = "") -> list[dict[str, Any]]:
    recent: list[dict[str, Any]] = emu.stats()["recent_requests"]
    return [
        r for r in recent if (method is None or r["method"] == method) and path_part in r["path"]
    ]


def storage_statuses(emu: Emulator) -> dict[str, dict[str, int]]:
    by_route: dict[str, dict[str, int]] = emu.stats()["requests"]
    return {route: by_route[route] for route in STORAGE if route in by_route}


def assert_storage_clean(emu: Emulator) -> None:
    """The emulator's S3-like rejections (411, 403, 501, 400...) never fired for our client."""
    for route, statuses in storage_statuses(emu).items():
        assert set(statuses) <= {"200", "206"}, (route, statuses)


def assert_plain_put(entry: dict[str, Any], size: int | None = None) -> None:
    headers = {k.lower(): v for k, v in entry["headers"].items()}
    assert "transfer-encoding" not in headers
    assert "content-type" not in headers
    assert "authorization" not in headers
    assert int(headers["content-length"]) > 0
    if size is not None:
        assert int(headers["content-length"]) == size


def _kind(entry: dict[str, Any]) -> str:
    path: str = entry["path"]
    if path.startswith("/_storage/"):
        return "storage"
    return "result-url" if entry["query"].get("format") == "url" else path


def _posted_upload_id(emu: Emulator) -> str:
    (post,) = [r for r in calls(emu, "POST") if r["path"].endswith("/runs")]
    upload_id: str = post["json"]["upload_id"]
    return upload_id


def _posted_configuration(emu: Emulator) -> Any:
    (post,) = [r for r in calls(emu, "POST") if r["path"].endswith("/runs")]
    return post["json"]["configuration"]


# --- directories in, files out -----------------------------------------------------------------


async def test_directory_round_trip_lists_every_file(
    client: AsyncClient,
    emu: Emulator,
    source: Path,
    scratch: Path,
    tmp_path: Path,
    fast_polling: PollingOptions,
) -> None:
    app = client.application("test-app")
    out = tmp_path / "out"
    result = await app.new_run_with_result(
        dir_path=source, polling_options=fast_polling, output_dir=out
    )
    assert result.metadata.status_v2 == "succeeded"
    assert result.output == {"output_dir": str(out), "files": ["result.json"]}
    produced = _read_json(out / "result.json")
    assert produced["files"] == _file_digests(source)
    assert _posted_configuration(emu) == {
        "format": {"input": {"type": "multi-file"}, "output": {"type": "multi-file"}}
    }
    (put,) = calls(emu, "PUT")
    assert_plain_put(put)
    assert_storage_clean(emu)
    assert _listing(scratch) == []


async def test_requests_spent_after_polling_on_a_multi_file_output(
    client: AsyncClient, emu: Emulator, source: Path, tmp_path: Path, fast_polling: PollingOptions
) -> None:
    app = client.application("test-app")
    run_id = await app.new_run(dir_path=source)
    info = await app.run_metadata_with_polling(run_id, fast_polling)
    before = len(calls(emu))
    await app.run_result(run_id, info=info, output_dir=tmp_path / "out")
    after = calls(emu)[before:]
    assert [(r["method"], _kind(r)) for r in after] == [("GET", "result-url"), ("GET", "storage")]


async def test_multi_file_output_without_output_dir_is_not_downloaded(
    client: AsyncClient, emu: Emulator, source: Path, fast_polling: PollingOptions
) -> None:
    app = client.application("test-app")
    result = await app.new_run_with_result(dir_path=source, polling_options=fast_polling)
    assert result.output is None
    assert calls(emu, "GET", "/_storage/") == []


async def test_input_object_names_its_directory(
    client: AsyncClient, emu: Emulator, source: Path, tmp_path: Path, fast_polling: PollingOptions
) -> None:
    app = client.application("test-app")
    result = await app.new_run_with_result(
        Input(data=source, input_format=ContentFormat.csv_archive),
        polling_options=fast_polling,
        output_dir=tmp_path / "out",
    )
    assert _read_json(tmp_path / "out" / "result.json")["files"] == _file_digests(source)
    assert result.metadata.status_v2 == "succeeded"
    assert _posted_configuration(emu) == {
        "format": {"input": {"type": "csv-archive"}, "output": {"type": "csv-archive"}}
    }


async def test_caller_configuration_is_sent_as_given(
    client: AsyncClient, emu: Emulator, source: Path
) -> None:
    app = client.application("test-app")
    await app.new_run(dir_path=source, configuration={"execution_class": "6c9500mb870s"})
    assert _posted_configuration(emu) == {"execution_class": "6c9500mb870s"}


@pytest.mark.parametrize(
    "call",
    [
        lambda app, src: app.new_run({"a": 1}, dir_path=src),
        lambda app, src: app.new_run(upload_id="up-1", dir_path=src),
    ],
    ids=["input-and-dir", "upload-id-and-dir"],
)
async def test_dir_with_another_input_is_a_config_error(
    client: AsyncClient, emu: Emulator, source: Path, call: Any
) -> None:
    with pytest.raises(ConfigError, match="not both"):
        await call(client.application("test-app"), source)
    assert calls(emu) == []


@pytest.mark.parametrize(
    ("make_input", "message"),
    [
        (
            lambda src: Input(data={"f.csv": "a,b"}, input_format=ContentFormat.multi_file),
            "path of a directory",
        ),
        (
            lambda src: Input(data=str(src / "orders.csv"), input_format=ContentFormat.multi_file),
            "not a directory",
        ),
    ],
    ids=["dict-of-contents", "file-not-dir"],
)
async def test_bad_directory_inputs_fail_before_any_request(
    client: AsyncClient, emu: Emulator, source: Path, make_input: Any, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        await client.application("test-app").new_run(make_input(source))
    with pytest.raises(InputError, match="not a directory"):
        await client.application("test-app").new_run(dir_path=source / "missing")
    assert calls(emu) == []


async def test_symlink_leaving_the_directory_fails_before_any_request(
    client: AsyncClient, emu: Emulator, source: Path, tmp_path: Path, scratch: Path
) -> None:
    (tmp_path / "secret").write_bytes(b"s")
    (source / "leak").symlink_to(tmp_path / "secret")
    with pytest.raises(InputError, match="outside the directory"):
        await client.application("test-app").new_run(dir_path=source)
    assert calls(emu) == []
    assert _listing(scratch) == []


# --- uploads -----------------------------------------------------------------------------------


async def test_text_and_big_json_uploads_are_plain_puts(client: AsyncClient, emu: Emulator) -> None:
    app = client.application("test-app")
    text = "line\n" * 1000
    big = {"d": "x" * (5 * MIB + 10)}
    await app.new_run(text)
    await app.new_run(big)
    text_put, json_put = calls(emu, "PUT")
    assert_plain_put(text_put, len(text.encode()))
    assert_plain_put(json_put, len(json.dumps(big, separators=(",", ":"))))
    assert_storage_clean(emu)


async def test_over_the_upload_cap_fails_before_any_request(
    emu: Emulator, source: Path, scratch: Path
) -> None:
    limits = Limits(rate=RateLimits.unlimited(), upload_cap=20_000)
    async with _client(emu.url, limits=limits) as client:
        app = client.application("test-app")
        with pytest.raises(InputError, match="over the upload cap of 20000 bytes"):
            await app.new_run("x" * 20_001)
        with pytest.raises(InputError, match="exceeds the upload cap of 20000 bytes"):
            await app.new_run(dir_path=source)  # its tar.gz is about 50 KB
    assert calls(emu) == []
    assert _listing(scratch) == []


async def test_expired_upload_url_is_replaced(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
    source: Path,
    fast_polling: PollingOptions,
) -> None:
    async with emulator_factory(time_scale=200.0, url_ttl=1.0) as emu, _client(emu.url) as client:
        app = client.application("test-app")
        original = app.upload_url
        served = 0

        async def first_url_goes_stale() -> UploadURL:
            # The first URL is handed over only once it has expired, as if the PUT had waited in
            # a queue; the emulator's clock is the wall clock, so wait out the integer expiry.
            nonlocal served
            target = await original()
            served += 1
            if served == 1:
                expires = int(parse_qs(urlsplit(target.upload_url).query)["expires"][0])
                await asyncio.sleep(max(0.0, expires + 0.05 - time.time()))
            return target

        app.upload_url = first_url_goes_stale  # type: ignore[method-assign]
        result = await app.new_run_with_result(dir_path=source, polling_options=fast_polling)
        assert result.metadata.status_v2 == "succeeded"
        assert served == 2
        assert emu.stats()["requests"]["PUT /_storage/{key}"] == {"200": 1, "403": 1}
        # The run was created from the second (fresh) upload, not the stale one.
        first_put, second_put = calls(emu, "PUT")
        assert first_put["path"] != second_put["path"]
        assert _posted_upload_id(emu) in second_put["path"]


async def test_rejected_url_is_retried_with_a_fresh_one_then_given_up(
    client: AsyncClient, emu: Emulator
) -> None:
    app = client.application("test-app")
    original = app.upload_url
    tamper_all = False
    served = 0

    async def tampered() -> UploadURL:
        nonlocal served
        target = await original()
        served += 1
        if served == 1 or tamper_all:
            return UploadURL(upload_id=target.upload_id, upload_url=target.upload_url + "0")
        return target

    app.upload_url = tampered  # type: ignore[method-assign]
    run_id = await app.new_run("some text")
    assert run_id
    assert served == 2

    tamper_all, served = True, 0
    with pytest.raises(UploadError, match="status 403") as caught:
        await app.new_run("some text")
    assert served == payload.UPLOAD_URL_ATTEMPTS
    assert "signature=" not in str(caught.value)
    assert len([r for r in calls(emu, "POST") if r["path"].endswith("/runs")]) == 1


# --- cancellation ------------------------------------------------------------------------------


def _open_paths() -> set[str]:
    return {f.path for f in psutil.Process().open_files()}


async def _cancel_when(event: threading.Event, task: asyncio.Task[Any]) -> None:
    assert await anyio.to_thread.run_sync(event.wait, 10), "the hook was never reached"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_cancel_during_the_tar_build(
    client: AsyncClient, emu: Emulator, source: Path, scratch: Path
) -> None:
    reading = threading.Event()
    original = _tar._StoppableReader.read

    def paused_read(reader: _tar._StoppableReader, size: int = -1) -> bytes:
        reading.set()
        reader._stop.wait(timeout=10)
        return original(reader, size)

    before = _open_paths()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_tar._StoppableReader, "read", paused_read)
        task = asyncio.create_task(client.application("test-app").new_run(dir_path=source))
        await _cancel_when(reading, task)
    assert _open_paths() == before
    assert _listing(scratch) == []
    assert calls(emu) == []


async def test_cancel_during_the_upload(
    client: AsyncClient, emu: Emulator, source: Path, scratch: Path
) -> None:
    sending = threading.Event()
    open_while_sending: set[str] = set()
    original = upload_bodies.FileBody.write_with_length

    class _StallAfterFirstChunk:
        def __init__(self, writer: Any) -> None:
            self._writer = writer

        async def write(self, chunk: bytes) -> None:
            # Half of the first chunk: the body is incomplete, so no answer can come early.
            await self._writer.write(chunk[: len(chunk) // 2])
            open_while_sending.update(_open_paths())
            sending.set()
            await asyncio.sleep(30)  # cancelled long before

    async def stalled_write(body: upload_bodies.FileBody, writer: Any, length: int | None) -> None:
        await original(body, _StallAfterFirstChunk(writer), length)  # type: ignore[arg-type]

    before = _open_paths()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(upload_bodies.FileBody, "write_with_length", stalled_write)
        task = asyncio.create_task(client.application("test-app").new_run(dir_path=source))
        await _cancel_when(sending, task)
    # The archive was open and partly sent when the cancellation came.
    assert any(path.startswith(str(scratch)) for path in open_while_sending)
    assert _open_paths() == before
    assert _listing(scratch) == []
    assert [r for r in calls(emu, "POST") if r["path"].endswith("/runs")] == []


# --- outputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["traversal", "absolute", "symlink"])
async def test_hostile_output_is_refused(
    client: AsyncClient, tmp_path: Path, scratch: Path, kind: str, fast_polling: PollingOptions
) -> None:
    area = tmp_path / "area"
    area.mkdir()
    app = client.application("test-app")
    with pytest.raises(UploadError, match="refused to extract"):
        await app.new_run_with_result(
            {"a": 1},
            options={"emulator.evil_output": kind},
            configuration={"format": {"input": {"type": "json"}, "output": {"type": "multi-file"}}},
            polling_options=fast_polling,
            output_dir=area / "out",
        )
    # Not even the output dir was made: every member is checked before the first write. The
    # hostile members aim at area/escape.txt, /abs.txt and tmp_path/outside.txt.
    assert _tree(area) == set()
    assert not (tmp_path / "outside.txt").exists()
    assert _listing(scratch) == []


async def test_large_json_output_is_streamed_and_parsed(
    client: AsyncClient, emu: Emulator, fast_polling: PollingOptions
) -> None:
    app = client.application("test-app")
    result = await app.new_run_with_result(
        {"a": 1}, options={"emulator.output_bytes": 6 * MIB}, polling_options=fast_polling
    )
    assert len(result.output["padding"]) > 5 * MIB
    assert_storage_clean(emu)


async def test_outputs_over_the_output_cap_are_refused(
    emu: Emulator, source: Path, scratch: Path, tmp_path: Path, fast_polling: PollingOptions
) -> None:
    limits = Limits(max_connections=20, rate=RateLimits.unlimited(), output_cap=MIB)
    async with _client(emu.url, limits=limits) as capped:
        app = capped.application("test-app")
        with pytest.raises(UploadError, match=f"larger than the {MIB}-byte limit"):
            await app.new_run_with_result(
                {"a": 1}, options={"emulator.output_bytes": 6 * MIB}, polling_options=fast_polling
            )
    tiny = Limits(max_connections=20, rate=RateLimits.unlimited(), output_cap=64)
    async with _client(emu.url, limits=tiny) as capped:
        out = tmp_path / "out"
        with pytest.raises(UploadError, match="larger than the 64-byte limit"):
            await capped.application("test-app").new_run_with_result(
                dir_path=source, polling_options=fast_polling, output_dir=out
            )
    assert not out.exists()
    assert _listing(scratch) == []  # the partial download was removed


# --- a real S3 implementation ------------------------------------------------------------------


async def test_packed_directory_through_the_transport_to_s3(
    client: AsyncClient, s3_server: S3Server, source: Path, scratch: Path
) -> None:
    async with payload.pack_directory(source) as archive:
        size = upload_bodies.file_body(archive).size
        url = s3_server.presigned_put("inputs/dir.tar.gz")
        await client.transport.put_presigned(
            url, lambda: upload_bodies.FileBody(archive, size), size
        )
        sent = hashlib.sha256(await anyio.Path(archive).read_bytes()).hexdigest()
    stored = await asyncio.to_thread(s3_server.object_bytes, "inputs/dir.tar.gz")
    assert hashlib.sha256(stored).hexdigest() == sent
    assert _listing(scratch) == []
