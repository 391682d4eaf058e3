"""run_batch against an emulator process: how close to the best possible makespan, at what cost.

Case "unlimited": 2,000 runs (`--runs`; 1,000 and 10,000 are the scale targets) of 1-3 s, the
duration set per run (`emulator.duration`, seeded), on the emulator's unlimited profile (client
preset unlimited, everything in flight at once). Reported: makespan / the time the emulator
finished its last run (both from the batch's start), polls and requests per run, client CPU per
run, the client's peak RSS, detection lag (the client seeing a run end minus the emulator ending
it), with the adaptive first poll on and off.

Case "quota": 1,500 runs of 110-130 s (set per run) on the realistic profile with the client
preset standard: a long sweep whose runs in flight cannot each be polled often within the
quota. Reported as above, plus status requests per run (metadata reads and list pages). The
emulator's quota windows do not follow its time_scale, so this case runs in real time (about
7 minutes: 300 s of submission at 5 runs/s, then the last runs' 2 minutes).

Case "realistic": 300 runs of 2-10 s on the emulator's realistic profile (5 runs/s, 200 results
per 10 s, 2,000 requests/min) with the client preset standard. Reported: makespan / lower bound,
where the lower bound is N/5 s of submission plus the duration of the last run submitted, and
the number of 429 answers.

Every output's input digest is checked against its scenario. The emulator runs in its own
process, so the CPU time measured here is the client's alone. The batch runs the way
`asyncrun batch` runs it (asyncrun._runtime: uvloop when installed, the throughput GC
settings); `--runtime plain` runs it on asyncio's default loop and collector instead.

    .venv/bin/python benchmarks/batch.py     # both cases, adaptive on and off (~3.5 min)
    .venv/bin/python benchmarks/batch.py --case unlimited --runs 2000
    .venv/bin/python benchmarks/batch.py --case realistic --runs 300
    .venv/bin/python benchmarks/batch.py --case unlimited --no-compare --runtime plain
    .venv/bin/python benchmarks/batch.py --case unlimited --runs 10000 --no-compare
    .venv/bin/python benchmarks/batch.py --case quota --no-compare          # ~7 min
    .venv/bin/python benchmarks/batch.py --case unlimited --runs 10000 --no-compare --journal-file

Every report also carries the load average when it ended (the machine may be shared).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from _harness import (
    api_requests,
    emulator_process,
    get_json,
    input_digest,
    route_count,
    status_count,
    status_reads,
)

import asyncrun
from asyncrun import _runtime
from asyncrun.batch.runner import BatchCounters, run_batch

APP = "bench-app"
KEY = "bench-key"
CREATES_PER_SECOND = 5.0
DEFAULT_RUNS = {"unlimited": 2000, "realistic": 300, "quota": 1500}


def _emulator(profile: str, duration: tuple[float, float]) -> AbstractContextManager[str]:
    low, high = str(duration[0]), str(duration[1])
    return emulator_process("--api-key", KEY, "--profile", profile, "--duration", low, high)


def _scenarios(
    runs: int, tag: str, durations: tuple[float, float] | None, expected: dict[str, str]
) -> Iterator[asyncrun.Scenario]:
    """The scenarios, made as the batch pulls them (as a user's generator would); the digest
    each output must carry goes into `expected`."""
    rng = random.Random(f"durations-{runs}")
    for i in range(runs):
        options = {}
        if durations is not None:
            options["emulator.duration"] = f"{rng.uniform(*durations):.3f}"
        scenario = asyncrun.Scenario(key=f"s{i:05d}", input={"bench": tag, "i": i}, options=options)
        expected[scenario.key] = input_digest(scenario.input)
        yield scenario


async def one_batch(
    url: str,
    runs: int,
    preset: asyncrun.RateLimits,
    *,
    adaptive: bool,
    tag: str,
    durations: tuple[float, float] | None = None,
    journal: str | None = None,
) -> dict[str, Any]:
    limits = asyncrun.Limits(max_connections=200, rate=preset)
    expected: dict[str, str] = {}
    scenarios = _scenarios(runs, tag, durations, expected)
    counters = BatchCounters()
    wall0, t0, cpu0 = time.time(), time.monotonic(), time.process_time()
    # Kept of each outcome: what the report needs (a stream's consumer keeps no more; the
    # client's memory is what is measured).
    detected: dict[str, float] = {}
    bad: list[str] = []
    last_outcome = t0
    async with asyncrun.AsyncClient(api_key=KEY, url=url, limits=limits) as client:
        app = client.application(APP)
        async for outcome in run_batch(
            app,
            scenarios,
            max_in_flight=runs,
            batch_tag=tag,
            adaptive_polling=adaptive,
            counters=counters,
            journal=journal,
        ):
            if not outcome.ok or outcome.output["input_digest"] != expected[outcome.key]:
                bad.append(outcome.key)
            if outcome.detected_at is not None:
                detected[outcome.run_name] = outcome.detected_at.timestamp()
            last_outcome = time.monotonic()
    makespan = time.monotonic() - t0
    # After the last outcome, the batch's end: the duplicate sweep (one listing of the runs
    # created meanwhile) and closing.
    after_last = time.monotonic() - last_outcome
    cpu = time.process_time() - cpu0
    stats = await get_json(url, "/_emulator/stats")
    run_log = await get_json(url, "/_emulator/runs")
    timeline = [r for r in run_log if r["name"].startswith(tag + "/")]
    ended = {r["name"]: r["ended"] for r in timeline}
    lags = [seen - ended[name] for name, seen in detected.items() if ended.get(name) is not None]
    last_submitted = max(timeline, key=lambda r: r["created"])
    return {
        "runs": runs,
        "outcomes": counters.finished,
        "wrong_or_failed": len(bad),
        "duplicates": sum(1 for n, c in stats["runs_per_name"].items() if c > 1),
        "makespan_s": makespan,
        "after_last_outcome_s": after_last,
        "emulator_last_end_s": max(ended.values()) - wall0,
        "last_submitted_duration_s": last_submitted["ended"] - last_submitted["started"],
        "polls_per_run": route_count(stats, "/metadata") / runs,
        # A result read beyond one per run was a poll that found its run not final yet.
        "status_requests_per_run": (
            status_reads(stats) + max(0, route_count(stats, "/runs/{run_id}") - runs)
        )
        / runs,
        "list_pages_per_run": route_count(stats, "/runs") / runs,
        "result_reads_per_run": route_count(stats, "/runs/{run_id}") / runs,
        "requests_per_run": api_requests(stats) / runs,
        "client_cpu_ms_per_run": 1000 * cpu / runs,
        "client_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "lag_mean_s": statistics.fmean(lags),
        "lag_p95_s": statistics.quantiles(lags, n=20)[-1],
        # The makespan waits for the runs that end last: their lag is what the ratio shows.
        "lag_last10_max_s": max(_tail_lags(detected, ended, 10)),
        "http_429": status_count(stats, "429"),
        "max_ahead": counters.max_ahead,
        # Runs created and not ended at the emulator at once: how many were really in flight.
        "emulator_max_in_flight": _most_at_once(timeline),
        "load_average_1m": os.getloadavg()[0],
    }


def _most_at_once(timeline: list[dict[str, Any]]) -> int:
    events = sorted(
        [(r["created"], 1) for r in timeline]
        + [(r["ended"], -1) for r in timeline if r["ended"] is not None]
    )
    most = now = 0
    for _, step in events:
        now += step
        most = max(most, now)
    return most


def _tail_lags(
    detected: dict[str, float], ended: dict[str, float | None], count: int
) -> list[float]:
    """The detection lags of the `count` runs that ended last."""
    last = sorted((end, name) for name, end in ended.items() if end is not None)[-count:]
    return [detected[name] - end for end, name in last if name in detected]


@dataclass(frozen=True)
class Case:
    """One benchmark case: the emulator's profile, the run durations and the client preset.
    `per_run`: the durations are set per run (`emulator.duration`) rather than drawn by the
    emulator; `quota`: the bound is N/5 s of submission plus the last run's duration (the
    create bucket paces the batch), else the emulator's last end."""

    name: str
    tag: str
    profile: str
    durations: tuple[float, float]
    preset: asyncrun.RateLimits
    per_run: bool
    quota: bool


