"""The app, version and instance calls of AsyncApplication, with the SDK's names (nextmv 1.13
`cloud/application/__init__.py`, `_version.py`, `_instance.py`), awaited; and push/promote.

Paths and bodies are the SDK's. Ids in paths are validated (non-empty, printable) and
URL-escaped; a create is never retried blindly (the answer may have been lost after the server
created it): promote looks before it creates, so running it again finishes the job.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import string
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import quote

from pydantic import BaseModel

from asyncrun._answers import model, pages, parse
from asyncrun.apps.manifest import Manifest
from asyncrun.apps.models import Application, Instance, InstanceConfiguration, Version
from asyncrun.apps.push import push_app
from asyncrun.errors import (
    AmbiguousSubmitError,
    BadRequestError,
    ConfigError,
    NotFoundError,
)
from asyncrun.transport import Transport

__all__ = ["ApplicationManagement", "list_application_pages", "new_entity_id"]

M = TypeVar("M", bound=BaseModel)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SLUG = string.ascii_lowercase + string.digits


def new_entity_id(prefix: str) -> str:
    """An id like the SDK's `safe_id`: the prefix and 8 random lowercase letters or digits."""
    return f"{prefix}-{''.join(secrets.choice(_SLUG) for _ in range(8))}"


def _entity(kind: str, value: str) -> str:
    if not isinstance(value, str) or not value or _CONTROL.search(value):
        raise ConfigError(f"invalid {kind} id {value!r}: it must be a non-empty printable string")
    return quote(value, safe="")


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def list_application_pages(
    transport: Transport, path: str, kind: type[M], what: str
) -> list[M]:
    """Every item of a paged list (`pagereturn=true`, following next_page_token)."""

    async def fetch(params: dict[str, str]) -> bytes:
        answer = await transport.request(
            "GET", path, bucket="general", idempotent=True, params=params
        )
        return answer.body

    return [
        model(kind, item, what) async for items in pages(fetch, "items", what) for item in items
    ]


