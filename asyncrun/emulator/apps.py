"""Custom apps: applications, their pushed binary, versions and instances, and run targets.

Every change is validated in full before anything is stored, so a refused request leaves the
registry exactly as it was. Answers use the shapes the official SDK (nextmv 1.13) parses:
`Application`, `Version` (with its `executable`) and `Instance` (with its `configuration`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncrun.emulator.ids import DEVINT, DEVINT_ALIASES, check_app_id, check_entity_id
from asyncrun.emulator.submit import text_field
from asyncrun.emulator.views import USER_EMAIL, iso
from asyncrun.emulator.wire import ApiError


@dataclass(frozen=True)
class Binary:
    """One pushed executable, unpacked once under `root`."""

    id: str
    uploaded_wall: float
    executable_type: str
    runtime: str
    entrypoint: str
    working_directory: str
    root: Path
    content_format: str
    input_path: str
    requirements: dict[str, Any]

    @property
    def multi_file(self) -> bool:
        return self.content_format in ("multi-file", "csv-archive")

    def executable(self) -> dict[str, Any]:
        """The SDK's `VersionExecutable`."""
        return {
            "id": self.id,
            "user_email": USER_EMAIL,
            "uploaded_at": iso(self.uploaded_wall),
            "requirements": {"executable_type": self.executable_type, "runtime": self.runtime},
        }


@dataclass
class Version:
    id: str
    app_id: str
    name: str
    description: str
    binary: Binary
    created: float
    updated: float

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "application_id": self.app_id,
            "name": self.name,
            "description": self.description,
            "executable": self.binary.executable(),
            "created_at": iso(self.created),
            "updated_at": iso(self.updated),
        }


@dataclass
class Instance:
    id: str
    app_id: str
    version_id: str
    name: str
    description: str
    configuration: dict[str, Any]
    created: float
    updated: float
    locked: bool = False

    def wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "application_id": self.app_id,
            "version_id": self.version_id,
            "name": self.name,
            "description": self.description,
            "configuration": dict(self.configuration),
            "locked": self.locked,
            "created_at": iso(self.created),
            "updated_at": iso(self.updated),
        }

    def default_options(self) -> dict[str, str]:
        options = self.configuration.get("options") or {}
        return {str(k): _optiontext_field(v) for k, v in options.items()}


@dataclass
class App:
    id: str
    name: str
    description: str
    created: float
    updated: float
    default_instance: str | None = None
    # Created by a run for an app id never created (auto_create_apps): such an app keeps the
    # emulator's old leniency, any instance id is accepted and runs the built-in model.
    auto: bool = False
    binary: Binary | None = None
    upload_key: str | None = None
    versions: dict[str, Version] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)

    def wire(self) -> dict[str, Any]:
        answer: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "type": "custom",
            "locked": False,
            "created_at": iso(self.created),
            "updated_at": iso(self.updated),
        }
        if self.default_instance:
            answer["default_instance"] = self.default_instance
        return answer


@dataclass(frozen=True)
class Target:
    """Where a run goes: the instance and version reported, the binary run (None: built-in)."""

    instance_id: str
    version_id: str
    binary: Binary | None
    defaults: dict[str, str]