CASES = {
    "unlimited": Case(
        "unlimited", "unl", "unlimited", (1.0, 3.0), asyncrun.RateLimits.unlimited(), True, False
    ),
    "realistic": Case(
        "realistic/standard",
        "real",
        "realistic",
        (2.0, 10.0),
        asyncrun.RateLimits.standard(),
        False,
        True,
    ),
    "quota": Case(
        "quota: realistic/standard",
        "quota",
        "realistic",
        (110.0, 130.0),
        asyncrun.RateLimits.standard(),
        True,
        True,
    ),
}


async def run_case(
    case: Case, runs: int, compare: bool, *, journal_file: bool = False
) -> list[dict[str, Any]]:
    reports = []
    for adaptive in (True, False) if compare else (True,):
        with (
            _emulator(case.profile, case.durations) as url,
            tempfile.TemporaryDirectory() as scratch,
        ):
            report = await one_batch(
                url,
                runs,
                case.preset,
                adaptive=adaptive,
                tag=f"{case.tag}-{'adaptive' if adaptive else 'plain'}",
                durations=case.durations if case.per_run else None,
                journal=os.path.join(scratch, "journal.db") if journal_file else None,
            )
            report["journal"] = "file" if journal_file else "memory"
        if case.quota:
            report["lower_bound_s"] = (
                runs / CREATES_PER_SECOND + report["last_submitted_duration_s"]
            )
        else:
            report["lower_bound_s"] = report["emulator_last_end_s"]
        report["case"] = f"{case.name}, adaptive={'on' if adaptive else 'off'}"
        report["ratio"] = report["makespan_s"] / report["lower_bound_s"]
        reports.append(report)
    return reports


