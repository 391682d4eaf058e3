"""The CLI's summary.csv: written as outcomes arrive, and left alone by a batch that stops
before its first outcome."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from asyncrun.batch.outcome import RunOutcome
from asyncrun.cli.render import SummaryCSV
from asyncrun.errors import JournalLockedError


def _outcome(key: str) -> RunOutcome:
    return RunOutcome(key=key, run_name=f"t/{key}", run_id=f"run-{key}", status="succeeded")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as source:
        return list(csv.DictReader(source))


def test_a_batch_stopped_before_any_outcome_leaves_an_existing_summary_as_it_was(
    tmp_path: Path,
) -> None:
    """Two batches with one --out: the one refused the journal (another process holds it) must
    not truncate the summary the other one writes."""
    path = tmp_path / "out" / "summary.csv"
    with SummaryCSV(path) as table:
        table.write(_outcome("a"), 1.0)
    before = path.read_bytes()
    with pytest.raises(JournalLockedError), SummaryCSV(path):
        raise JournalLockedError("j.db", pid=1, host="h", since="now")
    assert path.read_bytes() == before
    assert [row["key"] for row in _rows(path)] == ["a"]


def test_a_batch_with_no_scenario_still_writes_its_header(tmp_path: Path) -> None:
    path = tmp_path / "out" / "summary.csv"
    with SummaryCSV(path):
        pass
    assert _rows(path) == []
    assert path.read_text(encoding="utf-8").startswith("key,status,")


def test_duplicates_are_filled_in_after_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "summary.csv"
    with SummaryCSV(path) as table:
        table.write(_outcome("a"), None)
        table.write(_outcome("b"), None)
        table.add_duplicates([])
    assert [row["key"] for row in _rows(path)] == ["a", "b"]
