"""pack_directory: member names, determinism, refusals, the size cap, temp-dir cleanup and
cancellation while the worker thread is compressing."""

from __future__ import annotations

import asyncio
import io
import os
import socket
import tarfile
import threading
import time
from pathlib import Path

import anyio
import psutil
import pytest

from asyncrun import _tar
from asyncrun.errors import InputError
from asyncrun.payload import pack_directory


def _write(root: Path, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        out: dict[str, bytes] = {}
        for member in tar.getmembers():
            assert member.isreg(), member.name
            handle = tar.extractfile(member)
            assert handle is not None
            out[member.name] = handle.read()
        return out


def _listing(path: Path) -> list[Path]:
    return list(path.iterdir())


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    _write(
        root,
        {
            "b.csv": b"a,b\n1,2\n",
            "a.json": b'{"x": 1}',
            "sub/z.txt": b"zz",
            "sub/deeper/t.csv": b"t\n" * 1000,
        },
    )
    (root / "empty").mkdir()
    return root


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A private temp dir for archives, so a leftover shows up as a non-empty directory."""
    path = tmp_path / "scratch"
    path.mkdir()
    return path


async def test_members_are_relative_sorted_regular_files(source: Path, scratch: Path) -> None:
    async with pack_directory(source, temp_dir=scratch) as archive:
        with tarfile.open(archive, "r:gz") as tar:
            names = tar.getnames()
        contents = _members(archive)
    assert names == ["a.json", "b.csv", "sub/deeper/t.csv", "sub/z.txt"]
    assert contents["sub/deeper/t.csv"] == b"t\n" * 1000
    assert contents["a.json"] == b'{"x": 1}'
    assert _listing(scratch) == []


async def test_same_directory_gives_the_same_bytes(source: Path, scratch: Path) -> None:
    async with pack_directory(source, temp_dir=scratch) as first:
        one = first.read_bytes()
    async with pack_directory(source, temp_dir=scratch, compresslevel=1) as second:
        two = second.read_bytes()
    assert one == two


async def test_compresslevel_is_applied(source: Path, scratch: Path) -> None:
    _write(source, {"big.csv": b"".join(b"%d,%d,abc\n" % (i, i * 7) for i in range(50_000))})
    async with pack_directory(source, temp_dir=scratch, compresslevel=0) as stored:
        stored_size = stored.stat().st_size
    async with pack_directory(source, temp_dir=scratch, compresslevel=9) as best:
        best_size = best.stat().st_size
    assert best_size < stored_size // 3


async def test_symlink_to_a_file_inside_is_packed_as_its_content(
    source: Path, scratch: Path
) -> None:
    (source / "alias.json").symlink_to(source / "a.json")
    async with pack_directory(source, temp_dir=scratch) as archive:
        contents = _members(archive)
    assert contents["alias.json"] == b'{"x": 1}'


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root, out: (root / "leak").symlink_to(out / "secret.txt"), "outside"),
        (lambda root, out: (root / "up").symlink_to("../outside"), "outside"),
        (lambda root, out: (root / "gone").symlink_to(root / "missing"), "dangling"),
        (lambda root, out: (root / "dirlink").symlink_to(root / "sub"), "directory"),
        (lambda root, out: os.mkfifo(root / "sub" / "pipe"), "not a regular file"),
    ],
    ids=["symlink-absolute-outside", "symlink-relative-outside", "dangling", "dir-link", "fifo"],
)
async def test_refused_entries(source: Path, scratch: Path, tmp_path: Path, make, message) -> None:  # type: ignore[no-untyped-def]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"secret")
    make(source, outside)
    with pytest.raises(InputError, match=message):
        async with pack_directory(source, temp_dir=scratch):
            pytest.fail("the body must not run")
    assert _listing(scratch) == []


async def test_socket_is_refused(scratch: Path) -> None:
    # AF_UNIX paths are limited to ~108 bytes, so use a short directory of our own.
    root = scratch.parent / "s"
    os.mkdir(root)
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(root / "sock"))
        with pytest.raises(InputError, match="not a regular file"):
            async with pack_directory(root, temp_dir=scratch):
                pytest.fail("the body must not run")
    finally:
        server.close()


async def test_not_a_directory(tmp_path: Path, scratch: Path) -> None:
    file = tmp_path / "f.txt"
    file.write_text("x")
    for bad in (file, tmp_path / "missing"):
        with pytest.raises(InputError, match="not a directory"):
            async with pack_directory(bad, temp_dir=scratch):
                pytest.fail("the body must not run")
    assert _listing(scratch) == []


async def test_bad_compresslevel(source: Path) -> None:
    with pytest.raises(InputError, match="compresslevel"):
        async with pack_directory(source, compresslevel=10):
            pytest.fail("the body must not run")


async def test_archive_over_the_cap_is_refused(tmp_path: Path, scratch: Path) -> None:
    root = tmp_path / "noise"
    _write(root, {f"r{i}.bin": os.urandom(256 * 1024) for i in range(8)})  # incompressible 2 MiB
    read_calls = 0
    original = _tar._StoppableReader.read

    def counting_read(self: _tar._StoppableReader, size: int = -1) -> bytes:
        nonlocal read_calls
        read_calls += 1
        return original(self, size)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_tar._StoppableReader, "read", counting_read)
        with pytest.raises(InputError, match="exceeds the upload cap of 300000 bytes"):
            async with pack_directory(root, temp_dir=scratch, max_size=300_000):
                pytest.fail("the body must not run")
    # Packing stopped once the output passed the cap: it never read all eight files.
    assert 0 < read_calls < 8
    assert _listing(scratch) == []


async def test_temp_dir_removed_when_the_body_raises(source: Path, scratch: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        async with pack_directory(source, temp_dir=scratch) as archive:
            assert archive.exists()
            raise RuntimeError("boom")
    assert _listing(scratch) == []


class _Paused:
    """Holds the packing thread inside its first chunk read until it is told to stop."""

    def __init__(self) -> None:
        self.reading = threading.Event()
        self.saw_stop = threading.Event()
        self.returned = threading.Event()
        self.original = _tar._StoppableReader.read

    def read(self, reader: _tar._StoppableReader, size: int = -1) -> bytes:
        self.reading.set()
        # Bounded: the test fails (no stop seen) rather than hangs if cancellation never arrives.
        if reader._stop.wait(timeout=10):
            self.saw_stop.set()
            time.sleep(0.2)  # a chunk still being compressed when the stop arrives
        try:
            return self.original(reader, size)
        finally:
            self.returned.set()


async def _wait_for(event: threading.Event) -> None:
    assert await anyio.to_thread.run_sync(event.wait, 10), "the worker never started reading"


def _open_paths() -> set[str]:
    return {f.path for f in psutil.Process().open_files()}


@pytest.mark.parametrize("how", ["task.cancel", "anyio-scope"])
async def test_cancel_mid_build_stops_the_thread_and_cleans_up(
    source: Path, scratch: Path, how: str
) -> None:
    paused = _Paused()
    before = _open_paths()
    entered = False

    async def pack() -> None:
        nonlocal entered
        async with pack_directory(source, temp_dir=scratch):
            entered = True

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_tar._StoppableReader, "read", lambda r, size=-1: paused.read(r, size))
        if how == "task.cancel":
            task = asyncio.create_task(pack())
            await _wait_for(paused.reading)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        else:
            with anyio.CancelScope() as scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(pack)
                    await _wait_for(paused.reading)
                    scope.cancel()
            assert scope.cancelled_caught
    assert paused.saw_stop.is_set()
    assert paused.returned.is_set()
    assert not entered
    # The thread was joined, not abandoned: nothing it opened is still open, nothing is left.
    assert _open_paths() == before
    assert _listing(scratch) == []


async def test_stoppable_reader_stops_between_chunks() -> None:
    stop = threading.Event()
    reader = _tar._StoppableReader(io.BytesIO(b"abcdef"), stop)
    assert reader.read(3) == b"abc"
    stop.set()
    with pytest.raises(_tar.StopRequested):
        reader.read(3)
