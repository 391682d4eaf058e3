"""Blocking tar.gz work for payload.py: packing a directory and extracting an archive safely.

Everything here runs in a worker thread. Long loops take a `stop` event and check it between
files and between chunks, so that a cancelled caller gets its thread back within one chunk
(and the thread never keeps files open after the caller has moved on).
"""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from asyncrun.errors import InputError, UploadError

CHUNK_SIZE = 1024 * 1024
_NAME_LIMIT = 200


class StopRequested(Exception):
    """The caller asked the worker to stop (it was cancelled); not an error of the input."""


@dataclass(frozen=True)
class _Member:
    """One regular file to pack: where to read it and its name inside the archive."""

    source: str
    arcname: str


def _show(name: str) -> str:
    """A path or member name as it may appear in a message: quoted and bounded."""
    text = repr(name)
    return text if len(text) <= _NAME_LIMIT else text[:_NAME_LIMIT] + "..."


def _check_stop(stop: threading.Event) -> None:
    if stop.is_set():
        raise StopRequested


def _resolve_link(path: str, root: str) -> str:
    """The real target of a symlink found under root, refused when it leaves root or dangles."""
    target = os.path.realpath(path)
    if os.path.commonpath([root, target]) != root:
        raise InputError(f"symlink {_show(path)} points outside the directory; refusing to pack")
    if not os.path.exists(target):
        raise InputError(f"symlink {_show(path)} is dangling; refusing to pack")
    if os.path.isdir(target):
        raise InputError(
            f"symlink {_show(path)} points to a directory; symlinked directories are not packed "
            "(replace the link by the directory or remove it)"
        )
    return target


def _walk(directory: str, root: str, prefix: str, stop: threading.Event) -> Iterator[_Member]:
    """Regular files under directory, depth first, sorted by name (a deterministic archive)."""
    _check_stop(stop)
    try:
        with os.scandir(directory) as entries:
            ordered = sorted(entries, key=lambda entry: entry.name)
    except OSError as exc:
        raise InputError(f"cannot list {_show(directory)}: {exc.strerror}") from exc
    for entry in ordered:
        arcname = f"{prefix}{entry.name}"
        if entry.is_symlink():
            yield _Member(_resolve_link(entry.path, root), arcname)
        elif entry.is_dir(follow_symlinks=False):
            yield from _walk(entry.path, root, f"{arcname}/", stop)
        elif entry.is_file(follow_symlinks=False):
            yield _Member(entry.path, arcname)
        else:
            raise InputError(
                f"{_show(entry.path)} is not a regular file (fifo, socket or device); "
                "refusing to pack"
            )


def list_members(dir_path: Path, stop: threading.Event) -> list[_Member]:
    """Every file to pack, validated before any byte is compressed."""
    root = os.path.realpath(dir_path)
    if not os.path.isdir(root):
        raise InputError(f"{_show(str(dir_path))} is not a directory")
    return list(_walk(root, root, "", stop))


class _StoppableReader:
    """A read-only file wrapper that checks the stop flag before every chunk."""

    def __init__(self, raw: BinaryIO, stop: threading.Event) -> None:
        self._raw = raw
        self._stop = stop

    def read(self, size: int = -1) -> bytes:
        _check_stop(self._stop)
        return self._raw.read(size)


def _open_regular(path: str) -> BinaryIO:
    """Open a file for reading without following a symlink swapped in after the walk.

    O_NONBLOCK keeps a fifo swapped in from blocking the open; fstat then refuses it.
    """
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"cannot read {_show(path)}: {exc.strerror}") from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputError(f"{_show(path)} is no longer a regular file; refusing to pack")
    return os.fdopen(fd, "rb")


def _tarinfo(member: _Member, handle: BinaryIO) -> tarfile.TarInfo:
    info = tarfile.TarInfo(member.arcname)
    st = os.fstat(handle.fileno())
    info.size = st.st_size
    info.mtime = int(st.st_mtime)
    info.mode = stat.S_IMODE(st.st_mode)
    info.type = tarfile.REGTYPE
    return info


class _CappedFile:
    """The archive's output file: InputError once the compressed size passes max_size."""

    def __init__(self, raw: BinaryIO, max_size: int | None, dir_path: Path) -> None:
        self._raw = raw
        self._max_size = max_size
        self._dir_path = dir_path
        self.written = 0
        self.tripped = False

    def write(self, data: bytes) -> int:
        if self.tripped:
            return len(data)  # the file is being discarded; let gzip close quietly
        self.written += len(data)
        if self._max_size is not None and self.written > self._max_size:
            self.tripped = True
            raise InputError(
                f"the packed directory {_show(str(self._dir_path))} exceeds the upload cap of "
                f"{self._max_size} bytes (compressed)"
            )
        return self._raw.write(data)

    def flush(self) -> None:
        self._raw.flush()


