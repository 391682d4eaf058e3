"""Pydantic wire models of the Nextmv run API, named as in the official SDK.

Lenient where the SDK is strict: unknown fields are kept (`extra="allow"`), an unknown
`status_v2` is kept as a plain string instead of failing, and fields a server may leave out
(`run_type`, `format`, sizes) are optional.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from asyncrun.errors import redact_url

__all__ = [
    "ContentFormat",
    "ErrorLog",
    "Format",
    "FormatInput",
    "FormatOutput",
    "Input",
    "ManagedInput",
    "Metadata",
    "Run",
    "RunConfiguration",
    "RunInformation",
    "RunListing",
    "RunLog",
    "RunQueuing",
    "RunResult",
    "RunStatusItem",
    "RunType",
    "RunTypeConfiguration",
    "RunsPage",
    "StatusV2",
    "TimestampedRunLog",
    "UploadURL",
    "WireModel",
]


class WireModel(BaseModel):
    """Base of the wire models: unknown fields kept, aliases accepted on input."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form sent on the wire (aliases, no None values), as the SDK's `to_dict`."""
        return self.model_dump(mode="json", exclude_none=True, by_alias=True)


class StatusV2(StrEnum):
    """Run status. A value not listed here is kept as a plain `str` on the models."""

    canceled = "canceled"
    failed = "failed"
    none = "none"
    queued = "queued"
    running = "running"
    succeeded = "succeeded"


TERMINAL_STATUSES = frozenset({StatusV2.succeeded, StatusV2.failed, StatusV2.canceled})

# Left to right: a known value becomes the enum, anything else stays the raw string.
Status = Annotated[StatusV2 | str, Field(union_mode="left_to_right")]


class ContentFormat(StrEnum):
    """Input/output content types (the SDK's ContentFormat plus its deprecated text/csv-archive)."""

    json = "json"
    text = "text"
    csv_archive = "csv-archive"
    multi_file = "multi-file"


Content = Annotated[ContentFormat | str, Field(union_mode="left_to_right")]


class FormatInput(WireModel):
    input_type: Content = Field(
        default=ContentFormat.json,
        serialization_alias="type",
        validation_alias=AliasChoices("type", "input_type"),
    )


class FormatOutput(WireModel):
    output_type: Content = Field(
        default=ContentFormat.json,
        serialization_alias="type",
        validation_alias=AliasChoices("type", "output_type"),
    )


class Format(WireModel):
    format_input: FormatInput | None = Field(
        default=None,
        serialization_alias="input",
        validation_alias=AliasChoices("input", "format_input"),
    )
    format_output: FormatOutput | None = Field(
        default=None,
        serialization_alias="output",
        validation_alias=AliasChoices("output", "format_output"),
    )


class RunType(StrEnum):
    standard = "standard"
    external = "external"
    ensemble = "ensemble"
    ensemble_child = "ensemble-child"


