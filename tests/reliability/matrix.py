"""The reliability matrix: one batch per cell through one fault kind at a stated rate, checked
against the emulator's own record of what it created.

Each scenario carries its key as a run option and has an input whose digest the output echoes,
so a result attributed to the wrong scenario is seen. A third of the scenarios have text input,
which always goes through a presigned upload (the storage cells need uploads to fault).

`python -m tests.reliability.report` runs the same cells, larger, and prints the table.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncrun import AsyncClient, Limits, RateLimits, RetryPolicy, RunOutcome, Timeouts
from asyncrun.batch.runner import BatchCounters, run_batch_all
from asyncrun.emulator import EmulatorConfig, FaultProfile, serve

KEY = "test-key"
APP = "reliability"

# The client of every cell: short timeouts so that a `slow` answer outlives the read timeout,
# and a short margin so that a submit's deadline (connect + read + margin) is seconds, not
# minutes; fast retries. The emulator runs at time scale 20 (a run of 1-4 simulated seconds
# takes 0.05-0.2 real seconds).
TIMEOUTS = Timeouts(connect=1.0, read=1.0)
RETRY = RetryPolicy(max_attempts=6, initial_delay=0.05, max_delay=0.5, max_retry_after=2.0)
SUBMIT_MARGIN = 1.0
DEADLINE = TIMEOUTS.connect + TIMEOUTS.read + SUBMIT_MARGIN
TIME_SCALE = 20.0
MAX_IN_FLIGHT = 100


@dataclass(frozen=True)
class Cell:
    """One row of the matrix: a fault kind at a stated rate."""

    fault: str
    rate: str
    faults: FaultProfile = field(default_factory=FaultProfile)
    profile: str = "unlimited"
    url_ttl: float = 900.0
    duration: tuple[float, float] = (1.0, 4.0)  # simulated seconds
    # Late creates may land after their deadline: extras are expected, and must be canceled.
    extras_expected: bool = False


CELLS: tuple[Cell, ...] = (
    Cell("429 with Retry-After", "5 %", FaultProfile(rate_429=0.05)),
    Cell("429 without Retry-After", "5 %", FaultProfile(rate_429_bare=0.05)),
    Cell("500", "5 %", FaultProfile(rate_500=0.05)),
    Cell("502 / 503", "2.5 % + 2.5 %", FaultProfile(rate_502=0.025, rate_503=0.025)),
    Cell("dropped connection", "5 %", FaultProfile(drop=0.05)),
    Cell(
        "slow answer past the read timeout",
        "3 %, 1.5 s",
        FaultProfile(slow=0.03, slow_seconds=1.5),
    ),
    Cell("lost_create (run made, answer lost)", "5 % of POSTs", FaultProfile(lost_create=0.05)),
    Cell(
        "late_create before the deadline",
        "5 % of POSTs, 1.5 s",
        FaultProfile(late_create=0.05, late_seconds=1.5),
    ),
    Cell(
        "late_create after the deadline",
        "5 % of POSTs, 4.5 s",
        FaultProfile(late_create=0.05, late_seconds=DEADLINE + 1.5),
        # A resubmitted run outlasts the 1.5 s between its deadline and the late create, by
        # 2.5 s or more: every late create lands before the end-of-batch sweep.
        duration=(80.0, 100.0),
        extras_expected=True,
    ),
    Cell(
        "storage 500 + dropped uploads",
        "5 % + 5 % of PUTs",
        FaultProfile(storage_500=0.05, storage_drop=0.05),
    ),
    Cell("upload URLs expiring before the PUT", "TTL 5 ms", url_ttl=0.005),
    Cell("realistic rate profile", "5 runs/s", profile="realistic"),
)


def digest_of(value: Any) -> str:
    if isinstance(value, str):
        return hashlib.sha256(value.encode()).hexdigest()
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def scenarios(count: int) -> list[dict[str, Any]]:
    out = []
    for i in range(count):
        key = f"s{i:04d}"
        value: Any = f"text input {i}\n" * 3 if i % 3 == 0 else {"i": i, "key": key}
        out.append({"key": key, "input": value, "options": {"scenario": key}})
    return out


@dataclass
class CellResult:
    cell: Cell
    scenarios: int
    succeeded: int = 0
    errors: int = 0
    wrong: list[str] = field(default_factory=list)  # results attributed to the wrong scenario
    unclear: list[str] = field(default_factory=list)  # errors with no clear reason
    reasons: Counter[str] = field(default_factory=Counter)  # error messages, first line
    lost: list[str] = field(default_factory=list)  # scenarios with no outcome
    duplicates_created: int = 0  # runs beyond one per name, at the end
    duplicates_canceled: int = 0  # of those, canceled (by the batch's sweep)
    duplicates_reported: int = 0  # extra runs the batch reported
    left_running: list[str] = field(default_factory=list)  # extra runs still running
    faults: dict[str, int] = field(default_factory=dict)

    def row(self) -> list[str]:
        return [
            self.cell.fault,
            self.cell.rate,
            str(self.scenarios),
            str(self.succeeded),
            str(self.errors),
            f"{self.duplicates_created} / {self.duplicates_canceled}",
            str(len(self.lost)),
        ]


def emulator_config(cell: Cell, seed: int) -> EmulatorConfig:
    return EmulatorConfig(
        api_key=KEY,
        time_scale=TIME_SCALE,
        duration=cell.duration,
        faults=cell.faults,
        rate_profile=cell.profile,  # type: ignore[arg-type]
        url_ttl=cell.url_ttl,
        seed=seed,
    )


def client(url: str, cell: Cell) -> AsyncClient:
    rate = RateLimits.standard() if cell.profile == "realistic" else RateLimits.unlimited()
    return AsyncClient(
        api_key=KEY,
        url=url,
        timeouts=TIMEOUTS,
        retry=RETRY,
        limits=Limits(rate=rate, max_connections=MAX_IN_FLIGHT),
    )


async def run_cell(cell: Cell, count: int, journal: Path, *, seed: int = 1) -> CellResult:
    """Run one cell's batch against a fresh emulator and check it against the emulator."""
    items = scenarios(count)
    counters = BatchCounters()
    async with serve(emulator_config(cell, seed)) as emu:
        async with client(emu.url, cell) as api:
            app = api.application(APP)
            outcomes = await run_batch_all(
                app,
                items,
                journal=journal,
                batch_tag="rel",
                max_in_flight=MAX_IN_FLIGHT,
                counters=counters,
                submit_margin=SUBMIT_MARGIN,
            )
        await emu.state.late_creates_done()
        result = check(cell, items, outcomes, emu.runs(), counters)
        result.faults = dict(emu.stats()["faults"])
    return result


