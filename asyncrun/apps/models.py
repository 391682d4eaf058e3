"""Wire models of custom apps, named as in the official SDK (nextmv 1.13: `cloud/application`,
`cloud/version.py`, `cloud/instance.py`), lenient like asyncrun's run models."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AliasChoices, Field

from asyncrun.models import Format, RunQueuing, WireModel

__all__ = [
    "Application",
    "Instance",
    "InstanceConfiguration",
    "Version",
    "VersionExecutable",
    "VersionExecutableRequirements",
]


class Application(WireModel):
    """An application. `default_instance_id` is `default_instance` on the wire."""

    id: str
    name: str | None = None
    description: str | None = None
    type: str | None = None
    default_instance_id: str | None = Field(
        default=None,
        serialization_alias="default_instance",
        validation_alias=AliasChoices("default_instance", "default_instance_id"),
    )
    default_experiment_instance: str | None = None
    subscription_id: str | None = None
    locked: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None


class VersionExecutableRequirements(WireModel):
    executable_type: str
    runtime: str


class VersionExecutable(WireModel):
    """The binary a version pins."""

    id: str
    user_email: str | None = None
    uploaded_at: datetime | None = None
    requirements: VersionExecutableRequirements | None = None


class Version(WireModel):
    id: str
    application_id: str | None = None
    name: str | None = None
    description: str | None = None
    executable: VersionExecutable | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class InstanceConfiguration(WireModel):
    """How an instance runs: its `options` are defaults under each run's own options."""

    execution_class: str | None = None
    format: Format | None = None
    options: dict[str, Any] | None = None
    secrets_collection_id: str | None = None
    queuing: RunQueuing | None = None
    integration_id: str | None = None


class Instance(WireModel):
    id: str
    application_id: str | None = None
    version_id: str
    name: str | None = None
    description: str | None = None
    configuration: InstanceConfiguration = Field(default_factory=InstanceConfiguration)
    locked: bool = False
    created_at: datetime | None = None
    updated_at: datetime | None = None
