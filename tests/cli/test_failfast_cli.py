"""`asyncrun batch` stopped by a batch-wide failure: one line saying what failed and what to
check, exit code 3, at most --max-in-flight POSTs, and the same command resumes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from asyncrun.emulator import ThreadedEmulator

from .conftest import KEY, run_cli, write_manifest

POST_RUNS = "POST /v1/applications/{app_id}/runs"


def batch(url: str, *extra: str) -> list[str]:
    return [
        "batch",
        "--app-id",
        "ff-cli",
        "manifest.jsonl",
        "--journal",
        "j.db",
        "--out",
        "out",
        "--max-in-flight",
        "20",
        "--limits",
        "unlimited",
        "--url",
        url,
        *extra,
    ]


def test_a_wrong_key_stops_at_once_with_one_line_and_exit_3(
    emulator_thread: ThreadedEmulator, tmp_path: Path
) -> None:
    write_manifest(tmp_path / "manifest.jsonl", 60)
    wrong = run_cli(batch(emulator_thread.url), tmp_path, env={"NEXTMV_API_KEY": "wrong-key"})
    assert wrong.returncode == 3, wrong.stdout + wrong.stderr
    assert wrong.stderr.splitlines() == [
        f"asyncrun batch: stopped: the API key was refused by {emulator_thread.url} (401); "
        "check NEXTMV_API_KEY (or apikey in ~/.nextmv/config.yaml) and --url; nothing was "
        "canceled; run the batch again with the same journal to resume"
    ]
    assert "Traceback" not in wrong.stdout
    posts = emulator_thread.stats()["requests"][POST_RUNS]
    assert posts["401"] <= 20
    status = run_cli(["status", "--journal", "j.db"], tmp_path)
    assert "pending" in status.stdout and "terminal" not in status.stdout

    # The stop canceled POSTs that may have been sent: the resume looks them up only after
    # their deadline (connect + read timeout + submit margin; 100 s by default), so short ones.
    short = ("--connect-timeout", "1", "--read-timeout", "1", "--submit-margin", "1")
    fixed = run_cli(batch(emulator_thread.url, *short), tmp_path, env={"NEXTMV_API_KEY": KEY})
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "status succeeded" in fixed.stdout
    assert emulator_thread.stats()["runs_created"] == 60


@pytest.mark.slow  # the transport's own connect retries take a few seconds per submit
def test_an_endpoint_nobody_listens_on_stops_the_batch(tmp_path: Path) -> None:
    write_manifest(tmp_path / "manifest.jsonl", 300)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = run_cli(batch(url, "--unreachable-after", "0.5"), tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert lines[-1].startswith(f"asyncrun batch: stopped: {url} could not be reached for ")
    assert "check --url / NEXTMV_ENDPOINT and the network" in lines[-1]
    # The retry chatter: one line per distinct problem, then how many were folded.
    retries = [line for line in lines if line.startswith("asyncrun: retrying POST")]
    assert len(retries) == 1
    assert "repeated log lines were folded" in lines[-2]
