"""Input shaping: what a new run's input, options and configuration become on the wire.

The SDK's rules, with safety added: an input is classified (JSON, text, a directory to pack),
serialised once, and sent inline or through an upload when it is large or not JSON; an
unsupported type raises InputError instead of sending null; options are strings (others
JSON-encoded); without a configuration the input/output format is filled in as the SDK does.
Nothing here makes a request: AsyncApplication.new_run uses it before any request is sent.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from os import PathLike, fspath
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from asyncrun import payload
from asyncrun._json import compact_encoder
from asyncrun.errors import ConfigError, InputError
from asyncrun.models import ContentFormat, Input, RunConfiguration

__all__ = [
    "EncodedJson",
    "Prepared",
    "compact_json",
    "configuration_wire",
    "directory_input",
    "options_dict",
    "prepare_input",
    "run_configuration",
]

_OUTPUT_FOR_INPUT = {
    ContentFormat.json: ContentFormat.json,
    ContentFormat.text: ContentFormat.json,
    ContentFormat.csv_archive: ContentFormat.csv_archive,
    ContentFormat.multi_file: ContentFormat.multi_file,
}


def _iso(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


_ENCODE = compact_encoder(_iso)


def compact_json(value: Any) -> str:
    """The SDK's serialisation: compact separators, ASCII, dates as ISO strings."""
    try:
        return _ENCODE(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"input is not JSON serialisable: {exc}") from None


class EncodedJson:
    """A JSON input serialised already (a batch sizes each input to choose inline or upload):
    sent as this text, not serialised again."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class Prepared:
    """The input of a new run, serialised once: inline JSON text or an upload body."""

    def __init__(self, *, inline: str | None, upload: bytes | None, fmt: ContentFormat) -> None:
        self.inline = inline
        self.upload = upload
        self.format = fmt


def prepare_input(value: Any) -> Prepared:
    fmt, data = _classify(value)
    if isinstance(data, str) and fmt != ContentFormat.json:
        return Prepared(inline=None, upload=data.encode("utf-8"), fmt=fmt)
    text = data if isinstance(data, str) else compact_json(data)
    if fmt != ContentFormat.json or len(text) > payload.INLINE_LIMIT:
        return Prepared(inline=None, upload=text.encode("utf-8"), fmt=fmt)
    return Prepared(inline=text, upload=None, fmt=fmt)


def _classify(value: Any) -> tuple[ContentFormat, Any]:
    """(content format, data) of an input, or InputError for a type the API cannot take."""
    if isinstance(value, dict | list):
        return ContentFormat.json, value
    if isinstance(value, EncodedJson):
        return ContentFormat.json, value.text
    if isinstance(value, str):
        return ContentFormat.text, value
    if isinstance(value, Input):
        return value.input_format, _input_data(value.data, value.input_format)
    if hasattr(value, "data") and hasattr(value, "input_format"):  # nextmv.Input
        fmt = _content_format(value.input_format)
        return fmt, _input_data(value.data, fmt)
    if isinstance(value, BaseModel):
        to_dict = getattr(value, "to_dict", None)  # nextmv models: the SDK's own serialisation
        return ContentFormat.json, to_dict() if callable(to_dict) else value.model_dump(mode="json")
    raise InputError(
        f"unsupported input type {type(value).__name__}: use a dict, a list, a pydantic model, "
        "a str, an asyncrun.Input, or upload_id="
    )


def _content_format(raw: Any) -> ContentFormat:
    try:
        return ContentFormat(getattr(raw, "value", raw))
    except ValueError:
        raise InputError(f"unsupported input format {raw!r}") from None


def _input_data(data: Any, fmt: ContentFormat) -> Any:
    if fmt == ContentFormat.json and isinstance(data, str):
        return compact_json(data)  # a JSON string value, sent as JSON
    if fmt != ContentFormat.json and not isinstance(data, str | dict | list):
        raise InputError(f"{fmt.value} input data must be a str or a dict")
    return data


_DIRECTORY_FORMATS = frozenset({ContentFormat.multi_file, ContentFormat.csv_archive})


def directory_input(input: Any, dir_path: Any) -> tuple[Path, ContentFormat] | None:
    """(directory, format) when the input is a directory to pack, else None.

    `dir_path=` is multi-file; an Input in the multi-file or csv-archive format names its
    directory in `data` (a path). The SDK's dict of contents sent as JSON text labelled
    multi-file is not copied: any other data for those formats raises InputError.
    """
    if dir_path is not None:
        return _existing_dir(dir_path), ContentFormat.multi_file
    if isinstance(input, Input) or (hasattr(input, "data") and hasattr(input, "input_format")):
        fmt = _content_format(getattr(input, "input_format", None))
        if fmt in _DIRECTORY_FORMATS:
            data = input.data
            if not isinstance(data, str | PathLike):
                raise InputError(
                    f"{fmt.value} input data must be the path of a directory to pack, "
                    f"not {type(data).__name__}"
                )
            return _existing_dir(data), fmt
    return None


def _existing_dir(value: Any) -> Path:
    try:
        path = Path(fspath(value))
    except TypeError:
        raise InputError(f"dir_path must be a path, not {type(value).__name__}") from None
    if not path.is_dir():
        raise InputError(f"{fspath(path)!r} is not a directory")
    return path


def options_dict(options: Mapping[str, Any] | None) -> dict[str, str]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ConfigError("options must be a mapping of option name to value")
    out: dict[str, str] = {}
    for key, value in options.items():
        out[str(key)] = value if isinstance(value, str) else _options_json(key, value)
    return out


def _options_json(key: Any, value: Any) -> str:
    try:
        return _ENCODE(value)
    except (TypeError, ValueError):
        raise ConfigError(f"option {key!r} is not JSON serialisable") from None


def run_configuration(
    configuration: RunConfiguration | Mapping[str, Any] | None, fmt: ContentFormat
) -> RunConfiguration:
    """The caller's configuration as given, or the SDK's auto-filled format when there is none."""
    if isinstance(configuration, RunConfiguration):
        return configuration
    if isinstance(configuration, Mapping):
        try:
            return RunConfiguration.model_validate(dict(configuration))
        except (ValidationError, ValueError) as exc:
            raise ConfigError(f"invalid configuration: {exc}") from None
    if configuration is not None:
        raise ConfigError("configuration must be a RunConfiguration or a dict")
    return _default_configuration(fmt)[0]


def configuration_wire(configuration: RunConfiguration) -> dict[str, Any]:
    """`configuration.to_dict()`; made once for the auto-filled ones (a batch sends the same
    one with every run)."""
    for fmt in _OUTPUT_FOR_INPUT:
        default, wire = _default_configuration(fmt)
        if configuration is default:
            return dict(wire)
    return configuration.to_dict()


@functools.lru_cache(maxsize=8)
def _default_configuration(fmt: ContentFormat) -> tuple[RunConfiguration, dict[str, Any]]:
    """The configuration auto-filled for an input format, and its wire form. Shared: nothing
    changes a configuration once made."""
    made = RunConfiguration.model_validate(
        {"format": {"input": {"type": fmt}, "output": {"type": _OUTPUT_FOR_INPUT[fmt]}}}
    )
    return made, made.to_dict()
