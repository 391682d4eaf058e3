"""The summary says why scenarios did not succeed, grouped with counts and example keys."""

from __future__ import annotations

import re
from pathlib import Path

from asyncrun.batch.outcome import RunOutcome
from asyncrun.cli.render import Summary, reason_of
from asyncrun.emulator import ThreadedEmulator

from .conftest import run_cli


def _outcome(key: str, status: str, error: str | None) -> RunOutcome:
    return RunOutcome(key=key, run_name=f"t/{key}", run_id=None, status=status, error=error)


def test_reasons_group_what_differs_only_by_key_path_or_id() -> None:
    assert (
        reason_of(_outcome("s1", "error", "ConfigError: input file 'in/s1.json' is not valid JSON"))
        == "input file is not valid JSON"
    )
    assert reason_of(
        _outcome(
            "s2",
            "error",
            "ServerError: GET http://h/v1/applications/a/runs/run-9f/metadata failed "
            '(status 500, request id 7c1e): {"error": "boom"}',
        )
    ) == (
        'GET http://h/v1/applications/a/runs/{id}/metadata failed (status 500): {"error": "boom"}'
    )
    assert reason_of(_outcome("s3", "canceled", None)) == "run canceled"


def test_summary_lists_reasons_most_frequent_first_with_example_keys() -> None:
    summary = Summary()
    for i in range(198):
        error = f"ConfigError: input file 'in/s{i:03d}.json' is not valid JSON"
        summary.add(_outcome(f"s{i:03d}", "error", error), None)
    for i in range(3):
        summary.add(_outcome(f"f{i}", "failed", "infeasible"), None)
    for i in range(311):
        summary.add(_outcome(f"ok{i}", "succeeded", None), 1.0)
    assert summary.reason_lines() == [
        "198 error: input file is not valid JSON (s000, s001, s002, ...)",
        "  3 failed: infeasible (f0, f1, f2)",
    ]


def test_summary_shows_ten_reasons_then_points_to_the_csv() -> None:
    summary = Summary()
    for i in range(12):
        summary.add(_outcome(f"k{i}", "failed", f"problem number {chr(65 + i)}"), None)
    lines = summary.reason_lines()
    assert len(lines) == 11
    assert lines[-1] == "... 2 more reasons (2 scenarios): see the error column of summary.csv"


def test_batch_prints_the_grouped_reasons(
    emulator_thread: ThreadedEmulator, tmp_path: Path
) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i in range(12):
        text = "{not json" if i % 2 == 0 else f'{{"i": {i}}}'
        (inputs / f"s{i:03d}.json").write_text(text)
    sources = sorted(str(p.relative_to(tmp_path)) for p in inputs.iterdir())
    url = ["--url", emulator_thread.url, "--limits", "unlimited"]
    result = run_cli(
        ["batch", "--app-id", "reasons", *sources, "--journal", "j.db", "--out", "out", *url],
        tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "why scenarios did not succeed:" in result.stdout
    line = re.search(r"6 error: input file is not valid JSON \((.*)\)", result.stdout)
    assert line is not None, result.stdout
    keys = line.group(1).split(", ")
    assert len(keys) == 4 and keys[-1] == "..."
    assert all(re.fullmatch(r"in/s\d\d\d", k) and int(k[-3:]) % 2 == 0 for k in keys[:3])
    assert emulator_thread.stats()["runs_created"] == 6
