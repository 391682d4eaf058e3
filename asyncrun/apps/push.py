"""Push: package an app directory as its manifest says and make it the app's binary.

Everything that can be wrong locally (no or bad app.yaml, a listed file missing, a failing
build command) is found before the first request. Then, as the SDK: `GET {app}/binary` for an
upload URL, `PUT` the archive there, `PUT {app}/binary` with the activation request. The
archive is a temp file streamed from disk and removed whatever happens. Python requirements are
bundled by the official SDK's packager (`nextmv.cloud.package`, the `push` extra) in a worker
thread: built for the manifest's platform with uv and its per-package cache, as `nextmv app
push` does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import threading
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from asyncrun import payload
from asyncrun.apps.manifest import MANIFEST_FILE, Manifest, check_manifest, load_manifest
from asyncrun.errors import APIError, ConfigError, InputError
from asyncrun.transport import Transport

__all__ = ["PUSH_EXTRA", "prepare_manifest", "push_app"]

PUSH_EXTRA = "asyncrun[push]"
_OUTPUT_TAIL = 2000


async def prepare_manifest(
    app_dir: str | os.PathLike[str], manifest: Manifest | Mapping[str, Any] | None
) -> Manifest:
    root = Path(app_dir)
    if manifest is None:
        return await asyncio.to_thread(load_manifest, root)
    if not await asyncio.to_thread(root.is_dir):
        raise ConfigError(f"app directory {str(root)!r} does not exist")
    if isinstance(manifest, Manifest):
        return manifest
    dump = getattr(manifest, "model_dump", None)  # the SDK's nextmv.Manifest, say
    raw = dump(mode="json", by_alias=True, exclude_none=True) if callable(dump) else dict(manifest)
    return check_manifest(raw, "the manifest given")


async def push_app(
    transport: Transport,
    base: str,
    app_dir: str | os.PathLike[str],
    manifest: Manifest | Mapping[str, Any] | None,
) -> None:
    """Build (if the manifest says so), package, upload and activate; see the module doc."""
    root = Path(app_dir)
    checked = await prepare_manifest(root, manifest)
    await _run_build_steps(checked, root)
    from asyncrun import upload_bodies  # aiohttp: only for a client that uploads

    async with _archive(checked, root, given=manifest is not None) as archive:
        answer = await transport.request("GET", f"{base}/binary", bucket="general", idempotent=True)
        url = _upload_url(answer.body)
        size = archive.stat().st_size
        await transport.put_presigned(
            url,
            lambda: upload_bodies.file_body(archive, max_size=None),
            size,
            content_type="application/octet-stream",
        )
    body = json.dumps(checked.activation(), separators=(",", ":")).encode()
    await transport.request("PUT", f"{base}/binary", bucket="general", idempotent=True, body=body)


def _upload_url(body: bytes) -> str:
    try:
        url = json.loads(body)["upload_url"]
    except (ValueError, KeyError, TypeError):
        url = None
    if not isinstance(url, str) or not url:
        raise APIError("push: the binary upload answer has no upload_url")
    return url


@contextlib.asynccontextmanager
async def _archive(manifest: Manifest, root: Path, *, given: bool) -> AsyncIterator[Path]:
    """The app's tar.gz: the listed files (and app.yaml), or the SDK packager's archive with
    the python requirements bundled."""
    if manifest.requirements is not None:
        async with _sdk_package(manifest, root) as archive:
            yield archive
        return
    names = await asyncio.to_thread(manifest.files_in, root)
    extra: dict[str, bytes] = {}
    if given or not await asyncio.to_thread(_on_disk, root):
        # As the SDK: the archive carries the manifest the push used.
        extra[MANIFEST_FILE] = yaml.safe_dump(manifest.model_dump(by_alias=True)).encode()
    elif MANIFEST_FILE not in names:
        names = [*names, MANIFEST_FILE]
    async with payload.pack_files(root, names, extra=extra, max_size=None) as archive:
        yield archive


@contextlib.asynccontextmanager
async def _sdk_package(manifest: Manifest, root: Path) -> AsyncIterator[Path]:
    try:
        from nextmv.cloud import package as sdk_package
        from nextmv.manifest import Manifest as SdkManifest
    except ImportError:
        raise ConfigError(
            f"{MANIFEST_FILE} lists python.pip-requirements: bundling them needs the official "
            f"packager, install the extra {PUSH_EXTRA!r} (pip install '{PUSH_EXTRA}')"
        ) from None
    await asyncio.to_thread(manifest.files_in, root)  # the clear error before uv runs

    def build(stop: threading.Event) -> tuple[str, str]:
        sdk_manifest = SdkManifest.from_yaml(str(root)) if _on_disk(root) else None
        if sdk_manifest is None:
            sdk_manifest = SdkManifest.model_validate(manifest.model_dump(by_alias=True))
        tar_file, output_dir = sdk_package.package(str(root), sdk_manifest)
        if stop.is_set():  # the caller left: leave nothing behind
            shutil.rmtree(output_dir, ignore_errors=True)
            raise payload.StopRequested
        return tar_file, output_dir

    try:
        tar_file, output_dir = await payload.run_stoppable(build)
    except (ConfigError, payload.StopRequested):
        raise
    except Exception as exc:
        raise InputError(f"packaging the app with its requirements failed: {exc}") from exc
    try:
        yield Path(tar_file)
    finally:
        shutil.rmtree(output_dir, ignore_errors=True)


def _on_disk(root: Path) -> bool:
    return (root / MANIFEST_FILE).is_file()


async def _run_build_steps(manifest: Manifest, root: Path) -> None:
    """`build.command` then `pre-push`, in the app directory, as the SDK runs them."""
    build = manifest.build
    if build is not None and build.command:
        env = {k: str(v) for k, v in (build.environment or {}).items()}
        await _run_step("build command", shlex.split(build.command), root, env)
    if manifest.pre_push:
        await _run_step("pre-push command", ["sh", "-c", manifest.pre_push], root, {})


async def _run_step(what: str, argv: list[str], root: Path, env: dict[str, str]) -> None:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=root,
            env={**os.environ, **env},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        raise InputError(f"the {what} could not start: {exc}") from exc
    try:
        output, _ = await proc.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        tail = output.decode("utf-8", "replace")[-_OUTPUT_TAIL:].strip()
        raise InputError(f"the {what} failed (exit status {proc.returncode}): {tail}")
