"""The default app: a deterministic output that proves which input it came from.

A failed run (`emulator.fail`) writes `failure_document` instead (no value, no metrics).

JSON input -> sha256 of its canonical JSON (sorted keys, separators "," and ":", UTF-8, no
ASCII escaping); text input -> sha256 of its UTF-8 bytes; multi-file input (a tar.gz) -> the
list of {name, size, sha256} of every regular file, read as a stream.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any, BinaryIO

from asyncrun.emulator.storage import CHUNK

PADDING_OVERHEAD = len(b',"padding":""')
_FILLER_BLOCK = b"".join(hashlib.sha256(str(i).encode()).digest() for i in range(2048))  # 64 KiB

EVIL_KINDS = ("traversal", "absolute", "symlink")


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def compact_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def digest_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def digest_file(path: Path) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def digest_json_file(path: Path) -> str:
    """sha256 of the canonical form of a JSON file; ValueError if it is not JSON.

    Canonical JSON needs the parsed value, so this costs memory in proportion to the file
    (the one exception to streaming: only JSON uploads are parsed).
    """
    with path.open("rb") as source:
        value = json.load(source)
    return digest_json(value)


def files_of_targz(path: Path) -> list[dict[str, Any]]:
    """{name, size, sha256} of every regular file in a tar.gz, sorted by name, read as a stream."""
    files: list[dict[str, Any]] = []
    with tarfile.open(path, mode="r|gz") as archive:
        for member in archive:
            if not member.isfile():
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            h = hashlib.sha256()
            size = 0
            while chunk := source.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
            files.append({"name": _member_name(member.name), "size": size, "sha256": h.hexdigest()})
    files.sort(key=lambda f: str(f["name"]))
    return files


def _member_name(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def value_of(digest: str) -> float:
    return int(digest[:8], 16) / 2**32 * 100


def output_document(
    digest: str, options: dict[str, str], files: list[dict[str, Any]] | None
) -> dict[str, Any]:
    value = value_of(digest)
    doc: dict[str, Any] = {"input_digest": digest}
    if files is not None:
        doc["files"] = files
    doc["options"] = options
    doc["value"] = value
    doc["metrics"] = {"value": value}
    doc["statistics"] = {"result": {"value": value}}
    return doc


def failure_document(digest: str, options: dict[str, str], message: str) -> dict[str, Any]:
    """What the default app writes before it fails: no value, the reason."""
    return {"input_digest": digest, "options": options, "error": message}


def padding_length(base_size: int, output_bytes: int | None) -> int | None:
    """How many padding characters bring the output to about `output_bytes`; None: no padding."""
    if output_bytes is None:
        return None
    return max(0, output_bytes - base_size - PADDING_OVERHEAD)


def json_output_size(base: bytes, padding: int | None) -> int:
    return len(base) if padding is None else len(base) + PADDING_OVERHEAD + padding


def write_json_output(sink: BinaryIO, base: bytes, padding: int | None) -> None:
    """Write the compact output JSON, with a "padding" string of `padding` characters."""
    if padding is None:
        sink.write(base)
        return
    sink.write(base[:-1] + b',"padding":"')
    _write_repeated(sink, b"x" * CHUNK, padding)
    sink.write(b'"}')


def render_json_output(base: bytes, padding: int | None) -> bytes:
    buffer = io.BytesIO()
    write_json_output(buffer, base, padding)
    return buffer.getvalue()


def write_multifile_output(
    sink: BinaryIO, result_json: bytes, filler_bytes: int | None, evil: str | None
) -> None:
    """A tar.gz with result.json, an optional filler file, and an optional hostile member."""
    with tarfile.open(fileobj=sink, mode="w:gz", compresslevel=1) as archive:
        _add_bytes(archive, "result.json", result_json)
        if filler_bytes:
            info = tarfile.TarInfo("filler.bin")
            info.size = filler_bytes
            archive.addfile(info, _RepeatReader(_FILLER_BLOCK, filler_bytes))
        if evil == "traversal":
            _add_bytes(archive, "../escape.txt", b"escaped\n")
        elif evil == "absolute":
            _add_bytes(archive, "/abs.txt", b"absolute\n")
        elif evil == "symlink":
            link = tarfile.TarInfo("outside-link")
            link.type = tarfile.SYMTYPE
            link.linkname = "../../outside.txt"
            archive.addfile(link)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def _write_repeated(sink: BinaryIO, block: bytes, total: int) -> None:
    while total > 0:
        piece = block[: min(len(block), total)]
        sink.write(piece)
        total -= len(piece)


class _RepeatReader(io.RawIOBase):
    """A file-like source of `total` bytes made of one repeated block, never held whole."""

    def __init__(self, block: bytes, total: int) -> None:
        self._block = block
        self._left = total
        self._offset = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = self._left
        size = min(size, self._left)
        out = bytearray()
        while len(out) < size:
            take = min(size - len(out), len(self._block) - self._offset)
            out += self._block[self._offset : self._offset + take]
            self._offset = (self._offset + take) % len(self._block)
        self._left -= size
        return bytes(out)
