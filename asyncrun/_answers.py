"""Reading API answers: JSON bodies and wire models, with one message shape for a bad answer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from asyncrun.errors import APIError

__all__ = ["MAX_PAGES", "loads", "model", "model_pages", "pages", "parse"]


M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", bound=BaseModel)
T = TypeVar("T")
MAX_PAGES = 10_000


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


async def pages(
    fetch: Callable[[dict[str, str]], Awaitable[bytes]], key: str, what: str
) -> AsyncIterator[list[Any]]:
    """The item lists of a paged listing (`pagereturn=true`, then `pagetoken=<next_page_token>`
    until the token is empty or repeats; at most MAX_PAGES pages)."""

    def read(body: bytes) -> tuple[list[Any], Any]:
        page = loads(body, what)
        items = page.get(key) if isinstance(page, dict) else None
        if not isinstance(items, list):
            raise APIError(f"{what}: the answer has no list of {key}")
        return items, page.get("next_page_token")

    async for items in _paged(fetch, read, what):
        yield items


async def model_pages(
    fetch: Callable[[dict[str, str]], Awaitable[bytes]], kind: type[P], what: str
) -> AsyncIterator[P]:
    """The pages of a paged listing, each parsed in one pass into `kind` (a model with a
    `next_page_token`): a page of 50 runs costs about half the CPU of `pages` and a model per
    item, which counts when a batch's sweep lists 10,000 runs."""

    def read(body: bytes) -> tuple[P, Any]:
        page = parse(kind, body, what)
        return page, getattr(page, "next_page_token", None)

    async for page in _paged(fetch, read, what):
        yield page


async def _paged(
    fetch: Callable[[dict[str, str]], Awaitable[bytes]],
    read: Callable[[bytes], tuple[T, Any]],
    what: str,
) -> AsyncIterator[T]:
    params = {"pagereturn": "true"}
    seen: set[str] = set()
    for _ in range(MAX_PAGES):
        page, token = read(await fetch(params))
        yield page
        if not isinstance(token, str) or not token or token in seen:
            return
        seen.add(token)
        params = {"pagereturn": "true", "pagetoken": token}
    raise APIError(f"{what}: more than {MAX_PAGES} pages")
