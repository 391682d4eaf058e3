"""`asyncrun batch` killed with SIGKILL at seeded random moments under mixed faults (late creates
included), each kill followed by a resume with the same command, then a last resume that
finishes; checked against the emulator's runs and the result files."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from asyncrun.batch.journal_lock import current_holder
from asyncrun.emulator import FaultProfile, ThreadedEmulator

from .matrix import KEY, digest_of

SEED = 20261130
FAULTS = FaultProfile(
    rate_429=0.01,
    rate_500=0.01,
    rate_503=0.01,
    drop=0.01,
    slow=0.01,
    slow_seconds=1.5,
    lost_create=0.02,
    late_create=0.04,
    late_seconds=1.5,
    storage_drop=0.02,
)


def inputs(count: int) -> list[object]:
    return [f"text {i}\n" if i % 3 == 0 else {"i": i} for i in range(count)]


def write_manifest(path: Path, count: int) -> None:
    with path.open("w") as sink:
        for i, value in enumerate(inputs(count)):
            options = {"scenario": f"s{i:04d}"}
            if i == 0:
                # One run of 600 simulated seconds (30 s at time scale 20): the batch is not
                # finished before the kill moments, however fast the other runs go.
                options["emulator.duration"] = "600"
            line = {"key": f"s{i:04d}", "input": value, "options": options}
            sink.write(json.dumps(line) + "\n")


def command(url: str) -> list[str]:
    # Timeouts of 1 s and a margin of 1 s: a lost submit's deadline is 3 s after it was sent,
    # later than the emulator's late creates (1.5 s).
    return [
        sys.executable, "-m", "asyncrun", "batch", "--app-id", "kill-app", "manifest.jsonl",
        "--journal", "sweep.db", "--out", "out", "--batch-tag", "kill", "--max-in-flight", "60",
        "--limits", "unlimited", "--url", url, "--connect-timeout", "1", "--read-timeout", "1",
        "--submit-margin", "1",
    ]  # fmt: skip


def start(args: list[str], cwd: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, NEXTMV_API_KEY=KEY)
    env.pop("NEXTMV_ENDPOINT", None)
    return subprocess.Popen(
        args, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def kill_at_a_random_moment(child: subprocess.Popen[bytes], journal: Path, delay: float) -> None:
    """SIGKILL `delay` seconds after the process took the journal (or once it has ended)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        holder = current_holder(str(journal))
        if holder is not None and holder.pid == child.pid:
            break
        time.sleep(0.02)
    try:
        child.wait(delay)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
        child.wait(10)


@dataclass
class KillResult:
    scenarios: int
    kills: int = 0
    final_exit: int | None = None
    succeeded: int = 0
    errors: int = 0
    lost: list[str] = field(default_factory=list)  # no result file
    wrong: list[str] = field(default_factory=list)  # another scenario's result
    duplicates_created: int = 0
    duplicates_canceled: int = 0
    left_running: int = 0
    faults: dict[str, int] = field(default_factory=dict)


def kill_and_resume(
    emu: ThreadedEmulator, workdir: Path, *, count: int, kills: int, seed: int = SEED
) -> KillResult:
    """Start the batch, SIGKILL it at a seeded random moment, `kills` times (each start after
    the first is a resume), then let a last resume finish; check what the emulator holds."""
    write_manifest(workdir / "manifest.jsonl", count)
    rng = random.Random(seed)
    args = command(emu.url)
    result = KillResult(count)
    for _ in range(kills):
        child = start(args, workdir)
        try:
            kill_at_a_random_moment(child, workdir / "sweep.db", rng.uniform(0.2, 3.0))
        finally:
            child.kill()
            child.wait()
        result.kills += child.returncode == -signal.SIGKILL
    final = start(args, workdir)
    try:
        result.final_exit = final.wait(600)
    finally:
        final.kill()
        final.wait()
    emu.call(emu.state.late_creates_done)
    result.faults = dict(emu.stats()["faults"])
    _check(result, emu.runs(), workdir, count)
    return result


def _check(result: KillResult, runs: list[dict[str, object]], workdir: Path, count: int) -> None:
    per_name: dict[str, list[str]] = {}
    for run in runs:
        per_name.setdefault(str(run["name"]), []).append(str(run["status"]))
    for statuses in per_name.values():
        extras = len(statuses) - 1
        result.duplicates_created += extras
        result.duplicates_canceled += min(extras, statuses.count("canceled"))
        # The batch waited for its own run of every name: any run still live is an extra.
        result.left_running += sum(1 for s in statuses if s in ("queued", "running"))
    for i, value in enumerate(inputs(count)):
        key = f"s{i:04d}"
        path = workdir / f"out/results/{key}.json"
        if not path.exists():
            result.lost.append(key)
            continue
        output = json.loads(path.read_text())
        if "input_digest" not in output:
            result.errors += 1
        elif output["input_digest"] != digest_of(value) or output["options"]["scenario"] != key:
            result.wrong.append(key)
        else:
            result.succeeded += 1