def check(
    cell: Cell,
    items: list[dict[str, Any]],
    outcomes: list[RunOutcome],
    runs: list[dict[str, Any]],
    counters: BatchCounters,
) -> CellResult:
    result = CellResult(cell, len(items))
    by_key = {o.key: o for o in outcomes}
    for item in items:
        outcome = by_key.get(item["key"])
        if outcome is None:
            result.lost.append(item["key"])
        elif outcome.status == "succeeded":
            output = outcome.output
            if (
                not isinstance(output, dict)
                or output.get("input_digest") != digest_of(item["input"])
                or output.get("options", {}).get("scenario") != item["key"]
            ):
                result.wrong.append(item["key"])
            else:
                result.succeeded += 1
        else:
            result.errors += 1
            result.reasons[(outcome.error or outcome.status).splitlines()[0][:160]] += 1
            if outcome.status != "error" or not outcome.error or ": " not in outcome.error:
                result.unclear.append(f"{item['key']}: {outcome.status} {outcome.error}")
    per_name: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        per_name.setdefault(run["name"], []).append(run)
    for name, named in per_name.items():
        kept = {o.run_id for o in outcomes if o.run_name == name}
        for extra in [r for r in named if r["id"] not in kept][: len(named) - 1]:
            result.duplicates_created += 1
            if extra["status"] == "canceled":
                result.duplicates_canceled += 1
            elif extra["status"] in ("queued", "running"):
                result.left_running.append(extra["id"])
    result.duplicates_reported = len(counters.duplicate_runs)
    return result
