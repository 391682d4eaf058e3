"""Pushed binaries: the activation request, unpacking the archive once, and how to start it.

The archive is checked member by member before anything is written: a member that would land
outside the binary's directory, an absolute path, a link pointing out, a device or fifo, or
more than EXTRACT_CAP bytes in all refuses the push (400) and leaves nothing behind.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asyncrun.emulator.wire import ApiError

EXTRACT_CAP = 4 * 2**30

# The entrypoint the platform starts when the manifest names none (nextmv.manifest).
_DEFAULT_ENTRYPOINTS = {"python": "main.py", "go": "main", "binary": "main", "java": "main.jar"}
_MULTI_FILE_FORMATS = frozenset({"multi-file", "csv-archive"})


@dataclass(frozen=True)
class Activation:
    """What `PUT .../binary` asked for, validated."""

    executable_type: str
    runtime: str
    entrypoint: str
    working_directory: str
    content_format: str
    input_path: str
    requirements: dict[str, Any]

    @property
    def multi_file(self) -> bool:
        return self.content_format in _MULTI_FILE_FORMATS


def parse_activation(body: Any) -> Activation:
    if not isinstance(body, dict) or not isinstance(body.get("requirements"), dict):
        raise ApiError(400, "the activation request needs a requirements object")
    req: dict[str, Any] = body["requirements"]
    kind, runtime = req.get("executable_type"), req.get("runtime")
    if kind not in _DEFAULT_ENTRYPOINTS:
        raise ApiError(
            400, f"requirements.executable_type must be one of {sorted(_DEFAULT_ENTRYPOINTS)}"
        )
    if not isinstance(runtime, str) or not runtime:
        raise ApiError(400, "requirements.runtime must be a non-empty string")
    entrypoint = _relative(req.get("entrypoint") or _DEFAULT_ENTRYPOINTS[kind], "entrypoint")
    workdir = _relative(req.get("working_directory") or ".", "working_directory")
    io = req.get("io_configuration") or {}
    if not isinstance(io, dict):
        raise ApiError(400, "requirements.io_configuration must be an object")
    content_format = io.get("format") or "json"
    multi = io.get("multi_file") or {}
    input_path = multi.get("input_path") if isinstance(multi, dict) else None
    return Activation(
        executable_type=kind,
        runtime=runtime,
        entrypoint=entrypoint,
        working_directory=workdir,
        content_format=str(content_format),
        input_path=_relative(input_path or "inputs/", "input_path"),
        requirements=req,
    )


def _relative(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise ApiError(400, f"requirements.{what} must be a non-empty string")
    norm = posixpath.normpath(value)
    if norm.startswith(("/", "../")) or norm == "..":
        raise ApiError(400, f"requirements.{what} {value!r} must stay inside the app directory")
    return norm


def unpack(archive: Path, dest: Path, activation: Activation) -> None:
    """Unpack a pushed tar.gz into `dest` (blocking: call from a thread). On any refusal the
    directory is removed and ApiError(400) says which member and why."""
    try:
        _check_members(archive, dest)
        dest.mkdir(parents=True)
        with tarfile.open(archive, mode="r:gz") as tar:
            tar.extractall(dest, filter="data")
        entry = dest / activation.entrypoint
        if not entry.is_file():
            raise ApiError(
                400, f"the entrypoint {activation.entrypoint!r} is not a file in the archive"
            )
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _check_members(archive: Path, dest: Path) -> None:
    total = 0
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            for member in tar:
                _check_member(member, dest)
                total += max(member.size, 0)
                if total > EXTRACT_CAP:
                    raise ApiError(400, f"the archive unpacks to more than {EXTRACT_CAP} bytes")
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise ApiError(400, f"the pushed archive is not a valid tar.gz ({exc})") from exc


def _check_member(member: tarfile.TarInfo, dest: Path) -> None:
    name = member.name
    if name.startswith("/") or os.path.isabs(name):
        raise ApiError(400, f"archive member {name!r} has an absolute path")
    if ".." in Path(name).parts:
        raise ApiError(400, f"archive member {name!r} would land outside the app directory")
    if member.issym() or member.islnk():
        target = member.linkname
        base = posixpath.dirname(name) if member.issym() else ""
        joined = posixpath.normpath(posixpath.join(base, target))
        if target.startswith("/") or joined == ".." or joined.startswith("../"):
            raise ApiError(400, f"archive member {name!r} links outside the app directory")
    elif not (member.isfile() or member.isdir()):
        raise ApiError(400, f"archive member {name!r} is not a file, directory or link")
    try:
        tarfile.data_filter(member, str(dest))
    except tarfile.FilterError as exc:
        raise ApiError(400, f"archive member {name!r} is refused: {type(exc).__name__}") from exc


def prepare_workdir(root: Path, work: Path, archive: Path | None, input_path: str) -> None:
    """A multi-file run's own directory (blocking): the binary's entries linked in, the input
    archive checked and unpacked into `input_path`, and its own `outputs/`. ValueError says
    what is wrong with the input."""
    if archive is None:
        raise ValueError("a multi-file app takes its input as a multi-file (tar.gz) upload")
    work.mkdir(parents=True, exist_ok=True)
    own = {Path(input_path).parts[0], "outputs"}
    for entry in root.iterdir():
        if entry.name not in own:  # the run writes these: never into the shared binary
            (work / entry.name).symlink_to(entry)
    dest = work / input_path
    try:
        _check_members(archive, dest)
    except ApiError as exc:
        raise ValueError(f"the input archive is refused: {exc.message}") from None
    dest.mkdir(parents=True, exist_ok=True)
    (work / "outputs").mkdir(exist_ok=True)
    with tarfile.open(archive, mode="r:gz") as tar:
        tar.extractall(dest, filter="data")


def pack_outputs(work: Path, out_file: Path) -> None:
    """The run's `outputs/` as a tar.gz (names relative to it), what the run's output is."""
    outputs = work / "outputs"
    out_file.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out_file, mode="w:gz") as tar:
        for path in sorted(outputs.rglob("*")) if outputs.is_dir() else []:
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=str(path.relative_to(outputs)), recursive=False)


def argv(executable_type: str, entry: Path, python: str) -> list[str]:
    """How the platform starts an entrypoint of each executable type."""
    if executable_type == "python":
        return [python, str(entry)]
    if executable_type == "java":
        return ["java", "-jar", str(entry)]
    return [str(entry)]


def option_args(options: dict[str, str]) -> list[str]:
    """Run options as the platform passes them: `-name value` (what nextmv.Options parses).
    The emulator's own `emulator.*` knobs steer the built-in model only and are left out."""
    args: list[str] = []
    for name, value in options.items():
        if not name.startswith("emulator."):
            args += [f"-{name}", value]
    return args
