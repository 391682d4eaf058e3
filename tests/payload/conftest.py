"""Fixtures for the payload tests: an S3 implementation (moto in server mode) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import boto3
import pytest
from aiohttp import web
from botocore.config import Config  # type: ignore[import-untyped]
from moto.server import ThreadedMotoServer

from ._support import BUCKET, Recorded, RecordingServer, S3Server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        client = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(signature_version="s3v4"),
        )
        client.create_bucket(Bucket=BUCKET)
        yield S3Server(endpoint, client)
    finally:
        server.stop()


@pytest.fixture
async def recording_server() -> AsyncIterator[RecordingServer]:
    requests: list[Recorded] = []

    async def record(request: web.Request) -> web.Response:
        body = await request.read()
        requests.append(Recorded(request.method, dict(request.headers), body))
        return web.Response(status=200)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        yield RecordingServer(f"http://127.0.0.1:{port}", requests)
    finally:
        await runner.cleanup()