def _print(reports: list[dict[str, Any]]) -> None:
    for r in reports:
        print(f"\n== {r['case']}: {r['runs']} runs")
        for key, value in r.items():
            if key in ("case", "runs"):
                continue
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"  {key:28s} {shown}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--case", choices=["unlimited", "realistic", "quota", "both"], default="both"
    )
    parser.add_argument("--runs", type=int, default=None, help="override the number of runs")
    parser.add_argument(
        "--no-compare", action="store_true", help="skip the runs with adaptive polling off"
    )
    parser.add_argument(
        "--runtime",
        choices=["cli", "plain"],
        default="cli",
        help="cli: as `asyncrun batch` runs (uvloop if installed, tuned GC); plain: defaults",
    )
    parser.add_argument("--json", action="store_true", help="print the reports as JSON too")
    parser.add_argument(
        "--journal-file",
        action="store_true",
        help="journal in an SQLite file (as `asyncrun batch` keeps it), not in memory",
    )
    args = parser.parse_args()
    tuned = args.runtime == "cli"
    loop = _runtime.loop_name() if tuned else "asyncio"
    runtime = f"{loop}, " + ("tuned GC, 0.2 ms switch interval" if tuned else "defaults")
    reports: list[dict[str, Any]] = []
    chosen = ["unlimited", "realistic"] if args.case == "both" else [args.case]
    for name in chosen:
        runs = args.runs or DEFAULT_RUNS[name]
        case = run_case(CASES[name], runs, not args.no_compare, journal_file=args.journal_file)
        reports += _runtime.run(case, tuned=tuned)
    for report in reports:
        report["runtime"] = runtime
    _print(reports)
    if args.json:
        print(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
