"""The official SDK (nextmv 1.13.0) completes every run flow against the emulator."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nextmv
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

APP_ID = "conf-app"
RUN = "/v1/applications/{app_id}/runs"
RUN_ID = "/v1/applications/{app_id}/runs/{run_id}"
POLL = nextmv.PollingOptions(
    initial_delay=0.02, delay=0.02, backoff=0, jitter=0, max_delay=0.1, max_duration=30
)


def canonical_digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def requests_of(emu: ThreadedEmulator, route: str) -> dict[str, int]:
    counts: dict[str, int] = emu.stats()["requests"].get(route, {})
    return counts


def logged(emu: ThreadedEmulator, method: str, path_part: str) -> list[dict[str, Any]]:
    return [
        r
        for r in emu.stats()["recent_requests"]
        if r["method"] == method and path_part in r["path"]
    ]


def test_dict_input_round_trip(app: cloud.Application, emu: ThreadedEmulator) -> None:
    payload = {"stops": [{"id": "a", "lat": 1.5}], "vehicles": 2}
    result = app.new_run_with_result(
        input=payload, name="sdk-dict", run_options={"solve.duration": "1s"}, polling_options=POLL
    )
    assert result.metadata.status_v2 == nextmv.StatusV2.succeeded
    assert result.name == "sdk-dict"
    assert result.output is not None
    assert result.output["input_digest"] == canonical_digest(payload)
    assert result.output["options"] == {"solve.duration": "1s"}
    assert emu.stats()["runs_per_name"] == {"sdk-dict": 1}
    (post,) = logged(emu, "POST", "/runs")
    assert post["json"]["input"] == payload


def test_text_input_is_uploaded_without_auth_or_content_type(
    app: cloud.Application, emu: ThreadedEmulator
) -> None:
    text = "line one\nlíne two\n"
    result = app.new_run_with_result(input=text, polling_options=POLL)
    assert result.output is not None
    assert result.output["input_digest"] == hashlib.sha256(text.encode()).hexdigest()
    (put,) = logged(emu, "PUT", "/_storage/")
    headers = {k.lower() for k in put["headers"]}
    assert "content-type" not in headers
    assert put["query"]["signature"] == "***"
    assert requests_of(emu, "PUT /_storage/{key}") == {"200": 1}
    assert result.metadata.format.format_input.input_type == nextmv.InputFormat.TEXT


def test_json_input_over_5_mib_goes_through_upload(
    app: cloud.Application, emu: ThreadedEmulator
) -> None:
    payload = {"blob": "z" * (5 * 2**20 + 100), "n": 1}
    result = app.new_run_with_result(input=payload, polling_options=POLL)
    assert result.output is not None
    assert result.output["input_digest"] == canonical_digest(payload)
    assert requests_of(emu, "POST " + RUN + "/uploadurl") == {"200": 1}
    (post,) = [r for r in logged(emu, "POST", "/runs") if r["path"].endswith("/runs")]
    assert set(post["json"]) >= {"upload_id"} and "input" not in post["json"]
    assert result.metadata.input_size > 5 * 2**20


def _input_dir(root: Path) -> dict[str, bytes]:
    files = {
        "data.json": b'{"x": 1}',
        "sub/t.csv": b"a,b\n1,2\n",
        "sub/deep/blob.bin": bytes(range(256)) * 40,
    }
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return files


def _expected_files(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return sorted(
        (
            {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
            for n, d in files.items()
        ),
        key=lambda f: str(f["name"]),
    )


def test_input_dir_lists_every_file_in_a_multi_file_output(
    app: cloud.Application, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    files = _input_dir(tmp_path / "in")
    out = tmp_path / "out"
    result = app.new_run_with_result(
        input_dir_path=str(tmp_path / "in"), polling_options=POLL, output_dir_path=str(out)
    )
    assert result.metadata.status_v2 == nextmv.StatusV2.succeeded
    assert result.metadata.format.format_output.output_type == nextmv.ContentFormat.MULTI_FILE
    document = json.loads((out / "result.json").read_text())
    assert document["files"] == _expected_files(files)
    assert requests_of(emu, "GET " + RUN_ID + "/output") == {"200": 1}


def test_input_dir_with_json_output_lists_files_inline(
    app: cloud.Application, tmp_path: Path
) -> None:
    files = _input_dir(tmp_path / "in")
    configuration = nextmv.RunConfiguration(
        format=nextmv.Format(
            format_input=nextmv.FormatInput(input_type=nextmv.ContentFormat.MULTI_FILE),
            format_output=nextmv.FormatOutput(output_type=nextmv.ContentFormat.JSON),
        )
    )
    result = app.new_run_with_result(
        input_dir_path=str(tmp_path / "in"), configuration=configuration, polling_options=POLL
    )
    assert result.output is not None
    assert result.output["files"] == _expected_files(files)


def test_large_output_is_downloaded_by_url(app: cloud.Application, emu: ThreadedEmulator) -> None:
    size = 6 * 2**20
    payload = {"big": True}
    result = app.new_run_with_result(
        input=payload, run_options={"emulator.output_bytes": str(size)}, polling_options=POLL
    )
    assert result.metadata.output_size == size
    assert result.output is not None
    assert result.output["input_digest"] == canonical_digest(payload)
    assert len(json.dumps(result.output, separators=(",", ":"))) == size
    assert requests_of(emu, "GET " + RUN_ID) == {"200": 1}
    assert any(r["query"] == {"format": "url"} for r in logged(emu, "GET", "/output"))
    assert requests_of(emu, "GET /_storage/{key}") == {"200": 1}


def test_failing_run_returns_failed_status_and_message(app: cloud.Application) -> None:
    result = app.new_run_with_result(
        input={"x": 1}, run_options={"emulator.fail": "infeasible"}, polling_options=POLL
    )
    assert result.metadata.status_v2 == nextmv.StatusV2.failed
    assert result.metadata.error == "infeasible"
    assert result.output is None


def test_cancel_a_long_run(app: cloud.Application) -> None:
    run_id = app.new_run(input={"x": 1}, options={"emulator.duration": "3600"})
    app.cancel_run(run_id)
    info = app.run_information(run_id)
    assert info.metadata.status_v2 == nextmv.StatusV2.canceled
    result = app.run_result_with_polling(run_id, polling_options=POLL)
    assert result.metadata.status_v2 == nextmv.StatusV2.canceled


def test_list_runs_crosses_pages(app: cloud.Application, emu: ThreadedEmulator) -> None:
    created = [app.new_run(input={"i": i}, name=f"list-{i}") for i in range(12)]
    runs = app.list_runs()
    assert [r.id for r in runs] == created[::-1]
    assert requests_of(emu, "GET " + RUN) == {"200": 3}
    unpaged = app.list_runs(no_pagination=True)
    assert len(unpaged) == 12


def test_run_logs(app: cloud.Application) -> None:
    result = app.new_run_with_result(input={"x": 1}, polling_options=POLL)
    log = app.run_logs(result.id)
    assert f"run {result.id} queued" in log.log
    assert log.log.rstrip().endswith("run succeeded")


def test_run_input_round_trip(app: cloud.Application) -> None:
    payload = {"k": [1, 2, 3]}
    run_id = app.new_run(input=payload)
    assert app.run_input(run_id) == payload


def test_live_logs_follow_the_run_to_its_end(app: cloud.Application, emu: ThreadedEmulator) -> None:
    run_id = app.new_run(input={"x": 1}, options={"emulator.duration": "2"})
    options = nextmv.PollingOptions(initial_delay=0, max_duration=30)
    logs = app.run_logs_with_polling(run_id, polling_options=options)
    lines = [entry.log for entry in logs]
    assert lines == [f"run {run_id} queued", "run started", "run succeeded"]
    polls = requests_of(emu, "GET " + RUN_ID + "/logs/live")["200"]
    assert polls >= 2  # at least one poll saw the run unfinished, and each line came once
