"""The ID rules of applications, versions and instances, checked before any state changes."""

from __future__ import annotations

import re

from asyncrun.emulator.wire import ApiError

# The seed's rule for app IDs: 3-30 chars of lowercase letters, digits, '.', '-', not starting
# or ending with '.' or '-'.
APP_ID_RULE = "3-30 lowercase letters, digits, '.' or '-', not starting or ending with '.' or '-'"
APP_ID_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,28}[a-z0-9]$")

# Versions and instances: the same characters, 1 to 40 of them (the SDK's entity id limit,
# nextmv.safe.ENTITY_ID_CHAR_COUNT_MAX, which its generated ids stay under), so `v1` is fine.
ENTITY_ID_RULE = (
    "1-40 lowercase letters, digits, '.' or '-', not starting or ending with '.' or '-'"
)
ENTITY_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,38}[a-z0-9])?$")

# The reserved instance that always holds the last push; `latest` is its alias.
DEVINT = "devint"
DEVINT_ALIASES = frozenset({DEVINT, "latest"})


def check_app_id(app_id: object) -> str:
    if not isinstance(app_id, str) or not APP_ID_RE.match(app_id):
        raise ApiError(400, f"invalid application id {app_id!r}: {APP_ID_RULE}")
    return app_id


def check_entity_id(kind: str, value: object) -> str:
    if not isinstance(value, str) or not ENTITY_ID_RE.match(value):
        raise ApiError(400, f"invalid {kind} id {value!r}: {ENTITY_ID_RULE}")
    return value
