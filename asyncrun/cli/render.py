"""What the batch commands show and write: the live progress display, the summary table and
the summary CSV."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import math
import re
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from asyncrun.batch.counters import BatchCounters
from asyncrun.batch.outcome import DuplicateRun, RunOutcome

__all__ = [
    "CSV_FIELDS",
    "BatchProgress",
    "Summary",
    "SummaryCSV",
    "progress_detail",
    "reason_of",
]

DEFAULT_INSTANCE = "(default)"
"""How a scenario with no instance id (the app's default instance) is shown."""

CSV_FIELDS = (
    "key",
    "status",
    "run_id",
    "run_name",
    "instance_id",
    "value",
    "metrics",
    "run_duration_s",
    "polls",
    "attempts",
    "resumed",
    "submitted_at",
    "finished_at",
    "detected_at",
    "result_file",
    "error",
    "duplicate_runs",
)


def progress_detail(counters: BatchCounters, elapsed: float) -> str:
    """`queued 12 · running 80 · succeeded 100 · failed 3 · 14.2 runs/s`, and while
    submissions in doubt wait for their deadline, `· 2 submissions in doubt until 15:42:10`."""
    done = counters.finished - counters.skipped
    rate = done / elapsed if elapsed > 0 else 0.0
    failed = counters.failed + counters.canceled + counters.errors
    parts = [
        f"queued {counters.queued}",
        f"running {counters.running}",
        f"[green]succeeded {counters.succeeded}[/]",
        f"[red]failed {failed}[/]",
    ]
    if counters.skipped:
        parts.append(f"skipped {counters.skipped}")
    parts.append(f"{rate:.1f} runs/s")
    until = counters.in_doubt_until
    if until is not None:
        parts.append(
            f"[yellow]{counters.in_doubt} submissions in doubt until "
            f"{until.astimezone():%H:%M:%S} (looked up by name then)[/]"
        )
    return " · ".join(parts)


class _Detail:
    """The counts line under the bar (a renderable whose text changes)."""

    def __init__(self) -> None:
        self.text = Text("starting")

    def __rich__(self) -> Text:
        return self.text


class BatchProgress:
    """A live display for a batch: a bar with done/total and ETA, and a line of counts
    (queued, running, succeeded, failed, rate). `refresh(counters)` is cheap."""

    def __init__(self, total: int | None, console: Console | None = None) -> None:
        self._progress = Progress(
            BarColumn(bar_width=None),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
        )
        self._task: TaskID = self._progress.add_task("batch", total=total)
        self._detail = _Detail()
        self._live = Live(
            Group(self._progress, self._detail), console=console, refresh_per_second=5
        )

    def __enter__(self) -> BatchProgress:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()
        if not self._live.console.is_terminal:
            self._live.console.line()  # the last frame has no newline when not on a terminal

    def refresh(self, counters: BatchCounters, elapsed: float) -> None:
        self._progress.update(self._task, completed=counters.finished)
        self._detail.text = Text.from_markup(progress_detail(counters, elapsed))


def _spread(values: list[float]) -> tuple[str, str, str]:
    if not values:
        return ("-", "-", "-")
    return (
        f"{min(values):.3g}",
        f"{statistics.median(values):.3g}",
        f"{max(values):.3g}",
    )


def _p95(values: list[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class _Group:
    """The outcomes of one instance."""

    statuses: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, outcome: RunOutcome, value: float | None) -> None:
        self.statuses[outcome.status] += 1
        if outcome.run_duration is not None:
            self.durations.append(outcome.run_duration)
        if value is not None:
            self.values.append(value)

    def cells(self) -> tuple[str, str, str, str, str]:
        failed = sum(n for status, n in self.statuses.items() if status != "succeeded")
        durations, values = self.durations, self.values
        return (
            str(self.statuses.get("succeeded", 0)),
            str(failed),
            f"{statistics.median(durations):.3g}" if durations else "-",
            f"{_p95(durations):.3g}" if durations else "-",
            f"{statistics.median(values):.6g}" if values else "-",
        )


_ERROR_CLASS = re.compile(r"^[A-Za-z]*Error: ")
_QUOTED = re.compile(r"\s*'[^']*'")
_REQUEST_ID = re.compile(r",? request id [^),]*")
_RUN_PATH = re.compile(r"/runs/[^/\s?:]+")
_REASON_WIDTH = 160
_EXAMPLE_KEYS = 3
_SHOWN_REASONS = 10


def reason_of(outcome: RunOutcome) -> str:
    """What went wrong, with what differs between scenarios taken out (the class name, quoted
    paths and keys, request ids, run ids in URLs), so that the same problem groups together:
    "ConfigError: input file 'in/s001.json' is not valid JSON" -> "input file is not valid
    JSON"."""
    text = " ".join((outcome.error or f"run {outcome.status}").split())
    text = _ERROR_CLASS.sub("", text)
    text = _QUOTED.sub("", text)
    text = _REQUEST_ID.sub("", text)
    text = _RUN_PATH.sub("/runs/{id}", text).strip().rstrip(":").strip()
    if len(text) > _REASON_WIDTH:
        text = text[: _REASON_WIDTH - 3] + "..."
    return text or f"run {outcome.status}"


@dataclass
class _Reason:
    count: int = 0
    keys: list[str] = field(default_factory=list)


@dataclass
class Summary(_Group):
    """Status counts, the spread of run durations and result values of a batch, the same per
    instance (`instance_table`), and why the scenarios that did not succeed did not, grouped
    (`reason_lines`)."""

    reasons: dict[tuple[str, str], _Reason] = field(default_factory=dict)
    instances: dict[str, _Group] = field(default_factory=dict)
    duplicates: list[DuplicateRun] = field(default_factory=list)
    unwritten: list[str] = field(default_factory=list)  # "<path>: <why>" per result not written

    def add(self, outcome: RunOutcome, value: float | None) -> None:
        super().add(outcome, value)
        if outcome.write_error is not None:
            self.unwritten.append(outcome.write_error)
        name = outcome.instance_id or DEFAULT_INSTANCE
        self.instances.setdefault(name, _Group()).add(outcome, value)
        if outcome.status != "succeeded":
            reason = self.reasons.setdefault((outcome.status, reason_of(outcome)), _Reason())
            reason.count += 1
            if len(reason.keys) < _EXAMPLE_KEYS:
                reason.keys.append(outcome.key)

    def reason_lines(self) -> list[str]:
        """`198 error: input file is not valid JSON (s001, s002, s003, ...)`, most frequent
        first; the first ten reasons, then how many more there are."""
        ranked = sorted(self.reasons.items(), key=lambda kv: (-kv[1].count, kv[0]))
        width = len(str(ranked[0][1].count)) if ranked else 1
        lines = []
        for (status, text), reason in ranked[:_SHOWN_REASONS]:
            keys = ", ".join(reason.keys) + (", ..." if reason.count > len(reason.keys) else "")
            lines.append(f"{reason.count:>{width}} {status}: {text} ({keys})")
        if len(ranked) > _SHOWN_REASONS:
            rest = sum(r.count for _, r in ranked[_SHOWN_REASONS:])
            lines.append(
                f"... {len(ranked) - _SHOWN_REASONS} more reasons ({rest} scenarios): "
                "see the error column of summary.csv"
            )
        return lines

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def table(self) -> Table:
        table = Table(title="batch summary", show_header=True)
        table.add_column("")
        table.add_column("count / min", justify="right")
        table.add_column("median", justify="right")
        table.add_column("max", justify="right")
        for status, count in sorted(self.statuses.items()):
            table.add_row(f"status {status}", str(count), "", "")
        table.add_row("total", str(self.total), "", "")
        table.add_row("run duration (s)", *_spread(self.durations))
        table.add_row("result value", *_spread(self.values))
        if self.duplicates:
            canceled = sum(1 for d in self.duplicates if d.canceled)
            names = len({d.run_name for d in self.duplicates})
            table.add_row(
                "duplicate runs",
                str(len(self.duplicates)),
                f"{canceled} canceled",
                f"{names} names",
            )
        return table

    def instance_table(self) -> Table:
        """One row per instance: succeeded, failed, median and p95 run duration, median
        value."""
        table = Table(title="by instance", show_header=True)
        table.add_column("instance")
        for name in ("succeeded", "failed", "median s", "p95 s", "median value"):
            table.add_column(name, justify="right")
        for name in sorted(self.instances):
            table.add_row(name, *self.instances[name].cells())
        return table

    def tables(self) -> list[Table]:
        """The summary, and the per-instance table when the batch ran on several instances."""
        if len(self.instances) > 1:
            return [self.table(), self.instance_table()]
        return [self.table()]


class SummaryCSV:
    """One row per scenario, written as outcomes arrive (so an interrupted batch keeps its
    rows). The file is opened at the first row, or at the end with none (a clean end, or an
    interrupt: an interrupted batch has its summary too); a batch that fails before any
    outcome, e.g. refused a journal another process holds, leaves an existing summary as it
    was. A file that cannot be written stops the writing, not the batch: `error` says why."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.error: str | None = None
        self._file: IO[str] | None = None
        self._writer: Any = None
        self._entered = False
        self._made = False  # the file was (re)written by this summary

    def __enter__(self) -> SummaryCSV:
        self._entered = True
        return self

    def _open(self) -> Any:
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.DictWriter(self._file, fieldnames=CSV_FIELDS)
            self._writer.writeheader()
            self._made = True
        return self._writer

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        ended = exc_type is None or issubclass(exc_type, asyncio.CancelledError)
        if ended and not self._made:
            self._writing(self._open)  # a batch with no outcome still gets its (empty) summary
        self._entered = False
        file, self._file = self._file, None
        self._writer = None
        if file is not None:
            self._writing(file.close)

    def _writing(self, write: Callable[[], object]) -> None:
        """Do `write` unless an earlier write failed; an OSError is kept in `error`."""
        if self.error is not None:
            return
        try:
            write()
        except OSError as exc:
            self.error = exc.strerror or str(exc)
            file, self._file = self._file, None
            self._writer = None
            if file is not None:
                with contextlib.suppress(OSError):
                    file.close()

    def write(self, outcome: RunOutcome, value: float | None) -> None:
        if not self._entered:
            raise RuntimeError("SummaryCSV is not open")
        row = {
            "key": outcome.key,
            "status": outcome.status,
            "run_id": outcome.run_id or "",
            "run_name": outcome.run_name,
            "instance_id": outcome.instance_id or "",
            "value": "" if value is None else repr(value),
            "metrics": _json(outcome.metrics),
            "run_duration_s": "" if outcome.run_duration is None else outcome.run_duration,
            "polls": outcome.polls,
            "attempts": outcome.attempts,
            "resumed": outcome.resumed,
            "submitted_at": _iso(outcome.submitted_at),
            "finished_at": _iso(outcome.finished_at),
            "detected_at": _iso(outcome.detected_at),
            "result_file": outcome.result_location or "",
            "error": outcome.error or "",
            "duplicate_runs": describe_duplicates(outcome.duplicates),
        }
        self._writing(lambda: self._open().writerow(row))

    def add_duplicates(self, found: list[DuplicateRun]) -> None:
        """Fill `duplicate_runs` of the rows the end-of-batch sweep concerns (the file is
        closed, rewritten with them, and replaced)."""
        self._writing(lambda: self._rewrite(found))

    def _rewrite(self, found: list[DuplicateRun]) -> None:
        self._open()  # made, if no row was written yet
        if self._file is not None:
            self._file.close()
            self._file = self._writer = None
        by_key: dict[str, list[DuplicateRun]] = {}
        for duplicate in found:
            by_key.setdefault(duplicate.key, []).append(duplicate)
        with self.path.open(encoding="utf-8", newline="") as source:
            rows = list(csv.DictReader(source))
        temp = self.path.with_name(self.path.name + ".tmp")
        with temp.open("w", encoding="utf-8", newline="") as sink:
            writer = csv.DictWriter(sink, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for row in rows:
                if row["key"] in by_key:
                    row["duplicate_runs"] = describe_duplicates(by_key[row["key"]])
                writer.writerow(row)
        temp.replace(self.path)


def describe_duplicates(found: tuple[DuplicateRun, ...] | list[DuplicateRun]) -> str:
    """`run-2 (canceled by the sweep); run-3 (succeeded, left)`."""
    return "; ".join(
        f"{d.run_id} ({'canceled by the sweep' if d.canceled else d.status + ', left'})"
        for d in found
    )


def _json(value: Any) -> str:
    return "" if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)


def _iso(value: Any) -> str:
    return value.isoformat() if value is not None else ""
