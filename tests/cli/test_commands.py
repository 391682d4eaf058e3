"""`asyncrun demo`, `asyncrun run` and `asyncrun status`."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from asyncrun.emulator import ThreadedEmulator

from .conftest import run_cli

Factory = Callable[..., AbstractContextManager[ThreadedEmulator]]


def test_demo_runs_a_sweep_and_prints_the_summary(tmp_path: Path) -> None:
    result = run_cli(
        ["demo", "--scenarios", "40", "--duration", "0.1", "0.4", "--out", "demo-out"], tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "batch summary" in result.stdout
    assert "status succeeded" in result.stdout and "status failed" in result.stdout
    assert "40 runs created, 0 names submitted twice" in result.stdout
    rows = (tmp_path / "demo-out/summary.csv").read_text().strip().splitlines()
    assert len(rows) == 41  # header + one per scenario
    assert len(list((tmp_path / "demo-out/results").rglob("*.json"))) == 40


def test_run_waits_and_writes_the_output(emulator_thread: ThreadedEmulator, tmp_path: Path) -> None:
    (tmp_path / "in.json").write_text('{"x": 1}')
    result = run_cli(
        [
            "run",
            "--app-id",
            "one-app",
            "in.json",
            "--option",
            "seed=4",
            "--output",
            "o.json",
            "--url",
            emulator_thread.url,
            "--limits",
            "unlimited",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run_id = result.stdout.splitlines()[0]
    output = json.loads((tmp_path / "o.json").read_text())
    assert output["options"] == {"seed": "4"}
    assert [r["id"] for r in emulator_thread.runs()] == [run_id]


def test_run_reports_a_failed_run(emulator_thread: ThreadedEmulator, tmp_path: Path) -> None:
    result = run_cli(
        [
            "run",
            "--app-id",
            "one-app",
            "--input-json",
            "{}",
            "--option",
            "emulator.fail=nope",
            "--wait",
            "--url",
            emulator_thread.url,
        ],
        tmp_path,
    )
    assert result.returncode == 1
    assert "failed" in result.stdout and "nope" in result.stdout


def test_run_without_wait_only_submits(emulator_thread: ThreadedEmulator, tmp_path: Path) -> None:
    result = run_cli(
        ["run", "--app-id", "one-app", "--input-json", '{"a": 1}', "--url", emulator_thread.url],
        tmp_path,
    )
    assert result.returncode == 0
    assert result.stdout.strip() == emulator_thread.runs()[0]["id"]


def test_status_of_a_missing_journal_is_an_error(tmp_path: Path) -> None:
    result = run_cli(["status", "--journal", "nope.db"], tmp_path)
    assert result.returncode == 2
    assert "no journal" in result.stderr
    assert not (tmp_path / "nope.db").exists()
