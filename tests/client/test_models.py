"""Wire models: lenient to unknown fields and statuses, SDK-compatible JSON form."""

from __future__ import annotations

import json

from asyncrun import RunConfiguration, RunInformation, RunResult, StatusV2, UploadURL
from asyncrun.models import ContentFormat, Run


def test_unknown_fields_are_kept_and_unknown_status_does_not_crash() -> None:
    info = RunInformation.model_validate(
        {"id": "r1", "metadata": {"status_v2": "paused-by-ops", "new_field": {"a": 1}}, "x": 2}
    )
    assert info.metadata.status_v2 == "paused-by-ops"
    assert not info.metadata.run_is_finalized()
    assert info.metadata.model_extra == {"new_field": {"a": 1}}
    assert info.model_extra == {"x": 2}


def test_known_status_is_the_enum_from_python_and_json() -> None:
    raw = {"id": "r", "metadata": {"status_v2": "failed"}}
    for info in (
        RunInformation.model_validate(raw),
        RunInformation.model_validate_json(json.dumps(raw)),
    ):
        assert info.metadata.status_v2 is StatusV2.failed
        assert info.metadata.run_is_finalized()


def test_missing_run_type_and_format_are_fine() -> None:
    info = RunInformation.model_validate({"id": "r", "metadata": {"status_v2": "succeeded"}})
    assert info.metadata.run_type is None
    assert info.metadata.output_type == ContentFormat.json


def test_result_output_may_be_any_json_value() -> None:
    for output in ([1, 2], {"a": 1}, None, "text", 3):
        assert RunResult.model_validate({"id": "r", "output": output}).output == output


def test_run_list_item_lenient() -> None:
    run = Run.model_validate(
        {"id": "r", "status_v2": "mystery", "created_at": "2024-01-01T00:00:00Z"}
    )
    assert run.status_v2 == "mystery" and run.created_at is not None


def test_configuration_to_dict_matches_sdk_shape() -> None:
    config = RunConfiguration.model_validate(
        {
            "execution_class": "x",
            "format": {"input": {"type": "multi-file"}},
            "run_type": {"type": "ensemble", "definition_id": "def"},
            "secrets_collection_id": "s",
            "queuing": {"priority": 1, "disabled": True},
        }
    )
    assert config.to_dict() == {
        "execution_class": "x",
        "format": {"input": {"type": "multi-file"}},
        "run_type": {"type": "ensemble", "definition_id": "def"},
        "secrets_collection_id": "s",
        "queuing": {"priority": 1, "disabled": True},
    }
    assert config.is_ensemble()
    integ = RunConfiguration(integration_id="int-1")
    assert integ.to_dict() == {"execution_class": "integration", "integration_id": "int-1"}


def test_result_repr_hides_presigned_output_url() -> None:
    result = RunResult.model_validate(
        {"id": "r", "output": {"url": "http://s/_storage/k?signature=SECRETSIG"}}
    )
    assert "SECRETSIG" not in repr(result) and "SECRETSIG" not in str(result)
    assert result.output["url"].endswith("SECRETSIG")


def test_upload_url_repr_hides_signature() -> None:
    up = UploadURL(upload_id="u1", upload_url="http://s/_storage/k?sig=SECRETSIG&exp=1")
    assert "SECRETSIG" not in repr(up) and "SECRETSIG" not in str(up)
    assert up.upload_url.endswith("SECRETSIG&exp=1")
