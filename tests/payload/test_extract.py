"""Safe extraction of downloaded archives and streamed downloads to memory or disk."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asyncrun.errors import UploadError
from asyncrun.payload import (
    download_and_extract,
    extract_archive,
    read_json_stream,
    read_stream,
    save_stream,
)


def _tar_gz(entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info in entries:
            content = (data or {}).get(info.name)
            if content is not None:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _special(name: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    return info


async def _chunks(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


@pytest.fixture
def area(tmp_path: Path) -> Path:
    """A parent directory holding the output dir, so an escape would land next to it."""
    parent = tmp_path / "area"
    parent.mkdir()
    return parent


async def test_good_archive_is_extracted(area: Path) -> None:
    archive = area.parent / "ok.tar.gz"
    _write(
        archive,
        _tar_gz(
            [_file("a.json"), _file("sub/b.csv"), _link("sub/alias.csv", "b.csv")],
            {"a.json": b"{}", "sub/b.csv": b"x,y\n"},
        ),
    )
    names = await extract_archive(archive, area / "out")
    assert names == ["a.json", "sub/b.csv", "sub/alias.csv"]
    assert (area / "out" / "sub" / "b.csv").read_bytes() == b"x,y\n"
    assert (area / "out" / "sub" / "alias.csv").read_bytes() == b"x,y\n"


@pytest.mark.parametrize(
    ("entries", "why"),
    [
        ([_file("ok.txt"), _file("../evil.txt")], "contains '..'"),
        ([_file("ok.txt"), _file("sub/../../evil.txt")], "contains '..'"),
        ([_file("/tmp/evil.txt")], "absolute path"),
        ([_link("up", "../"), _file("up/evil.txt")], "links outside"),
        ([_link("etc", "/etc")], "links outside"),
        ([_link("sub/deep", "../../x")], "links outside"),
        ([_link("hard", "../evil.txt", tarfile.LNKTYPE)], "links outside"),
        ([_special("dev", tarfile.CHRTYPE)], "device or fifo"),
        ([_special("pipe", tarfile.FIFOTYPE)], "device or fifo"),
    ],
    ids=[
        "traversal",
        "nested-traversal",
        "absolute",
        "symlink-then-write",
        "symlink-absolute",
        "symlink-climbs",
        "hardlink-outside",
        "char-device",
        "fifo",
    ],
)
async def test_hostile_archive_is_refused_and_writes_nothing(
    area: Path, entries: list[tarfile.TarInfo], why: str
) -> None:
    data = {e.name: b"evil" for e in entries if e.isreg()}
    archive = area.parent / "evil.tar.gz"
    _write(archive, _tar_gz(entries, data))
    with pytest.raises(UploadError, match=why):
        await extract_archive(archive, area / "out")
    assert _tree(area) == set()  # not even the output dir: checks run before any write


async def test_symlink_already_in_dest_is_not_followed_out(area: Path, tmp_path: Path) -> None:
    # A link the user already had in the output dir: the data filter (second guard) refuses.
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = area / "out"
    out.mkdir()
    (out / "sub").symlink_to(outside)
    archive = area.parent / "a.tar.gz"
    _write(archive, _tar_gz([_file("sub/evil.txt")], {"sub/evil.txt": b"evil"}))
    with pytest.raises(UploadError, match="refused to extract"):
        await extract_archive(archive, out)
    assert _tree(outside) == set()


async def test_not_a_tar(area: Path) -> None:
    archive = area.parent / "junk.tar.gz"
    _write(archive, b"this is not a tarball")
    with pytest.raises(UploadError, match="not a valid tar file"):
        await extract_archive(archive, area / "out")


async def test_download_and_extract_removes_its_temp_file(area: Path, tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    data = _tar_gz([_file("r/out.json")], {"r/out.json": b'{"v": 1}'})
    names = await download_and_extract(_chunks(data), area / "out", temp_dir=scratch)
    assert names == ["r/out.json"]
    assert (area / "out" / "r" / "out.json").read_bytes() == b'{"v": 1}'
    assert _tree(scratch) == set()

    evil = _tar_gz([_file("../x")], {"../x": b"x"})
    with pytest.raises(UploadError):
        await download_and_extract(_chunks(evil), area / "out2", temp_dir=scratch)
    assert _tree(scratch) == set()


async def test_download_over_the_limit_is_refused(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    with pytest.raises(UploadError, match="larger than the 100-byte limit"):
        await download_and_extract(
            _chunks(b"x" * 500), tmp_path / "out", temp_dir=scratch, max_size=100
        )
    assert _tree(scratch) == set()
    with pytest.raises(UploadError, match="larger than the 100-byte limit"):
        await read_stream(_chunks(b"x" * 101, size=10), max_size=100)
    assert await read_stream(_chunks(b"x" * 100, size=10), max_size=100) == b"x" * 100


async def test_json_stream_is_parsed() -> None:
    doc = {"solution": list(range(5000)), "name": "é"}
    raw = json.dumps(doc).encode()
    assert await read_json_stream(_chunks(raw, size=333)) == doc
    with pytest.raises(UploadError, match="not valid JSON"):
        await read_json_stream(_chunks(b"{nope"))


async def test_save_stream_writes_every_byte(tmp_path: Path) -> None:
    raw = bytes(range(256)) * 1000
    target = tmp_path / "dl.bin"
    assert await save_stream(_chunks(raw, size=4096), target) == len(raw)
    assert target.read_bytes() == raw


async def test_a_compression_bomb_is_refused_before_anything_is_written(area: Path) -> None:
    archive = area.parent / "bomb.tar.gz"
    zeros = b"\0" * (32 * 1024 * 1024)
    _write(archive, _tar_gz([_file("a.bin"), _file("b.bin")], {"a.bin": zeros, "b.bin": zeros}))
    assert archive.stat().st_size < 1024 * 1024  # 64 MiB of files in well under 1 MiB
    with pytest.raises(UploadError, match="more than the 40000000-byte output cap"):
        await extract_archive(archive, area / "out", max_bytes=40_000_000)
    assert _tree(area) == set()
    names = await extract_archive(archive, area / "out", max_bytes=64 * 1024 * 1024)
    assert sorted(names) == ["a.bin", "b.bin"]  # exactly at the cap is allowed