def select_members(
    dir_path: Path, names: Sequence[str], extra: Sequence[tuple[str, str]], stop: threading.Event
) -> list[_Member]:
    """The named files under dir_path (relative names, say the files a manifest lists), each
    checked like a walked one, then `extra` (source path, name in the archive) as given."""
    root = os.path.realpath(dir_path)
    if not os.path.isdir(root):
        raise InputError(f"{_show(str(dir_path))} is not a directory")
    members = []
    for name in names:
        _check_stop(stop)
        path = os.path.join(root, name)
        if os.path.commonpath([root, os.path.realpath(os.path.dirname(path))]) != root:
            raise InputError(f"{_show(name)} is outside {_show(str(dir_path))}; refusing to pack")
        if os.path.islink(path):
            source = _resolve_link(path, root)
        elif os.path.isfile(path):
            source = path
        else:
            raise InputError(f"{_show(path)} is not a regular file; refusing to pack")
        members.append(_Member(source, PurePosixPath(*Path(name).parts).as_posix()))
    return members + [_Member(source, arcname) for source, arcname in extra]


def build_tar_gz(
    dir_path: Path,
    out_path: Path,
    *,
    compresslevel: int,
    max_size: int | None,
    stop: threading.Event,
    names: Sequence[str] | None = None,
    extra: Sequence[tuple[str, str]] = (),
) -> int:
    """Write dir_path's files (or only the `names` in it, plus `extra`) to out_path as tar.gz;
    return the archive size in bytes."""
    if names is None:
        members = list_members(dir_path, stop)
    else:
        members = select_members(dir_path, names, extra, stop)
    with open(out_path, "wb") as raw:
        capped = _CappedFile(raw, max_size, dir_path)
        # mtime=0 and no file name in the gzip header: the same directory gives the same bytes.
        with (
            gzip.GzipFile(
                filename="", mode="wb", compresslevel=compresslevel, fileobj=capped, mtime=0
            ) as gz,
            tarfile.TarFile(
                fileobj=gz, mode="w", format=tarfile.PAX_FORMAT, copybufsize=CHUNK_SIZE
            ) as tar,
        ):
            for member in members:
                _add_member(tar, member, stop)
    return out_path.stat().st_size


def _add_member(tar: tarfile.TarFile, member: _Member, stop: threading.Event) -> None:
    _check_stop(stop)
    with _open_regular(member.source) as handle:
        info = _tarinfo(member, handle)
        try:
            tar.addfile(info, _StoppableReader(handle, stop))
        except OSError as exc:
            # tarfile's "unexpected end of data": the file shrank while it was being packed.
            raise InputError(f"{_show(member.source)} changed while being packed") from exc


# --- extraction -------------------------------------------------------------------------------


def _refuse(member: tarfile.TarInfo, why: str) -> UploadError:
    return UploadError(
        f"refused to extract the downloaded archive: member {_show(member.name)} {why}"
    )


def _is_absolute(name: str) -> bool:
    return name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":")


def _escapes(path: PurePosixPath) -> bool:
    """Whether a relative path climbs above its starting directory at any point."""
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def _check_member(member: tarfile.TarInfo) -> None:
    """Stricter than the data filter: absolute names are refused, not rewritten."""
    name = PurePosixPath(member.name)
    if _is_absolute(member.name):
        raise _refuse(member, "has an absolute path")
    if ".." in name.parts:
        raise _refuse(member, "contains '..'")
    if member.isdev() or member.isfifo():
        raise _refuse(member, "is a device or fifo")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise _refuse(member, "has an unsupported type")
    if member.issym() or member.islnk():
        # A symlink's target is relative to its own folder, a hard link's to the archive root.
        base = name.parent if member.issym() else PurePosixPath()
        if _is_absolute(member.linkname) or _escapes(base / member.linkname):
            raise _refuse(member, "links outside the output directory")


def extract_tar(
    archive: Path, dest: Path, stop: threading.Event, max_bytes: int | None = None
) -> list[str]:
    """Extract archive into dest after checking every member; return the member names.

    All members are checked before the first byte is written, so a hostile archive leaves
    nothing behind: unsafe names and types, and files adding up to more than `max_bytes` (their
    sizes are in the headers, so a compression bomb is refused before it expands). Extraction
    then also runs through tarfile's "data" filter (a second guard that also follows symlinks
    already present in dest).
    """
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            members = tar.getmembers()
            total = 0
            for member in members:
                _check_stop(stop)
                _check_member(member)
                total += member.size if member.isreg() else 0
                if max_bytes is not None and total > max_bytes:
                    raise UploadError(
                        "refused to extract the downloaded archive: its files add up to more "
                        f"than the {max_bytes}-byte output cap"
                    )
            dest.mkdir(parents=True, exist_ok=True)
            for member in members:
                _check_stop(stop)
                tar.extract(member, dest, filter="data")
    except tarfile.FilterError as exc:
        raise UploadError(f"refused to extract the downloaded archive: {exc}") from exc
    except (tarfile.TarError, EOFError, gzip.BadGzipFile) as exc:
        raise UploadError(f"the downloaded archive is not a valid tar file: {exc}") from exc
    return [member.name for member in members]
