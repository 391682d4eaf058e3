"""Custom apps: applications, versions, instances, push and promote (the SDK's calls, awaited).

AsyncApplication mixes in `ApplicationManagement`; `AsyncClient.new_application` and
`list_applications` create and list applications. Nothing here imports the run API above it.
"""

from asyncrun.apps.manifest import Manifest
from asyncrun.apps.models import (
    Application,
    Instance,
    InstanceConfiguration,
    Version,
    VersionExecutable,
    VersionExecutableRequirements,
)

__all__ = [
    "Application",
    "Instance",
    "InstanceConfiguration",
    "Manifest",
    "Version",
    "VersionExecutable",
    "VersionExecutableRequirements",
]
