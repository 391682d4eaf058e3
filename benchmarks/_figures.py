"""The arithmetic of the comparison, kept pure (no I/O, no clients) so it can be unit-tested:
one repetition's figures from what the client child and the emulator reported, medians with
their spread over repetitions, and the shape of a results document."""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

# Figures summarised over repetitions (median, min, max), in table order.
SUMMARISED = (
    "makespan_s",
    "finish_line_s",
    "makespan_over_finish_line",
    "bound_s",
    "makespan_over_bound",
    "requests_per_run",
    "polls_per_run",
    "lag_median_s",
    "lag_p95_s",
    "client_cpu_ms_per_run",
    "peak_rss_mb",
    "connections",
    "tls_handshakes",
    "http_429",
    "completed",
    "failed",
    "wrong_results",
)

MIB = 1024 * 1024


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median and the min-max range of a non-empty sequence."""
    if not values:
        raise ValueError("spread of no values")
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def p95(values: Sequence[float]) -> float:
    """95th percentile, linear between the closest ranks (the value itself for one value)."""
    if not values:
        raise ValueError("p95 of no values")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def error_kind(message: str) -> str:
    """A short, id-free label for a client error, e.g. `HTTPError 429 on POST runs`."""
    kind, _, text = message.partition(": ")
    status = next((w for w in text.replace(",", " ").split() if w.isdigit() and len(w) == 3), "")
    if "/metadata" in text:
        where = "GET metadata"
    elif "/runs/" in text:
        where = "GET run"
    elif "/runs" in text:
        where = "POST runs"
    else:
        where = ""
    return " ".join(part for part in (kind, status, f"on {where}" if where else "") if part)


def repetition_figures(
    child: Mapping[str, Any],
    *,
    expected_digests: Sequence[str],
    timeline: Sequence[Mapping[str, Any]],
    requests: int,
    polls: int,
    http_429: int,
    bound_s: float | None,
) -> dict[str, Any]:
    """One client's figures for one repetition.

    `child`: what the client process reported (t0 and per-run `seen` are epoch seconds, runs by
    index); `timeline`: the emulator's /_emulator/runs (real created/started/ended); `requests`,
    `polls`, `http_429`: the emulator's counters. A run counts as completed when the client
    holds a succeeded result whose `input_digest` is its input's; a wrong digest is a wrong
    result; anything else (an error, another status) is failed.
    """
    runs = len(expected_digests)
    t0 = float(child["t0"])
    ended = {r["id"]: r["ended"] for r in timeline if r.get("ended") is not None}
    completed_at: list[float] = []
    lags: list[float] = []
    wrong = failed = 0
    failures: list[tuple[float, str]] = []
    for item in child["runs"]:
        if item.get("error") is not None or item.get("status") != "succeeded":
            failed += 1
            message = item.get("error") or f"status {item.get('status')}"
            failures.append((float(item.get("seen") or child["t_end"]) - t0, message))
            continue
        if item.get("digest") != expected_digests[item["i"]]:
            wrong += 1
            continue
        completed_at.append(float(item["seen"]) - t0)
        end = ended.get(item.get("run_id"))
        if end is not None:
            lags.append(float(item["seen"]) - end)
    completed_at.sort()
    makespan = float(child["makespan_s"])
    finish_line = max(ended.values()) - t0 if ended else None
    created = [float(r["created"]) - t0 for r in timeline if r.get("created") is not None]
    figures: dict[str, Any] = {
        "runs": runs,
        "completed": len(completed_at),
        "failed": failed,
        "wrong_results": wrong,
        "makespan_s": makespan,
        "finish_line_s": finish_line,
        "makespan_over_finish_line": makespan / finish_line if finish_line else None,
        "last_created_s": max(created) if created else None,
        "bound_s": bound_s,
        "makespan_over_bound": makespan / bound_s if bound_s else None,
        "requests_per_run": requests / runs,
        "polls_per_run": polls / runs,
        "lag_median_s": statistics.median(lags) if lags else None,
        "lag_p95_s": p95(lags) if lags else None,
        "client_cpu_ms_per_run": 1000 * float(child["cpu_s"]) / runs,
        "peak_rss_mb": int(child["peak_rss_bytes"]) / MIB,
        "http_429": http_429,
        "completed_at_s": [round(t, 3) for t in completed_at],
    }
    if failures:
        figures["failure"] = failure_summary(failures, completed_at)
        figures["failed_at_s"] = sorted(round(at, 3) for at, _ in failures)
    return figures


def client_connections(stats: Mapping[str, Any]) -> dict[str, int]:
    """Connections (and TLS handshakes) the emulator counted for the client under test: every
    client but the harness's own urllib reads of the stats. Empty if it does not count them."""
    by_client = (stats.get("connections") or {}).get("by_client", {})
    mine = [v for name, v in by_client.items() if not name.lower().startswith("python-urllib")]
    if not mine:
        return {}
    return {
        "connections": sum(int(v.get("connections", 0)) for v in mine),
        "tls_handshakes": sum(int(v.get("tls_handshakes", 0)) for v in mine),
    }


