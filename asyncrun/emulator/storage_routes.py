"""The presigned storage URLs: PUT uploads and GET downloads, refused the way S3 refuses them."""

from __future__ import annotations

from aiohttp import web

from asyncrun.emulator.state import STATE
from asyncrun.emulator.storage import CHUNK, StorageError

_ROUTE = "/_storage/{key:.+}"
# Keys of pushed app archives (app_routes.py hands out their upload URLs).
BINARY_UPLOADS = "binaries/"


def add_storage_routes(app: web.Application) -> None:
    app.router.add_put(_ROUTE, put_object)
    app.router.add_get(_ROUTE, get_object)


def s3_error(exc: StorageError) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{exc.code}</Code><Message>{exc.message}</Message></Error>"
    )
    return web.Response(status=exc.status, text=body, content_type="application/xml")


async def put_object(request: web.Request) -> web.StreamResponse:
    storage = request.app[STATE].storage
    key = request.match_info["key"]
    try:
        if "chunked" in request.headers.get("Transfer-Encoding", "").lower():
            raise StorageError(501, "NotImplemented", "Transfer-Encoding: chunked is not supported")
        length = request.content_length
        if length is None:
            raise StorageError(411, "MissingContentLength", "You must provide the Content-Length")
        storage.verify("PUT", key, request.query.get("expires"), request.query.get("signature"))
        if "Content-Type" in request.headers and not _signed_content_type(key, request):
            raise StorageError(
                403, "SignatureDoesNotMatch", "Content-Type was not part of the signed request"
            )
        if length > storage.upload_cap:
            raise StorageError(400, "EntityTooLarge", "Your proposed upload exceeds the maximum")
        await storage.receive(key, request.content.iter_chunked(CHUNK), length)
    except StorageError as exc:
        return s3_error(exc)
    return web.Response(status=200, headers={"ETag": '"emulator"'})


def _signed_content_type(key: str, request: web.Request) -> bool:
    """A pushed app's archive URL is signed with the Content-Type the SDK sends with it."""
    return key.startswith(BINARY_UPLOADS) and request.content_type == "application/octet-stream"


async def get_object(request: web.Request) -> web.StreamResponse:
    storage = request.app[STATE].storage
    key = request.match_info["key"]
    try:
        storage.verify("GET", key, request.query.get("expires"), request.query.get("signature"))
        if not storage.exists(key):
            raise StorageError(404, "NoSuchKey", "The specified key does not exist")
    except StorageError as exc:
        return s3_error(exc)
    return web.FileResponse(storage.path(key), chunk_size=CHUNK)
