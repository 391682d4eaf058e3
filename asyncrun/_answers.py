"""Reading API answers: JSON bodies and wire models, with one message shape for a bad answer."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from asyncrun.errors import APIError

__all__ = ["loads", "model", "parse"]

M = TypeVar("M", bound=BaseModel)


def loads(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        raise APIError(f"{what}: the API answered with invalid JSON") from None


def _unexpected(what: str, exc: ValidationError) -> APIError:
    return APIError(f"{what}: unexpected answer ({exc.error_count()} invalid fields)")


def model(kind: type[M], data: Any, what: str) -> M:
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        raise _unexpected(what, exc) from None


def parse(kind: type[M], body: bytes, what: str) -> M:
    """A JSON answer straight into its model (one pass in pydantic-core: half the CPU of
    json.loads then model_validate, which counts on the polling path)."""
    try:
        return kind.model_validate_json(body)
    except ValidationError as exc:
        if any(error["type"] == "json_invalid" for error in exc.errors()):
            raise APIError(f"{what}: the API answered with invalid JSON") from None
        raise _unexpected(what, exc) from None
