"""asyncrun side by side with the official SDK (nextmv 1.13.0) on the same work: a table, a JSON
file and a plot per case.

    .venv/bin/pip install -e '.[bench]'
    .venv/bin/python benchmarks/compare.py            # full: 3 repetitions per case (~25 min)
    .venv/bin/python benchmarks/compare.py --quick    # 1 repetition, smaller cases (< 3 min)
    .venv/bin/python -m benchmarks --cases sweep      # the same, as a module
    .venv/bin/python benchmarks/compare.py --report   # tables and plots again from the JSON

Every client of every repetition gets a fresh emulator process (same seed, same flags) and runs
in its own child process (benchmarks/_clients.py), so CPU time and peak RSS are its own. Every
run's duration is set with the run option `emulator.duration`, drawn from its index and a fixed
seed, so every client gets identical work; every output's `input_digest` is checked.

Cases:
  sweep   1,000 runs (quick: 200) of 1-3 s, emulator profile unlimited. asyncrun `run_batch`
          with the unlimited preset, every run in flight, and again with the default
          max_in_flight (100); the SDK's `new_run_with_result` in a ThreadPoolExecutor: 64
          workers with its default PollingOptions, and tuned for short runs (TUNED_POLLING)
          with 64 and with 256 workers.
  quota   400 runs (quick: 100) of 1-4 s, emulator profile realistic (the published quotas,
          answered with 429). asyncrun with the standard preset; the SDK, 64 workers, default
          polling (over plain HTTP it does not retry a 429: how it fails is recorded). Bound:
          N/5 s of run creation plus the duration of the last run created.
  upload  benchmarks/upload.py's directory (1 GiB in 200 CSV files; quick: 100 MiB) sent by each
          client's `new_run`; figures from its child processes.

Figures per client (median and min-max over repetitions): makespan (the client's start to its
last result in hand, session closed); makespan / finish line (the emulator's real end of the
last run, from /_emulator/runs); requests and polls per run, from the emulator's counters
(polls: metadata reads, list pages, and run reads beyond one per result fetched); detection
lag (result in hand minus the run's end) median and p95; client CPU per run; peak RSS;
connections opened; 429 answers; failed runs and wrong results.

`--network loopback` (default) runs the emulator on 127.0.0.1 over plain HTTP; `--network
cloud` is the cloud-like mode (TLS and a 40 ms round trip), available once `asyncrun emulator`
has `--tls` and `--rtt`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import _figures
import upload
from _harness import (
    api_requests,
    get_json_sync,
    input_digest,
    load_average,
    polls,
    started_emulator,
    status_count,
)

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
KEY = "bench-key"
APP = "bench-app"
SEED = 7
CREATES_PER_SECOND = 5.0  # the realistic profile's (and the published) run-creation quota
CHILD_TIMEOUT_S = 1800.0

# The SDK tuned for runs of 1-3 s: the first poll when the shortest run can have ended, then
# every 0.25-0.5 s (SDK schedule: min(max_delay, delay + backoff * 2**i + U(0, jitter))).
TUNED_POLLING = {
    "initial_delay": 1.0,
    "delay": 0.1,
    "backoff": 0.1,
    "max_delay": 0.5,
    "jitter": 0.1,
}


# --- clients, cases, networks ---------------------------------------------------------------


@dataclass(frozen=True)
class Client:
    name: str
    description: str
    settings: dict[str, Any]  # what benchmarks/_clients.py reads from its spec


def asyncrun_client(name: str, preset: str, max_in_flight: int, what: str) -> Client:
    settings = {"client": "asyncrun", "preset": preset, "max_in_flight": max_in_flight}
    return Client(name, f"asyncrun run_batch, {preset} preset, {what}", settings)


def sdk_client(name: str, workers: int, polling: dict[str, float] | None) -> Client:
    how = "default PollingOptions" if polling is None else f"PollingOptions({_kwargs(polling)})"
    settings = {"client": "sdk", "workers": workers, "polling": polling}
    return Client(
        name, f"nextmv SDK new_run_with_result, ThreadPoolExecutor({workers}), {how}", settings
    )


def _kwargs(values: dict[str, float]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


@dataclass(frozen=True)
class BatchCase:
    name: str
    runs: int
    duration: tuple[float, float]
    profile: str
    clients: list[Client]
    quota_bound: bool  # compare with N/5 s + the last run's duration


def sweep_case(runs: int) -> BatchCase:
    clients = [
        asyncrun_client("asyncrun", "unlimited", runs, "every run in flight"),
        asyncrun_client("asyncrun, 100 in flight", "unlimited", 100, "max_in_flight 100 (default)"),
        sdk_client("SDK, 64 threads", 64, None),
        sdk_client("SDK tuned, 64 threads", 64, TUNED_POLLING),
        sdk_client("SDK tuned, 256 threads", 256, TUNED_POLLING),
    ]
    return BatchCase("sweep", runs, (1.0, 3.0), "unlimited", clients, quota_bound=False)


def quota_case(runs: int) -> BatchCase:
    clients = [
        asyncrun_client("asyncrun", "standard", 100, "max_in_flight 100 (default)"),
        sdk_client("SDK, 64 threads", 64, None),
    ]
    return BatchCase("quota", runs, (1.0, 4.0), "realistic", clients, quota_bound=True)


@dataclass(frozen=True)
class Network:
    """How the emulator is reached: extra emulator flags, what a child client needs in its
    environment to trust it, and the CA this process trusts for its own reads of the stats."""

    name: str
    label: str
    emulator_flags: tuple[str, ...] = ()
    child_env: dict[str, str] = field(default_factory=dict)
    ca_file: str | None = None


CLOUD_RTT_MS = 40


def network_mode(name: str, work: Path) -> Network:
    """loopback: plain HTTP on 127.0.0.1. cloud: HTTPS (one CA and server certificate made here
    with trustme, for every emulator of the run) behind a latency proxy adding CLOUD_RTT_MS of
    round trip; the clients trust the CA through SSL_CERT_FILE (asyncrun's aiohttp) and
    REQUESTS_CA_BUNDLE (the SDK's requests)."""
    if name == "loopback":
        return Network("loopback", "loopback, plain HTTP")
    help_text = subprocess.run(
        [sys.executable, "-m", "asyncrun", "emulator", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    ).stdout
    missing = [flag for flag in ("--cert", "--key", "--rtt") if flag not in help_text]
    if missing:
        raise SystemExit(f"--network cloud needs `asyncrun emulator {' '.join(missing)}`")
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    paths = {"ca": work / "ca.pem", "cert": work / "server.pem", "key": work / "server.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    cert.private_key_pem.write_to_path(str(paths["key"]))
    with open(paths["cert"], "wb") as chain:
        for blob in cert.cert_chain_pems:
            chain.write(blob.bytes())
    flags = ("--cert", str(paths["cert"]), "--key", str(paths["key"]), "--rtt", str(CLOUD_RTT_MS))
    trust = {"SSL_CERT_FILE": str(paths["ca"]), "REQUESTS_CA_BUNDLE": str(paths["ca"])}
    label = f"cloud-like: TLS, {CLOUD_RTT_MS} ms round trip"
    return Network("cloud", label, flags, trust, str(paths["ca"]))


# --- one repetition ---------------------------------------------------------------------------


@contextlib.contextmanager
def client_process(client: str, work: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """benchmarks/_clients.py for this client, started early: it imports its client while the
    emulator starts, then waits for its spec on stdin. Killed on exit if still running."""
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_clients.py"), client, str(work / "out.json")],
        cwd=work,
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def child_report(proc: subprocess.Popen[str], spec: dict[str, Any], work: Path) -> dict[str, Any]:
    """Hand the child its spec; its report, or RuntimeError with its stderr."""
    try:
        _, stderr = proc.communicate(json.dumps(spec), timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired as exc:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"the {spec['client']} child took over {CHILD_TIMEOUT_S:.0f} s") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"the {spec['client']} child failed:\n{stderr[-3000:]}")
    report: dict[str, Any] = json.loads((work / "out.json").read_text())
    return report


def _cpu_seconds(pid: int) -> float | None:
    try:
        import psutil

        times = psutil.Process(pid).cpu_times()
        return float(times.user + times.system)
    except Exception:  # psutil missing or the process gone: the figure is optional
        return None


def quota_bound(runs: int, timeline: Sequence[dict[str, Any]]) -> float | None:
    """N/5 s of run creation plus the duration of the last run created."""
    created = [r for r in timeline if r.get("ended") is not None and r.get("started") is not None]
    if not created:
        return None
    last = max(created, key=lambda r: r["created"])
    return runs / CREATES_PER_SECOND + float(last["ended"] - last["started"])


def batch_repetition(
    case: BatchCase, client: Client, durations: list[float], network: Network, work: Path
) -> dict[str, Any]:
    low, high = case.duration
    flags = ("--api-key", KEY, "--profile", case.profile, "--duration", str(low), str(high))
    with (
        client_process(client.settings["client"], work, network.child_env) as proc,
        started_emulator(*flags, "--seed", str(SEED), *network.emulator_flags) as emulator,
    ):
        spec = {
            **client.settings,
            "case": case.name,
            "url": emulator.url,
            "api_key": KEY,
            "app": APP,
            "tag": case.name,
            "durations": durations,
        }
        child = child_report(proc, spec, work)
        stats = get_json_sync(emulator.url, "/_emulator/stats", ca_file=network.ca_file)
        timeline = get_json_sync(emulator.url, "/_emulator/runs", ca_file=network.ca_file)
        emulator_cpu = _cpu_seconds(emulator.process.pid)
    expected = [input_digest(_figures.scenario_input(case.name, i)) for i in range(case.runs)]
    figures = _figures.repetition_figures(
        child,
        expected_digests=expected,
        timeline=timeline,
        requests=api_requests(stats),
        polls=polls(stats, sum(1 for r in child["runs"] if r.get("status") == "succeeded")),
        http_429=status_count(stats, "429"),
        bound_s=quota_bound(case.runs, timeline) if case.quota_bound else None,
    )
    figures["emulator_cpu_s"] = emulator_cpu
    figures["proxy_cpu_s"] = stats.get("proxy", {}).get("cpu_seconds")
    figures.update(_figures.client_connections(stats))
    figures["requests_by_route"] = {
        route: counts for route, counts in stats["requests"].items() if " /v1/" in route
    }
    return figures


def run_batch_case(
    case: BatchCase, repeat: int, network: Network, work: Path
) -> tuple[dict[str, Any], dict[str, tuple[str, list[dict[str, Any]]]]]:
    durations = _figures.run_durations(case.runs, *case.duration, seed=SEED)
    results: dict[str, tuple[str, list[dict[str, Any]]]] = {
        c.name: (c.description, []) for c in case.clients
    }
    # Repetitions outermost: a change of load on the shared machine falls on every client.
    for rep in range(repeat):
        for index, client in enumerate(case.clients):
            try:
                figures = batch_repetition(
                    case, client, durations, network, work / f"{rep}-{index}"
                )
            except RuntimeError as exc:  # the client process died: recorded, the case goes on
                figures = {"error": _last_line(exc)}
            results[client.name][1].append(figures)
            print(f"  {case.name} {rep + 1}/{repeat} {client.name}: {_brief(figures)}", flush=True)
    params = {
        "runs": case.runs,
        "duration_s": list(case.duration),
        "profile": case.profile,
        "seed": SEED,
        "repetitions": repeat,
        "longest_run_s": max(durations),
        "tuned_polling": TUNED_POLLING,
    }
    return params, results


def _last_line(exc: BaseException) -> str:
    """The last line of a child's failure (its exception), without the traceback."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1][:500] if lines else type(exc).__name__


def _brief(figures: dict[str, Any]) -> str:
    if "error" in figures:
        return f"the client process failed: {figures['error']}"
    ratio = figures.get("makespan_over_bound") or figures.get("makespan_over_finish_line")
    text = f"{figures['makespan_s']:.1f} s"
    if ratio:
        text += f" (x{ratio:.3f})"
    text += f", {figures['completed']} completed, {figures['requests_per_run']:.2f} req/run"
    if figures.get("failure"):
        text += f", failed: {figures['failure']['errors']}"
    return text


UPLOAD_FIGURES = (
    "wall_s",
    "pack_s",
    "upload_s",
    "submit_s",
    "archive_mib",
    "client_cpu_s",
    "peak_rss_mb",
    "rss_growth_mb",
    "requests",
    "gzip_limit_s",
    "wall_over_gzip_limit",
)
UPLOAD_CLIENTS = {
    "SDK": ("sdk", "nextmv SDK new_run(input_dir_path=...): tar.gz at gzip level 9"),
    "asyncrun": ("asyncrun", "asyncrun new_run(dir_path=...): tar.gz at gzip level 1, streamed"),
}
UPLOAD_FILES = 200


def run_upload_case(
    size_mib: int, repeat: int, network: Network, work: Path
) -> tuple[dict[str, Any], dict[str, tuple[str, list[dict[str, Any]]]]]:
    data = work / "inputs"
    data_bytes = upload.generate(data, size_mib, UPLOAD_FILES)
    results: dict[str, tuple[str, list[dict[str, Any]]]] = {
        name: (what, []) for name, (_, what) in UPLOAD_CLIENTS.items()
    }
    for rep in range(repeat):
        gzip_s = upload.gzip_limit(data)  # again each time: the machine's load changes
        for name, (child, _) in UPLOAD_CLIENTS.items():
            storage = work / f"storage-{rep}-{child}"
            flags = ("--api-key", KEY, "--storage-dir", str(storage), *network.emulator_flags)
            try:
                with started_emulator(*flags) as emulator:
                    report = upload.run_child(
                        child, emulator.url, data, work / f"tmp-{rep}-{child}", network.child_env
                    )
                    stats = get_json_sync(emulator.url, "/_emulator/stats", ca_file=network.ca_file)
                figures = upload_figures(report, api_requests(stats), gzip_s)
                brief = f"{figures['wall_s']:.1f} s"
            except RuntimeError as exc:  # e.g. the SDK's 20 s read timeout: recorded
                figures = {"error": _last_line(exc), "gzip_limit_s": gzip_s}
                brief = f"the client process failed: {figures['error']}"
            finally:
                shutil.rmtree(storage, ignore_errors=True)
            results[name][1].append(figures)
            print(f"  upload {rep + 1}/{repeat} {name}: {brief}", flush=True)
    params = {
        "size_mib": size_mib,
        "data_bytes": data_bytes,
        "files": UPLOAD_FILES,
        "repetitions": repeat,
    }
    return params, results


def upload_figures(report: dict[str, Any], requests: int, gzip_s: float) -> dict[str, Any]:
    mib = _figures.MIB
    return {
        "wall_s": report["wall_s"],
        "pack_s": report["pack_s"],
        "upload_s": report["upload_s"],
        "submit_s": report["submit_s"],
        "archive_mib": report["archive_bytes"] / mib,
        "client_cpu_s": report["cpu_s"],
        "peak_rss_mb": report["peak_rss_bytes"] / mib,
        "rss_growth_mb": (report["peak_rss_bytes"] - report["rss_before_bytes"]) / mib,
        "requests": requests,
        "gzip_limit_s": gzip_s,
        "wall_over_gzip_limit": report["wall_s"] / gzip_s,
        "temp_left_behind": report["temp_left_behind"],
    }


# --- machine, tables, plots -----------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    from asyncrun import _runtime

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "cores": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "asyncrun": version("asyncrun"),
        "aiohttp": version("aiohttp"),
        "nextmv": version("nextmv"),
        "requests": version("requests"),
        "asyncrun_loop": f"{_runtime.loop_name()} with the CLI's throughput GC (asyncrun._runtime)",
    }


def _cell(summary: dict[str, dict[str, float]], name: str, digits: int = 2) -> str:
    if name not in summary:
        return "-"
    s = summary[name]
    text = f"{s['median']:.{digits}f}"
    if s["max"] - s["min"] >= 0.5 * 10**-digits:
        text += f" ({s['min']:.{digits}f}-{s['max']:.{digits}f})"
    return text


def batch_table(doc: dict[str, Any]) -> str:
    bound = doc["case"] == "quota"
    head = ["client", "makespan s", "/ finish line"] + (["/ quota bound"] if bound else [])
    head += ["requests / run", "polls / run", "lag median s", "lag p95 s"]
    head += ["CPU ms / run", "peak RSS MB", "connections", "429s", "failed", "wrong"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for name, entry in doc["clients"].items():
        s = entry["summary"]
        row = [name, _cell(s, "makespan_s", 1), _cell(s, "makespan_over_finish_line", 3)]
        row += [_cell(s, "makespan_over_bound", 3)] if bound else []
        row += [_cell(s, "requests_per_run"), _cell(s, "polls_per_run")]
        row += [_cell(s, "lag_median_s"), _cell(s, "lag_p95_s")]
        row += [_cell(s, "client_cpu_ms_per_run"), _cell(s, "peak_rss_mb", 0)]
        row += [_cell(s, "connections", 0)]
        row += [_cell(s, "http_429", 0), _cell(s, "failed", 0), _cell(s, "wrong_results", 0)]
        lines.append("| " + " | ".join(row) + " |")
    lines += _process_failures(doc)
    for name, entry in doc["clients"].items():
        for index, rep in enumerate(entry["repetitions"]):
            if rep.get("failure"):
                f = rep["failure"]
                lines.append(
                    f"\n{name}, repetition {index + 1}: {f['failed_runs']} of {rep['runs']} "
                    "runs failed "
                    f"({', '.join(f'{k}: {n}' for k, n in f['errors'].items())}); the first "
                    f"failure after {f['first_failure_s']:.1f} s, with "
                    f"{f['completed_before_first_failure']} runs completed by then."
                )
                break
    return "\n".join(lines)


def _process_failures(doc: dict[str, Any]) -> list[str]:
    """A line for each repetition whose client process failed (no figures from it)."""
    return [
        f"\n{name}, repetition {index + 1}: the client process failed: {rep['error']}"
        for name, entry in doc["clients"].items()
        for index, rep in enumerate(entry["repetitions"])
        if "error" in rep
    ]


def upload_table(doc: dict[str, Any]) -> str:
    head = ["client", "new_run wall s", "pack s", "upload s", "submit s", "archive MiB"]
    head += ["CPU s", "peak RSS MB", "RSS growth MB", "requests", "/ gzip -1 limit"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for name, entry in doc["clients"].items():
        s = entry["summary"]
        row = [name] + [
            _cell(s, key, 0 if key in ("peak_rss_mb", "rss_growth_mb", "requests") else 1)
            for key in UPLOAD_FIGURES[: UPLOAD_FIGURES.index("gzip_limit_s")]
        ]
        row.append(_cell(s, "wall_over_gzip_limit"))
        lines.append("| " + " | ".join(row) + " |")
    lines += _process_failures(doc)
    gz = next(iter(doc["clients"].values()))["summary"]
    size = doc["params"]["data_bytes"] / _figures.MIB
    lines.append(
        f"\nThe directory: {size:.0f} MiB in {doc['params']['files']} CSV files; "
        f"`tar cf - DIR | gzip -1 > /dev/null` on it: {_cell(gz, 'gzip_limit_s', 1)} s."
    )
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_batch(doc: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=120)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    runs = doc["params"]["runs"]
    for color, (name, entry) in zip(colors, doc["clients"].items(), strict=False):
        reps = entry["repetitions"]
        index = _figures.median_repetition(reps)
        if index < 0:  # every repetition's client process failed
            continue
        rep = reps[index]
        times = rep["completed_at_s"]
        _cumulative(ax, times, color=color, lw=1.8, label=f"{name}: {rep['makespan_s']:.1f} s")
        if rep.get("failed_at_s"):
            label = f"{name}: failed runs"
            _cumulative(ax, rep["failed_at_s"], color=color, lw=1, ls="--", label=label)
        if rep.get("finish_line_s"):
            ax.axvline(rep["finish_line_s"], color=color, ls=":", lw=1)
        if doc["case"] == "quota" and rep.get("bound_s") and name.startswith("asyncrun"):
            ax.axvline(
                rep["bound_s"],
                color="black",
                ls="--",
                lw=1,
                label=f"quota bound (N/5 s + last run): {rep['bound_s']:.1f} s",
            )
    ax.axhline(runs, color="grey", lw=0.6)
    ax.set_xlabel("seconds since the client started")
    ax.set_ylabel("runs completed (result in hand, digest checked)")
    ax.set_title(
        f"{doc['case']}: {runs} runs of {_range(doc['params']['duration_s'])} s, "
        f"{doc['params']['profile']} profile ({doc['network']}, median of "
        f"{doc['params']['repetitions']}; dotted: finish lines)",
        fontsize=10,
    )
    ax.set_xlim(left=0)
    ax.set_ylim(0, runs * 1.03)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _cumulative(ax: Any, times: Sequence[float], **style: Any) -> None:
    """A step line: how many of `times` (sorted) have passed, against time."""
    ax.step([0.0, *times], range(len(times) + 1), where="post", **style)


def _range(values: Sequence[float]) -> str:
    return f"{values[0]:g}-{values[1]:g}"


def plot_upload(doc: dict[str, Any], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.6), dpi=120)
    names = list(doc["clients"])
    phases = (("pack_s", "pack"), ("upload_s", "upload (PUT)"), ("submit_s", "submit"))
    for row, name in enumerate(names):
        reps = doc["clients"][name]["repetitions"]
        index = _figures.median_repetition(reps, "wall_s")
        if index < 0:
            ax.text(0, row, " the client process failed (see the table)", va="center", fontsize=8)
            continue
        rep = reps[index]
        left = 0.0
        for color, (key, label) in zip(("C0", "C1", "C2"), phases, strict=True):
            ax.barh(row, rep[key], left=left, color=color, label=label if row == 0 else None)
            left += rep[key]
        ax.text(
            left,
            row,
            f" {rep['wall_s']:.1f} s, peak RSS {rep['peak_rss_mb']:.0f} MB",
            va="center",
            fontsize=8,
        )
    gz = _figures.median_repetition(doc["clients"][names[0]]["repetitions"], "gzip_limit_s")
    limit = doc["clients"][names[0]]["repetitions"][gz]["gzip_limit_s"]
    ax.axvline(limit, color="black", ls="--", lw=1, label=f"tar | gzip -1: {limit:.1f} s")
    ax.set_yticks(range(len(names)), names)
    ax.invert_yaxis()
    ax.set_xlim(0, ax.get_xlim()[1] * 1.3)  # room for the labels
    ax.set_xlabel("seconds (new_run of one directory)")
    size = doc["params"]["data_bytes"] / _figures.MIB
    ax.set_title(
        f"upload: a {size:.0f} MiB directory of {doc['params']['files']} CSV files "
        f"({doc['network']}, median of {doc['params']['repetitions']})",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=4)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def render(doc: dict[str, Any], out: Path) -> str:
    """Write the PNG of a case; return its markdown table."""
    if doc["case"] == "upload":
        plot_upload(doc, out / "upload.png")
        return upload_table(doc)
    plot_batch(doc, out / f"{doc['case']}.png")
    return batch_table(doc)


_NUMBER_LIST = re.compile(r"\[(?:\s*-?[\d.eE+-]+,)*\s*-?[\d.eE+-]+\s*\]")


def dump_json(doc: dict[str, Any]) -> str:
    """Indented JSON with each list of numbers on one line (timelines stay readable)."""
    text = json.dumps(doc, indent=1)
    return _NUMBER_LIST.sub(lambda m: json.dumps(json.loads(m.group(0))), text) + "\n"


# --- main -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="asyncrun-compare-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_case(name: str, args: argparse.Namespace, network: Network, out: Path) -> dict[str, Any]:
    quick = args.quick
    repeat = args.repeat or (1 if quick else 3)
    runners: dict[str, Callable[[Path], tuple[dict[str, Any], dict[str, Any]]]] = {
        "sweep": lambda w: run_batch_case(
            sweep_case(args.runs or (200 if quick else 1000)), repeat, network, w
        ),
        "quota": lambda w: run_batch_case(
            quota_case(args.runs or (100 if quick else 400)), repeat, network, w
        ),
        "upload": lambda w: run_upload_case(
            args.size_mib or (100 if quick else 1024), repeat, network, w
        ),
    }
    machine = machine_info()
    machine["loadavg_before"] = load_average()
    started = time.time()
    with _workdir() as work:
        params, clients = runners[name](work)
    machine["loadavg_after"] = load_average()
    params["seconds_taken"] = round(time.time() - started, 1)
    doc = _figures.result_document(
        case=name,
        mode="quick" if quick else "full",
        network=network.label,
        command=shlex.join(["python", "benchmarks/compare.py", *sys.argv[1:]]),
        machine=machine,
        params=params,
        clients=clients,
        names=UPLOAD_FIGURES if name == "upload" else _figures.SUMMARISED,
    )
    doc["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    (out / f"{name}.json").write_text(dump_json(doc))
    return doc


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition, smaller cases")
    parser.add_argument("--cases", default="sweep,quota,upload", help="comma-separated")
    parser.add_argument("--repeat", type=int, default=None, help="repetitions (3; quick: 1)")
    parser.add_argument("--runs", type=int, default=None, help="override the runs of a case")
    parser.add_argument("--size-mib", type=int, default=None, help="override the upload size")
    parser.add_argument("--network", choices=["loopback", "cloud"], default="loopback")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results folder (benchmarks/results[/quick][/cloud])",
    )
    parser.add_argument(
        "--report",
        action="store_true",
        help="no runs: tables and plots again from the JSON in the folder",
    )
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - {"sweep", "quota", "upload"})
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)} (sweep, quota, upload)")
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    out = args.out or (RESULTS / "quick" if args.quick else RESULTS)
    if args.network == "cloud" and args.out is None:
        out = out / "cloud"
    out.mkdir(parents=True, exist_ok=True)
    if args.report:
        saved = [out / f"{case}.json" for case in cases]
        docs = [json.loads(path.read_text()) for path in saved if path.exists()]
    else:
        docs = []
        with _workdir() as work:
            network = network_mode(args.network, work)
            for case in cases:
                mode = "quick" if args.quick else "full"
                print(f"== {case} ({mode}, {network.label})", flush=True)
                docs.append(run_case(case, args, network, out))
    for doc in docs:
        machine = doc["machine"]
        print(
            f"\n## {doc['case']} ({doc['mode']}, {doc['network']}; load average "
            f"{machine['loadavg_before']} before, {machine['loadavg_after']} after)\n"
        )
        print(render(doc, out))
    print(f"\nresults in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