class RunTypeConfiguration(WireModel):
    run_type: Annotated[RunType | str, Field(union_mode="left_to_right")] | None = Field(
        default=None,
        serialization_alias="type",
        validation_alias=AliasChoices("type", "run_type"),
    )
    definition_id: str | None = None
    reference_id: str | None = None

    @field_validator("run_type", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return None if value == "" else value


class RunQueuing(WireModel):
    priority: int | None = Field(default=None, ge=1, le=9)
    disabled: bool | None = None


class RunConfiguration(WireModel):
    """The `configuration` of a new run."""

    execution_class: str | None = None
    format: Format | None = None
    run_type: RunTypeConfiguration | None = None
    secrets_collection_id: str | None = None
    queuing: RunQueuing | None = None
    integration_id: str | None = None

    def model_post_init(self, context: Any, /) -> None:
        # The SDK forces the execution class of integration runs; mirror it so bodies match.
        if not self.integration_id:
            return
        if self.execution_class not in (None, "", "integration"):
            raise ValueError("when integration_id is set, execution_class must be 'integration'")
        object.__setattr__(self, "execution_class", "integration")

    def is_ensemble(self) -> bool:
        run_type = self.run_type
        return bool(
            run_type is not None
            and run_type.run_type == RunType.ensemble
            and run_type.definition_id
        )


class Metadata(WireModel):
    application_id: str = ""
    application_instance_id: str = ""
    application_version_id: str = ""
    created_at: datetime | None = None
    duration: float | None = None
    error: str | None = None
    execution_class: str | None = None
    execution_duration: float | None = None
    format: Format | None = None
    initiated_at: datetime | None = None
    input_size: float = 0.0
    output_size: float = 0.0
    run_type: RunTypeConfiguration | None = None
    status_v2: Status = StatusV2.none
    metrics: dict[str, Any] | None = None
    """The run's metrics, as its app wrote them in its output (`nextmv.Output.metrics`)."""
    statistics: dict[str, Any] | None = None
    """Deprecated by Nextmv in favour of `metrics`; still filled by older apps."""

    def run_is_finalized(self) -> bool:
        """True once the run succeeded, failed or was canceled."""
        return self.status_v2 in TERMINAL_STATUSES

    @property
    def output_type(self) -> ContentFormat | str:
        """The output content type (json when the server leaves it out)."""
        fmt = self.format
        if fmt is None or fmt.format_output is None:
            return ContentFormat.json
        return fmt.format_output.output_type

    @property
    def input_type(self) -> ContentFormat | str:
        """The input content type (json when the server leaves it out)."""
        return _input_type(self.format)


class RunInformation(WireModel):
    """Reply of GET runs/{id}/metadata."""

    id: str
    name: str = ""
    description: str = ""
    user_email: str = ""
    metadata: Metadata = Field(default_factory=Metadata)
    console_url: str = ""

    @property
    def status(self) -> StatusV2 | str:
        """Shortcut for metadata.status_v2."""
        return self.metadata.status_v2


class ErrorLog(WireModel):
    error: str | None = None
    stdout: str | None = None
    stderr: str | None = None


class RunResult(RunInformation):
    """Reply of GET runs/{id}; `output` is any JSON value (object, array, ...) or None."""

    error_log: ErrorLog | None = None
    output: Any = None
    ensemble: Any = None

    def __repr_args__(self) -> Any:
        # A `?format=url` result holds a presigned URL (a credential) as its output.
        for key, value in super().__repr_args__():
            if key == "output" and isinstance(value, dict) and isinstance(value.get("url"), str):
                value = {**value, "url": redact_url(value["url"])}
            yield key, value


class Run(WireModel):
    """An item of list_runs."""

    id: str
    name: str = ""
    description: str = ""
    user_email: str = ""
    created_at: datetime | None = None
    application_id: str = ""
    application_instance_id: str = ""
    application_version_id: str = ""
    run_type: RunTypeConfiguration | None = None
    execution_class: str | None = None
    runtime: str | None = None
    status_v2: Status = StatusV2.none


class RunStatusItem(BaseModel):
    """What a status read needs of a list item: the run's id and status (the rest of the item is
    skipped while parsing, so a page of 50 costs little CPU)."""

    model_config = ConfigDict(extra="ignore")

    id: str
    status_v2: Status = StatusV2.none


class RunsPage(BaseModel):
    """One page of GET runs?pagereturn=true, reduced to statuses; an empty token: the last."""

    model_config = ConfigDict(extra="ignore")

    runs: list[RunStatusItem]
    next_page_token: str | None = None


class RunListing(BaseModel):
    """One page of GET runs?pagereturn=true with its runs whole (`list_runs`)."""

    model_config = ConfigDict(extra="ignore")

    runs: list[Run]
    next_page_token: str | None = None


class UploadURL(WireModel):
    """Reply of POST runs/uploadurl. The URL is a credential: its repr hides the query string."""

    upload_id: str
    upload_url: str

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (redact_url(value) if key == "upload_url" else value)


class RunLog(WireModel):
    log: str = ""


class TimestampedRunLog(WireModel):
    """One line of GET runs/{id}/logs/live (the SDK's `TimestampedRunLog`)."""

    timestamp: datetime | None = None
    log: str = ""


class ManagedInput(WireModel):
    """An input stored once in an application and used by many runs (`managed_input_id=`)."""

    id: str
    name: str | None = None
    description: str | None = None
    run_id: str | None = None
    upload_id: str | None = None
    format: Format | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def input_type(self) -> ContentFormat | str:
        """The input content type (json when the server leaves it out)."""
        return _input_type(self.format)


def _input_type(fmt: Format | None) -> ContentFormat | str:
    if fmt is None or fmt.format_input is None:
        return ContentFormat.json
    return fmt.format_input.input_type


class Input(BaseModel):
    """Input data plus its content type (the SDK's `nextmv.Input`, for cloud runs)."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    data: Any
    input_format: ContentFormat = ContentFormat.json
