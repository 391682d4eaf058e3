"""Helper types for the payload tests' servers (imported by conftest and the tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BUCKET = "asyncrun-uploads"


@dataclass(frozen=True)
class S3Server:
    """A running moto S3 server and a boto3 client for it (dummy credentials)."""

    endpoint: str
    client: Any

    def presigned_put(self, key: str, expires_in: int = 300) -> str:
        url: str = self.client.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def object_bytes(self, key: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        return body


@dataclass
class Recorded:
    """One request as the raw server saw it."""

    method: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingServer:
    """A bare aiohttp.web server on 127.0.0.1 that records every request and answers 200."""

    url: str
    requests: list[Recorded]
