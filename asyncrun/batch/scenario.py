"""Scenarios: what one run of a batch is, its deterministic run name, and lazy scenario sources.

Every source is a generator: a sweep of 100,000 scenarios is produced one at a time, never
held in memory.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from asyncrun.errors import ConfigError

__all__ = [
    "INSTANCE_DIMENSION",
    "MAX_KEY_LENGTH",
    "MAX_RUN_NAME_LENGTH",
    "Scenario",
    "from_manifest",
    "from_sources",
    "parse_assignment",
    "parse_grid",
    "run_name",
    "with_grid",
]

MAX_KEY_LENGTH = 200
MAX_RUN_NAME_LENGTH = 128
"""The longest run name kept whole (the official SDK truncates run names to 128 characters)."""
_HASH_CHARS = 10
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MANIFEST_SUFFIXES = frozenset({".jsonl", ".ndjson"})
_MANIFEST_FIELDS = frozenset(
    {"key", "input", "input_file", "dir_path", "options", "instance_id", "configuration", "name"}
)


class Scenario(BaseModel):
    """One run of a batch: a unique `key` and exactly one of `input`, `input_file`, `dir_path`.

    `input_file` is read when the run is submitted (a `.json` file as JSON, anything else as
    text); `dir_path` is packed and uploaded as a multi-file input. `name` overrides the run name
    (by default `<batch tag>/<key>`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    key: str
    input: Any = None
    input_file: Path | None = None
    dir_path: Path | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    instance_id: str | None = None
    configuration: Any = None
    name: str | None = None

    @field_validator("key")
    @classmethod
    def _check_key(cls, key: str) -> str:
        if not key or len(key) > MAX_KEY_LENGTH or _CONTROL.search(key):
            raise ValueError(
                f"a scenario key must be 1-{MAX_KEY_LENGTH} characters without control "
                f"characters, got {key[:40]!r}"
            )
        return key

    @model_validator(mode="after")
    def _one_input(self) -> Scenario:
        given = [self.input is not None, self.input_file is not None, self.dir_path is not None]
        if sum(given) != 1:
            raise ValueError(
                f"scenario {self.key!r}: give exactly one of input, input_file, dir_path"
            )
        return self


def run_name(batch_tag: str, scenario: Scenario) -> str:
    """`<batch tag>/<key>` (or the scenario's own name), shortened with a hash when too long.

    Deterministic: the same tag and key always give the same name, so a run can be found
    again by name after an ambiguous submit or a crash.
    """
    full = scenario.name if scenario.name is not None else f"{batch_tag}/{scenario.key}"
    if len(full) <= MAX_RUN_NAME_LENGTH:
        return full
    digest = hashlib.sha256(full.encode("utf-8")).hexdigest()[:_HASH_CHARS]
    return f"{full[: MAX_RUN_NAME_LENGTH - _HASH_CHARS - 1]}~{digest}"


# ------------------------------------------------------------------------------ sources


def from_sources(
    sources: Sequence[str | Path], *, base: Mapping[str, Any] | None = None
) -> Iterator[Scenario]:
    """Scenarios of command-line SOURCES: a JSONL manifest (one scenario per line), a
    directory (one multi-file scenario), or an input file (one scenario). `base` holds fields
    every scenario gets unless it sets them (options are merged, the scenario's win)."""
    for source in sources:
        path = Path(source)
        if path.is_dir():
            yield _scenario({"key": _key_of(path), "dir_path": path}, base)
        elif path.suffix.lower() in _MANIFEST_SUFFIXES:
            yield from from_manifest(path, base=base)
        elif path.is_file():
            yield _scenario({"key": _key_of(path), "input_file": path}, base)
        else:
            raise ConfigError(f"source {str(path)!r} is not a file or a directory")


def _key_of(path: Path) -> str:
    """The path as given, without its suffix (a stable, readable key); the stem when absolute."""
    if path.is_absolute():
        return path.stem or path.name
    return path.with_suffix("").as_posix().removeprefix("./") or path.name


def from_manifest(path: Path, *, base: Mapping[str, Any] | None = None) -> Iterator[Scenario]:
    """One scenario per non-empty line of a JSONL file, read lazily. Relative `input_file` and
    `dir_path` are taken relative to the manifest's folder."""
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            yield _manifest_scenario(path, number, line, base)


def _manifest_scenario(
    path: Path, number: int, line: str, base: Mapping[str, Any] | None
) -> Scenario:
    where = f"{path}:{number}"
    try:
        item = json.loads(line)
    except ValueError:
        raise ConfigError(f"{where}: not valid JSON") from None
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: each line must be a JSON object")
    unknown = set(item) - _MANIFEST_FIELDS
    if unknown:
        raise ConfigError(f"{where}: unknown fields {sorted(unknown)}")
    for field in ("input_file", "dir_path"):
        if isinstance(item.get(field), str):
            item[field] = path.parent / item[field]
    try:
        return _scenario(item, base)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _scenario(fields: dict[str, Any], base: Mapping[str, Any] | None) -> Scenario:
    merged = dict(base or {})
    merged.update({k: v for k, v in fields.items() if v is not None})
    merged["options"] = {**dict((base or {}).get("options") or {}), **(fields.get("options") or {})}
    try:
        return Scenario.model_validate(merged)
    except ValueError as exc:
        raise ConfigError(_first_error(exc)) from None


def _first_error(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        return str(first.get("msg", exc)).removeprefix("Value error, ")
    return str(exc)


def parse_assignment(text: str) -> tuple[str, str]:
    """`k=v` -> (k, v)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise ConfigError(f"expected NAME=VALUE, got {text!r}")
    return name.strip(), value


def parse_grid(text: str) -> tuple[str, list[str]]:
    """`k=v1,v2` -> (k, [v1, v2])."""
    name, values = parse_assignment(text)
    parts = [v for v in values.split(",") if v != ""]
    if not parts:
        raise ConfigError(f"grid {text!r} has no values")
    return name, parts


INSTANCE_DIMENSION = "instance_id"
"""A grid dimension with this name sweeps the scenario's instance, not a run option."""


def with_grid(
    scenarios: Iterable[Scenario], grid: Sequence[tuple[str, Sequence[str]]]
) -> Iterator[Scenario]:
    """Each scenario once per point of the grid's cartesian product: the point's options are
    added and the key gets a suffix, e.g. `inst-7/solve.duration=10s,seed=2`. The dimension
    `instance_id` sets the run's instance instead (`inst-7/instance_id=v2,seed=2`), so the same
    scenarios run side by side on several instances."""
    if not grid:
        yield from scenarios
        return
    names = [name for name, _ in grid]
    points = list(itertools.product(*(values for _, values in grid)))
    for scenario in scenarios:
        for point in points:
            chosen = dict(zip(names, point, strict=True))
            suffix = ",".join(f"{n}={v}" for n, v in chosen.items())
            update: dict[str, Any] = {
                "instance_id": chosen.pop(INSTANCE_DIMENSION, scenario.instance_id),
                "options": {**scenario.options, **chosen},
                "name": f"{scenario.name}/{suffix}" if scenario.name is not None else None,
            }
            try:
                update["key"] = _checked_key(f"{scenario.key}/{suffix}")
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
            yield scenario.model_copy(update=update)


def _checked_key(key: str) -> str:
    return Scenario._check_key(key)
