"""What the AsyncApplication mixins (run_data.py, managed_inputs.py) use of the application.

A Protocol, so the mixins type-check on their own and the application's plumbing stays in
application.py.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from os import PathLike
from typing import Any, Protocol

from asyncrun._types import Clock, Sleep
from asyncrun.config import Bucket, Limits
from asyncrun.models import ContentFormat, ManagedInput, RunInformation

PathArg = str | PathLike[str] | None


class AppCore(Protocol):
    _base: str
    _clock: Clock
    _sleep: Sleep
    _rng: random.Random

    @property
    def limits(self) -> Limits: ...

    def _run_path(self, run_id: str, suffix: str = "") -> str: ...

    async def _call(
        self,
        method: str,
        path: str,
        *,
        bucket: Bucket = "general",
        params: Mapping[str, str] | None = None,
        body: bytes | None = None,
        idempotent: bool = True,
        express: bool = False,
    ) -> bytes: ...

    async def run_metadata(self, run_id: str) -> RunInformation: ...

    async def managed_input(self, managed_input_id: str) -> ManagedInput: ...

    async def _upload_input(
        self, input: Any, dir_path: PathArg, compresslevel: int
    ) -> tuple[str, ContentFormat]: ...

    async def _download_json(self, output: Any) -> Any: ...

    async def _download_files(self, output: Any, output_dir: PathArg) -> Any: ...

    async def _download_bytes(self, output: Any) -> bytes: ...