class AppRegistry:
    def __init__(self, *, auto_create: bool, clock: Callable[[], float] = time.time) -> None:
        self.auto_create = auto_create
        self._clock = clock
        self._apps: dict[str, App] = {}

    def snapshot(self) -> dict[str, Any]:
        """Everything held, binaries included (GET /_emulator/apps: tests compare before and
        after a refused request)."""
        return {
            app.id: {
                "app": app.wire(),
                "auto": app.auto,
                "binary": app.binary.id if app.binary is not None else None,
                "versions": [v.wire() for v in app.versions.values()],
                "instances": [i.wire() for i in app.instances.values()],
            }
            for app in self.list_apps()
        }

    # -- applications -----------------------------------------------------------------------

    def list_apps(self) -> list[App]:
        return sorted(self._apps.values(), key=lambda a: a.id)

    def app(self, app_id: str) -> App:
        app = self._apps.get(app_id)
        if app is None:
            raise ApiError(404, f"application {app_id!r} not found")
        return app

    def create_app(self, body: dict[str, Any]) -> App:
        app_id = check_app_id(body.get("id"))
        name = text_field(body, "name") or app_id
        description = text_field(body, "description")
        default = text_field(body, "default_instance") or None
        if app_id in self._apps:
            raise ApiError(409, f"application {app_id!r} already exists")
        now = self._clock()
        # A default instance named at creation cannot exist yet; a run resolves it later.
        app = App(app_id, name, description, now, now, default_instance=default)
        self._apps[app_id] = app
        return app

    def update_app(self, app_id: str, body: dict[str, Any]) -> App:
        app = self.app(app_id)
        name = text_field(body, "name") if "name" in body else app.name
        description = text_field(body, "description") if "description" in body else app.description
        default = app.default_instance
        for key in ("default_instance", "default_instance_id"):
            if key in body:
                default = text_field(body, key) or None
        if default is not None and default != app.default_instance:
            self._instance(app, default)
        app.name, app.description, app.default_instance = name or app.name, description, default
        app.updated = self._clock()
        return app

    def delete_app(self, app_id: str) -> None:
        self.app(app_id)
        del self._apps[app_id]

    def app_for_runs(self, app_id: str, *, create: bool) -> App | None:
        """The app a run request names: 404 when unknown unless apps are auto-created
        (then it is created by a new run, and other run requests go on without one)."""
        app = self._apps.get(app_id)
        if app is not None:
            return app
        if not self.auto_create:
            raise ApiError(404, f"application {app_id!r} not found")
        if not create:
            return None
        now = self._clock()
        app = App(app_id, app_id, "", now, now, auto=True)
        self._apps[app_id] = app
        return app

    # -- the binary -------------------------------------------------------------------------

    def set_binary(self, app: App, binary: Binary) -> None:
        app.binary = binary
        app.upload_key = None
        app.updated = self._clock()

    # -- versions ---------------------------------------------------------------------------

    def version(self, app_id: str, version_id: str) -> Version:
        return self._version(self.app(app_id), version_id)

    def _version(self, app: App, version_id: str) -> Version:
        version = app.versions.get(version_id)
        if version is None:
            raise ApiError(404, f"version {version_id!r} not found in application {app.id!r}")
        return version

    def list_versions(self, app_id: str) -> list[Version]:
        return sorted(self.app(app_id).versions.values(), key=lambda v: v.created)

    def new_version(self, app_id: str, body: dict[str, Any]) -> Version:
        app = self.app(app_id)
        version_id = check_entity_id("version", body.get("id"))
        name = text_field(body, "name") or version_id
        description = text_field(body, "description")
        if version_id in app.versions:
            raise ApiError(409, f"version {version_id!r} already exists in application {app.id!r}")
        if app.binary is None:
            raise ApiError(
                400, f"application {app.id!r} has no executable yet: push one before a version"
            )
        now = self._clock()
        version = Version(version_id, app.id, name, description, app.binary, now, now)
        app.versions[version_id] = version
        return version

    def update_version(self, app_id: str, version_id: str, body: dict[str, Any]) -> Version:
        version = self.version(app_id, version_id)
        name = text_field(body, "name") if "name" in body else version.name
        description = text_field(body, "description") if "description" in body else None
        version.name = name or version.name
        if description is not None:
            version.description = description
        version.updated = self._clock()
        return version

    def delete_version(self, app_id: str, version_id: str) -> None:
        app = self.app(app_id)
        self._version(app, version_id)
        users = sorted(i.id for i in app.instances.values() if i.version_id == version_id)
        if users:
            raise ApiError(409, f"version {version_id!r} is used by instance(s) {', '.join(users)}")
        del app.versions[version_id]

    # -- instances --------------------------------------------------------------------------

    def instance(self, app_id: str, instance_id: str) -> Instance:
        return self._instance(self.app(app_id), instance_id)

    def _instance(self, app: App, instance_id: str) -> Instance:
        instance = app.instances.get(instance_id)
        if instance is None:
            raise ApiError(404, f"instance {instance_id!r} not found in application {app.id!r}")
        return instance

    def list_instances(self, app_id: str) -> list[Instance]:
        return sorted(self.app(app_id).instances.values(), key=lambda i: i.created)

    def new_instance(self, app_id: str, body: dict[str, Any]) -> Instance:
        app = self.app(app_id)
        instance_id = check_entity_id("instance", body.get("id"))
        if instance_id in DEVINT_ALIASES:
            raise ApiError(400, f"instance id {instance_id!r} is reserved for the last push")
        name = text_field(body, "name") or instance_id
        description = text_field(body, "description")
        configuration = _configuration(body.get("configuration"))
        version_id = text_field(body, "version_id")
        if not version_id:
            raise ApiError(400, "version_id is required")
        if instance_id in app.instances:
            raise ApiError(
                409, f"instance {instance_id!r} already exists in application {app.id!r}"
            )
        self._version(app, version_id)
        now = self._clock()
        instance = Instance(
            instance_id, app.id, version_id, name, description, configuration, now, now
        )
        app.instances[instance_id] = instance
        return instance

    def update_instance(self, app_id: str, instance_id: str, body: dict[str, Any]) -> Instance:
        app = self.app(app_id)
        instance = self._instance(app, instance_id)
        name = text_field(body, "name") if "name" in body else instance.name
        description = (
            text_field(body, "description") if "description" in body else instance.description
        )
        version_id = text_field(body, "version_id") if "version_id" in body else instance.version_id
        configuration = (
            _configuration(body["configuration"])
            if "configuration" in body
            else instance.configuration
        )
        self._version(app, version_id or instance.version_id)
        instance.name = name or instance.name
        instance.description = description
        instance.version_id = version_id or instance.version_id
        instance.configuration = configuration
        instance.updated = self._clock()
        return instance

    def lock_instance(self, app_id: str, instance_id: str, body: dict[str, Any]) -> Instance:
        instance = self.instance(app_id, instance_id)
        locked = body.get("locked")
        if not isinstance(locked, bool):
            raise ApiError(400, "locked must be true or false")
        instance.locked = locked
        instance.updated = self._clock()
        return instance

    def delete_instance(self, app_id: str, instance_id: str) -> None:
        app = self.app(app_id)
        self._instance(app, instance_id)
        if app.default_instance == instance_id:
            raise ApiError(
                409,
                f"instance {instance_id!r} is the default instance of application {app.id!r}: "
                "set another default first",
            )
        del app.instances[instance_id]

    # -- runs -------------------------------------------------------------------------------

    def resolve_version(self, app: App, version_id: str) -> Target:
        """A run of a version itself (experiments): no instance, no instance options."""
        version = self._version(app, version_id)
        return Target("", version.id, version.binary, {})

    def resolve(self, app: App | None, instance_id: str | None) -> Target:
        """The seed's rule: the instance given, else the app's default, else devint (the last
        push; `latest` is its alias). No binary on the way: the built-in model runs."""
        if app is None:
            return Target(instance_id or DEVINT, "", None, {})
        wanted = instance_id or app.default_instance or DEVINT
        if wanted in DEVINT_ALIASES:
            return Target(DEVINT, "", app.binary, {})
        instance = app.instances.get(wanted)
        if instance is None:
            if app.auto:
                return Target(wanted, "", None, {})
            which = "instance" if instance_id else "default instance"
            raise ApiError(404, f"{which} {wanted!r} not found in application {app.id!r}")
        version = self._version(app, instance.version_id)
        return Target(instance.id, version.id, version.binary, instance.default_options())


def _configuration(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ApiError(400, "configuration must be an object")
    options = raw.get("options")
    if options is not None and not isinstance(options, dict):
        raise ApiError(400, "configuration.options must be an object")
    return dict(raw)


def _optiontext_field(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
