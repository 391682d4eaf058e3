"""Managed inputs: an input stored once in the app and referenced by runs (`input_id`).

The record points at a stored object (an upload, or a run's input); it is not copied, so a
hundred runs of one managed input store its bytes once. Routes: input_routes.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from asyncrun.emulator.storage import Storage
from asyncrun.emulator.submit import ManagedLookup, StoredInput, read_object
from asyncrun.emulator.views import iso
from asyncrun.emulator.wire import ApiError


@dataclass
class ManagedInput:
    id: str
    app_id: str
    seq: int
    name: str
    description: str
    upload_id: str | None
    run_id: str | None
    format: dict[str, Any]
    key: str
    created: float
    updated: float
    # input type -> (digest, files, failure): read on the first run that uses it, then shared.
    digests: dict[str, tuple[str, list[dict[str, Any]] | None, str | None]] = field(
        default_factory=dict
    )

    @property
    def input_type(self) -> str:
        part = self.format.get("input")
        return str(part.get("type", "json")) if isinstance(part, dict) else "json"

    def wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "description": self.description}
        if self.upload_id is not None:
            out["upload_id"] = self.upload_id
        if self.run_id is not None:
            out["run_id"] = self.run_id
        out["format"] = self.format
        out["created_at"] = iso(self.created)
        out["updated_at"] = iso(self.updated)
        return out


class InputStore:
    """Managed inputs per application, in creation order."""

    def __init__(self) -> None:
        self._inputs: dict[tuple[str, str], ManagedInput] = {}
        self._seq = 0

    def add(self, item: ManagedInput) -> None:
        self._inputs[(item.app_id, item.id)] = item

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def get(self, app_id: str, input_id: str) -> ManagedInput | None:
        return self._inputs.get((app_id, input_id))

    def remove(self, item: ManagedInput) -> None:
        self._inputs.pop((item.app_id, item.id), None)

    def newest_first(self, app_id: str) -> list[ManagedInput]:
        items = [i for (app, _), i in self._inputs.items() if app == app_id]
        return sorted(items, key=lambda i: i.seq, reverse=True)

    def __len__(self) -> int:
        return len(self._inputs)


def lookup(inputs: InputStore, storage: Storage, app_id: str) -> ManagedLookup:
    """How POST runs reads `input_id` in this app (see submit.parse_new_run)."""

    async def read(input_id: Any, input_type: str | None) -> tuple[str, StoredInput]:
        if not isinstance(input_id, str):
            raise ApiError(400, "input_id must be a string")
        item = inputs.get(app_id, input_id)
        if item is None:
            raise ApiError(400, f"managed input {input_id!r} not found")
        kind = input_type or item.input_type
        cached = item.digests.get(kind)
        if cached is None:
            # Read once per type: a sweep of many runs over one large input hashes it once.
            cached = await read_object(storage.path(item.key), kind)
            item.digests[kind] = cached
        digest, files, failure = cached
        return kind, StoredInput(item.key, storage.size(item.key), digest, files, failure)

    return read
