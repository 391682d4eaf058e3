"""The CLI's summary.csv: written as outcomes arrive, left alone by a batch that fails before
its first outcome, written by an interrupted one, and a write failure kept, not raised; the
progress line's submissions in doubt."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.outcome import RunOutcome
from asyncrun.cli.render import SummaryCSV, progress_detail
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


def test_an_interrupted_batch_writes_its_summary_even_with_no_outcome(tmp_path: Path) -> None:
    path = tmp_path / "out" / "summary.csv"
    with pytest.raises(asyncio.CancelledError), SummaryCSV(path):
        raise asyncio.CancelledError
    assert path.read_text().startswith("key,status,run_id")


def test_a_summary_that_cannot_be_written_says_why_and_stops_nothing(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file where the folder goes")
    with SummaryCSV(tmp_path / "out" / "summary.csv") as table:
        table.write(_outcome("a"), 1.0)
        table.write(_outcome("b"), 2.0)
        table.add_duplicates([])
    assert table.error is not None and "exists" in table.error.lower()


def test_the_progress_line_says_how_many_submissions_are_in_doubt_and_until_when() -> None:
    counters = BatchCounters()
    assert "in doubt" not in progress_detail(counters, 1.0)
    until = datetime(2026, 12, 7, 15, 42, 10, tzinfo=UTC)
    counters.waiting_for(until)
    counters.waiting_for(until - timedelta(seconds=30))
    shown = until.astimezone().strftime("%H:%M:%S")
    assert f"2 submissions in doubt until {shown}" in progress_detail(counters, 1.0)
    counters.waited_for(until)
    counters.waited_for(until - timedelta(seconds=30))
    assert "in doubt" not in progress_detail(counters, 1.0)
    assert counters.deadline_waits == 2