def failure_summary(
    failures: Sequence[tuple[float, str]], completed_at: Sequence[float]
) -> dict[str, Any]:
    """How a client failed: when first, how many runs it had completed by then, by what."""
    first = min(at for at, _ in failures)
    kinds = Counter(error_kind(message) for _, message in failures)
    return {
        "first_failure_s": round(first, 3),
        "completed_before_first_failure": sum(1 for t in completed_at if t <= first),
        "failed_runs": len(failures),
        "errors": dict(kinds.most_common()),
        "example": min(failures)[1][:300],
    }


def summarize(
    repetitions: Sequence[Mapping[str, Any]], names: Sequence[str] = SUMMARISED
) -> dict[str, dict[str, float]]:
    """Median and min-max of every figure in `names`, over the repetitions that have it as a
    number (a repetition whose client failed has none)."""
    out: dict[str, dict[str, float]] = {}
    for name in names:
        values = [float(v) for r in repetitions if _is_number(v := r.get(name))]
        if values:
            out[name] = spread(values)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def median_repetition(repetitions: Sequence[Mapping[str, Any]], key: str = "makespan_s") -> int:
    """Index of the repetition whose `key` is the median (the lower middle for an even count),
    among those that have it; -1 if none has."""
    having = [i for i, r in enumerate(repetitions) if _is_number(r.get(key))]
    if not having:
        return -1
    order = sorted(having, key=lambda i: float(repetitions[i][key]))
    return order[(len(order) - 1) // 2]


def result_document(
    *,
    case: str,
    mode: str,
    network: str,
    command: str,
    machine: Mapping[str, Any],
    params: Mapping[str, Any],
    clients: Mapping[str, tuple[str, Sequence[Mapping[str, Any]]]],
    names: Sequence[str] = SUMMARISED,
) -> dict[str, Any]:
    """The JSON written to benchmarks/results/<case>.json. `clients`: name -> (what it is, its
    repetitions' figures); `names`: the figures summarised."""
    return {
        "case": case,
        "mode": mode,
        "network": network,
        "command": command,
        "machine": dict(machine),
        "params": dict(params),
        "clients": {
            name: {
                "description": description,
                "summary": summarize(reps, names),
                "repetitions": [dict(r) for r in reps],
            }
            for name, (description, reps) in clients.items()
        },
    }


def run_durations(runs: int, low: float, high: float, *, seed: int) -> list[float]:
    """Every run's `emulator.duration` (seconds, 3 decimals), drawn from its index and the seed
    alone, so every client of a case gets the same work."""
    rng = random.Random(seed)
    return [round(rng.uniform(low, high), 3) for _ in range(runs)]


def scenario_input(case: str, index: int) -> dict[str, Any]:
    """The input of run `index` of a case (the same for every client)."""
    return {"case": case, "i": index, "demand": [index % 7, index % 11, index % 13]}