class ApplicationManagement:
    """Mixed into AsyncApplication: it provides `id`, `_base` and `_transport`."""

    id: str
    _base: str
    _transport: Transport

    async def _send(
        self, method: str, path: str, body: Any = None, *, idempotent: bool = True
    ) -> bytes:
        data = None if body is None else _dumps(body)
        answer = await self._transport.request(
            method, path, bucket="general", idempotent=idempotent, body=data
        )
        return answer.body

    # ---------------------------------------------------------------- the application

    async def get(self) -> Application:
        """GET v1/applications/{id}."""
        return parse(Application, await self._send("GET", self._base), "get")

    async def exists(self) -> bool:
        """True if the application exists (a 404 is False; other errors are raised)."""
        try:
            await self.get()
        except NotFoundError:
            return False
        return True

    async def update(
        self,
        name: str | None = None,
        description: str | None = None,
        default_instance_id: str | None = None,
    ) -> Application:
        """As the SDK: read the application, change the given fields, PUT it back."""
        payload = (await self.get()).to_dict()
        changes = {
            "name": name,
            "description": description,
            "default_instance": default_instance_id,
        }
        payload.update({k: v for k, v in changes.items() if v is not None})
        return parse(Application, await self._send("PUT", self._base, payload), "update")

    async def delete(self) -> None:
        """DELETE the application (its versions and instances go with it)."""
        await self._send("DELETE", self._base)

    # ---------------------------------------------------------------- versions

    def _version_path(self, version_id: str) -> str:
        return f"{self._base}/versions/{_entity('version', version_id)}"

    async def new_version(
        self,
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        *,
        exist_ok: bool = False,
    ) -> Version:
        """A version pinning the application's current binary (the last push)."""
        if exist_ok and not id:
            raise ConfigError("exist_ok=True needs the version id")
        if exist_ok and id and await self.version_exists(id):
            return await self.version(id)
        version_id = id or new_entity_id("version")
        _entity("version", version_id)
        payload: dict[str, Any] = {"id": version_id, "name": name or version_id}
        if description is not None:
            payload["description"] = description
        body = await self._send("POST", f"{self._base}/versions", payload, idempotent=False)
        return parse(Version, body, "new_version")

    async def version(self, version_id: str) -> Version:
        return parse(Version, await self._send("GET", self._version_path(version_id)), "version")

    async def version_exists(self, version_id: str) -> bool:
        try:
            await self.version(version_id)
        except NotFoundError:
            return False
        return True

    async def list_versions(self) -> list[Version]:
        return await list_application_pages(
            self._transport, f"{self._base}/versions", Version, "list_versions"
        )

    async def update_version(
        self, version_id: str, name: str | None = None, description: str | None = None
    ) -> Version:
        payload = (await self.version(version_id)).to_dict()
        payload.update({k: v for k, v in (("name", name), ("description", description)) if v})
        body = await self._send("PUT", self._version_path(version_id), payload)
        return parse(Version, body, "update_version")

    async def delete_version(self, version_id: str) -> None:
        await self._send("DELETE", self._version_path(version_id))

    # ---------------------------------------------------------------- instances

    def _instance_path(self, instance_id: str) -> str:
        return f"{self._base}/instances/{_entity('instance', instance_id)}"

    async def new_instance(
        self,
        version_id: str,
        id: str | None = None,
        name: str | None = None,
        description: str | None = None,
        configuration: InstanceConfiguration | Mapping[str, Any] | None = None,
        *,
        exist_ok: bool = False,
    ) -> Instance:
        """An instance running `version_id`; its configuration's options are run defaults."""
        if exist_ok and not id:
            raise ConfigError("exist_ok=True needs the instance id")
        if exist_ok and id and await self.instance_exists(id):
            return await self.instance(id)
        instance_id = id or new_entity_id("instance")
        _entity("instance", instance_id)
        _entity("version", version_id)
        payload: dict[str, Any] = {
            "id": instance_id,
            "name": name or instance_id,
            "version_id": version_id,
        }
        if description is not None:
            payload["description"] = description
        if configuration is not None:
            payload["configuration"] = _configuration(configuration)
        body = await self._send("POST", f"{self._base}/instances", payload, idempotent=False)
        return parse(Instance, body, "new_instance")

    async def instance(self, instance_id: str) -> Instance:
        body = await self._send("GET", self._instance_path(instance_id))
        return parse(Instance, body, "instance")

    async def instance_exists(self, instance_id: str) -> bool:
        try:
            await self.instance(instance_id)
        except NotFoundError:
            return False
        return True

    async def list_instances(self) -> list[Instance]:
        return await list_application_pages(
            self._transport, f"{self._base}/instances", Instance, "list_instances"
        )

    async def update_instance(
        self,
        id: str,
        name: str | None = None,
        version_id: str | None = None,
        description: str | None = None,
        configuration: InstanceConfiguration | Mapping[str, Any] | None = None,
    ) -> Instance:
        """As the SDK: read the instance, change the given fields, PUT it back."""
        payload = (await self.instance(id)).to_dict()
        changes = {"name": name, "version_id": version_id, "description": description}
        payload.update({k: v for k, v in changes.items() if v is not None})
        if configuration is not None:
            payload["configuration"] = _configuration(configuration)
        body = await self._send("PUT", self._instance_path(id), payload)
        return parse(Instance, body, "update_instance")

    async def delete_instance(self, instance_id: str) -> None:
        await self._send("DELETE", self._instance_path(instance_id))

    # ---------------------------------------------------------------- push and promote

    async def push(
        self,
        app_dir: str | os.PathLike[str] = ".",
        manifest: Manifest | Mapping[str, Any] | None = None,
    ) -> None:
        """Package `app_dir` as its app.yaml (or `manifest`) says and make it the app's binary:
        what the reserved instance devint (alias `latest`) runs from now on."""
        await push_app(self._transport, self._base, app_dir, manifest)

    async def promote(
        self, version_id: str, name: str | None = None, instance_id: str | None = None
    ) -> Instance:
        """A new version `version_id` from the app's current binary, assigned to the default
        instance, or to `instance_id` (created if missing), which then becomes the default.

        Each step looks before it creates, so running promote again after a crash or a lost
        answer finishes the job instead of failing on "already exists".
        """
        _entity("version", version_id)
        if instance_id is not None:
            _entity("instance", instance_id)
        app = await self.get()
        target = instance_id or app.default_instance_id
        if not target:
            raise ConfigError(
                f"application {self.id!r} has no default instance: name the instance to "
                "promote to with instance_id (--instance-id); it is created if it does not exist"
            )
        await self._promoted_version(version_id, name)
        if await self.instance_exists(target):
            instance = await self.update_instance(target, version_id=version_id)
        else:
            instance = await self._create_or_find_instance(target, version_id)
        if app.default_instance_id != target:
            await self.update(default_instance_id=target)
        return instance

    async def _promoted_version(self, version_id: str, name: str | None) -> Version:
        if await self.version_exists(version_id):
            return await self.version(version_id)
        try:
            return await self.new_version(version_id, name=name)
        except AmbiguousSubmitError:
            return await self.version(version_id)  # created or not: the lookup tells
        except BadRequestError as exc:
            if "push" in (exc.body or "") or "executable" in (exc.body or ""):
                raise ConfigError(
                    f"nothing has been pushed to application {self.id!r} yet: push the app "
                    "before promoting it"
                ) from exc
            raise

    async def _create_or_find_instance(self, instance_id: str, version_id: str) -> Instance:
        try:
            return await self.new_instance(version_id, id=instance_id)
        except AmbiguousSubmitError:
            return await self.instance(instance_id)


def _configuration(value: InstanceConfiguration | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(value, InstanceConfiguration):
        return value.to_dict()
    return InstanceConfiguration.model_validate(dict(value)).to_dict()
