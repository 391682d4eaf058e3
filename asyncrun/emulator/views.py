"""Wire shapes of runs, as the official SDK's pydantic models (nextmv 1.13.0) read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from asyncrun.emulator.runs import WITH_OUTPUT, Run

USER_EMAIL = "emulator@localhost"
RUNTIME = "default"

# The real v1 `status` string, kept alongside status_v2 as the real API does.
_V1_STATUS = {
    "queued": "requested",
    "running": "running",
    "succeeded": "succeeded",
    "failed": "failed",
    "canceled": "canceled",
}


def iso(wall: float) -> str:
    return (
        datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def metadata(
    run: Run, now: float, output_size: int, metrics: tuple[Any, Any] = (None, None)
) -> dict[str, Any]:
    """Metadata; `metrics` = (metrics, statistics) of the finished run's output."""
    status, start, end = run.timeline(now)
    duration = run.simulated_ms(run.t0, end) if end is not None else 0.0
    execution = run.simulated_ms(start, end) if start is not None and end is not None else 0.0
    out = {
        "application_id": run.app_id,
        "application_instance_id": run.instance_id,
        "application_version_id": run.version_id,
        "created_at": iso(run.created_wall),
        "initiated_at": iso(run.wall(start)) if start is not None else None,
        "duration": duration,
        "execution_duration": execution,
        "error": run.fail_message if status == "failed" and run.fail_message else "",
        "format": {"input": {"type": run.input_type}, "output": {"type": run.output_type}},
        "input_size": run.input_size,
        "output_size": output_size if status in WITH_OUTPUT else 0,
        "status": _V1_STATUS.get(status, status),
        "status_v2": status,
        "execution_class": run.execution_class,
        "runtime": RUNTIME,
        "run_type": {"type": "standard"},
        "options": {
            "request_options": dict(run.options),
            "active_options": dict(run.options),
            "options_summary": [
                {"name": k, "value": v, "source": "request"} for k, v in run.options.items()
            ],
        },
        "metrics": metrics[0] if status in WITH_OUTPUT else None,
        "statistics": metrics[1] if status in WITH_OUTPUT else None,
    }
    if run.experiment is not None:
        out["experiment_id"] = run.experiment.experiment_id
        out["experiment_type"] = run.experiment.experiment_type
    return out


def information(
    run: Run, now: float, output_size: int, metrics: tuple[Any, Any] = (None, None)
) -> dict[str, Any]:
    """RunInformation: the reply of GET runs/{id}/metadata."""
    return {
        "id": run.id,
        "name": run.name,
        "description": run.description,
        "user_email": USER_EMAIL,
        "metadata": metadata(run, now, output_size, metrics),
    }


def list_item(run: Run, now: float) -> dict[str, Any]:
    """An item of GET runs (the SDK's `Run` model)."""
    status = run.status(now)
    item = {
        "id": run.id,
        "user_email": USER_EMAIL,
        "name": run.name,
        "description": run.description,
        "created_at": iso(run.created_wall),
        "application_id": run.app_id,
        "application_instance_id": run.instance_id,
        "application_version_id": run.version_id,
        "run_type": {"type": "standard"},
        "execution_class": run.execution_class,
        "runtime": RUNTIME,
        "status": _V1_STATUS.get(status, status),
        "status_v2": status,
        "options": dict(run.options),
    }
    if run.experiment is not None:
        item.update(run.experiment.fields())
    return item
