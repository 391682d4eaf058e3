"""The app manifest (`app.yaml`), read and checked before any request, as the SDK reads it
(nextmv 1.13 `manifest.py`): the files it lists, and the activation request of a push."""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError

from asyncrun.errors import ConfigError, InputError

__all__ = ["MANIFEST_FILE", "Manifest", "load_manifest"]

MANIFEST_FILE = "app.yaml"
_TYPES = ("python", "go", "java", "binary")
# The file the platform starts when `execution.entrypoint` is not given (per type).
_MANDATORY = {"python": "main.py", "go": "main", "binary": "main", "java": "main.jar"}


class _Section(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ManifestPython(_Section):
    pip_requirements: str | list[str] | None = Field(
        default=None, validation_alias=AliasChoices("pip-requirements", "pip_requirements")
    )
    arch: str | None = None
    version: str | float | None = None


class ManifestBuild(_Section):
    command: str | None = None
    environment: dict[str, Any] | None = None


class ManifestExecution(_Section):
    entrypoint: str | None = None
    cwd: str | None = None


class ManifestMultiFile(_Section):
    input: dict[str, Any] | None = None
    output: dict[str, Any] | None = None


class ManifestContent(_Section):
    format: str = "json"
    multi_file: ManifestMultiFile | None = Field(
        default=None, validation_alias=AliasChoices("multi-file", "multi_file")
    )


class ManifestConfiguration(_Section):
    options: dict[str, Any] | None = None
    content: ManifestContent | None = None


class Manifest(_Section):
    """What asyncrun reads of `app.yaml`; unknown keys are kept for the packager."""

    type: str = "python"
    runtime: str = "ghcr.io/nextmv-io/runtime/python:3.11"
    files: list[str] = Field(min_length=1)
    python: ManifestPython | None = None
    configuration: ManifestConfiguration | None = None
    build: ManifestBuild | None = None
    pre_push: str | None = Field(
        default=None, validation_alias=AliasChoices("pre-push", "pre_push")
    )
    execution: ManifestExecution | None = None

    @property
    def requirements(self) -> str | list[str] | None:
        """`python.pip-requirements` (a file or a list), None when nothing is to be bundled."""
        if self.type != "python" or self.python is None:
            return None
        return self.python.pip_requirements or None

    @property
    def entrypoint(self) -> str:
        if self.execution is not None and self.execution.entrypoint:
            return self.execution.entrypoint
        return _MANDATORY[self.type]

    def activation(self) -> dict[str, Any]:
        """The body of `PUT {app}/binary`, as the SDK's `_convert_manifest_to_payload`."""
        requirements: dict[str, Any] = {"executable_type": self.type, "runtime": self.runtime}
        config = self.configuration
        if config is not None and config.content is not None:
            requirements["io_configuration"] = _io_configuration(config.content)
        if config is not None and config.options is not None:
            requirements["options"] = _options(config.options)
        if self.execution is not None:
            if self.execution.entrypoint:
                requirements["entrypoint"] = self.execution.entrypoint
            if self.execution.cwd:
                requirements["working_directory"] = self.execution.cwd
        return {"requirements": requirements}

    def files_in(self, app_dir: Path) -> list[str]:
        """The files to push, relative to app_dir, sorted; InputError when a listed pattern
        matches nothing or the entrypoint is not among them (the SDK's `find_files`)."""
        selected: set[str] = set()
        missing = []
        for listed in self.files:
            pattern = listed + "*" if listed.endswith("/") else listed
            negated = pattern.startswith("!")
            pattern = pattern.removeprefix("!")
            matches = {
                os.path.normpath(m) for m in glob.glob(pattern, root_dir=app_dir, recursive=True)
            }
            if negated:
                selected -= matches
            elif not matches:
                missing.append(listed)
            else:
                selected |= {m for m in matches if (app_dir / m).is_file()}
        if missing:
            raise InputError(
                f"{MANIFEST_FILE} lists files that are not in {str(app_dir)!r}: "
                + ", ".join(missing)
            )
        entry = os.path.normpath(self.entrypoint)
        if entry not in selected:
            raise InputError(
                f"the entrypoint {entry!r} is not among the files {MANIFEST_FILE} lists"
            )
        return sorted(selected)


def _io_configuration(content: ManifestContent) -> dict[str, Any]:
    io: dict[str, Any] = {"format": content.format}
    multi = content.multi_file
    if multi is not None:
        section: dict[str, Any] = {}
        if multi.input is not None:
            section["input_path"] = multi.input.get("path", "inputs/")
        if multi.output is not None:
            section["output_configuration"] = {
                f"{key}_path": value for key, value in multi.output.items() if value
            }
        io["multi_file"] = section
    return io


def _options(options: dict[str, Any]) -> dict[str, Any]:
    """Manifest options as the SDK sends them: local-only items dropped, `type` named
    `option_type`, a format list wrapped as {"template": [...]}."""
    out = dict(options)
    items = out.get("items")
    if isinstance(items, list):
        out["items"] = [_option_item(i) for i in items if not (i or {}).get("local_only")]
    if isinstance(out.get("format"), list):
        out["format"] = {"template": out["format"]}
    return out


def _option_item(item: dict[str, Any]) -> dict[str, Any]:
    item = dict(item)
    if "type" in item and "option_type" not in item:
        item["option_type"] = item.pop("type")
    return item


def load_manifest(app_dir: Path) -> Manifest:
    """Read and check `app_dir/app.yaml` (blocking: call it in a worker thread)."""
    path = app_dir / MANIFEST_FILE
    if not app_dir.is_dir():
        raise ConfigError(f"app directory {str(app_dir)!r} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"no {MANIFEST_FILE} in {str(app_dir)!r}: it says what to push") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path} cannot be read as YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a YAML mapping (type, runtime, files, ...)")
    return check_manifest(raw, str(path))


def check_manifest(raw: dict[str, Any], where: str = MANIFEST_FILE) -> Manifest:
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'manifest'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"{where} is not a valid manifest: {problems}") from None
    if manifest.type not in _TYPES:
        raise ConfigError(f"{where}: type must be one of {', '.join(_TYPES)}")
    return manifest
