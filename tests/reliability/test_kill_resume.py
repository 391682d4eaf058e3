"""`asyncrun batch` killed with SIGKILL at 10 seeded random moments under mixed faults (late
creates included), each kill followed by a resume with the same command: nothing is lost, no
result is attributed to the wrong scenario, and every name has exactly one run."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from asyncrun.batch.journal_lock import current_holder
from asyncrun.emulator import FaultProfile, ThreadedEmulator

from .matrix import KEY, digest_of

Factory = Callable[..., AbstractContextManager[ThreadedEmulator]]

SCENARIOS = 300
KILLS = 10
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


def inputs() -> list[object]:
    return [f"text {i}\n" if i % 3 == 0 else {"i": i} for i in range(SCENARIOS)]


def write_manifest(path: Path) -> None:
    with path.open("w") as sink:
        for i, value in enumerate(inputs()):
            line = {"key": f"s{i:04d}", "input": value, "options": {"scenario": f"s{i:04d}"}}
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


@pytest.mark.slow
def test_sigkill_at_10_moments_then_resume(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    write_manifest(tmp_path / "manifest.jsonl")
    rng = random.Random(SEED)
    with emulator_thread_factory(
        faults=FAULTS, time_scale=20.0, duration=(10.0, 40.0), seed=SEED
    ) as emu:
        args = command(emu.url)
        kills = 0
        for _ in range(KILLS):
            child = start(args, tmp_path)
            try:
                kill_at_a_random_moment(child, tmp_path / "sweep.db", rng.uniform(0.2, 3.0))
            finally:
                child.kill()
                child.wait()
            kills += child.returncode == -signal.SIGKILL
        final = start(args, tmp_path)
        try:
            assert final.wait(300) == 0
        finally:
            final.kill()
            final.wait()
        emu.call(emu.state.late_creates_done)
        runs = emu.runs()
        faults = emu.stats()["faults"]
    assert kills >= KILLS - 2  # a few processes may finish the batch before their moment
    assert faults.get("late_create", 0) > 0
    per_name: dict[str, list[str]] = {}
    for run in runs:
        per_name.setdefault(run["name"], []).append(run["status"])
    assert sorted(per_name) == [f"kill/s{i:04d}" for i in range(SCENARIOS)]
    assert {name: s for name, s in per_name.items() if len(s) != 1} == {}
    for i, value in enumerate(inputs()):
        result = json.loads((tmp_path / f"out/results/s{i:04d}.json").read_text())
        assert result["input_digest"] == digest_of(value)
        assert result["options"]["scenario"] == f"s{i:04d}"
