"""Helpers for the CLI tests: run `python -m asyncrun` in a subprocess against an emulator
served from a thread of the test process."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

KEY = "test-key"


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["NEXTMV_API_KEY"] = KEY
    env.pop("NEXTMV_ENDPOINT", None)
    env["COLUMNS"] = "100"
    return env


def _ctrl_c_as_in_a_terminal() -> None:
    # A shell that starts a command in the background (`cmd &` in a script: how CI may start
    # the suite) ignores SIGINT for it, and the ignore is inherited down to our child, which
    # then (rightly) ignores Ctrl-C. The tests send SIGINT as a terminal would: restore it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "asyncrun", *args],
        cwd=cwd,
        env=cli_env(),
        preexec_fn=_ctrl_c_as_in_a_terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def run_cli(
    args: list[str], cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`asyncrun ARGS` in a subprocess; `env` adds to (or overrides) the test environment."""
    return subprocess.run(
        [sys.executable, "-m", "asyncrun", *args],
        cwd=cwd,
        env={**cli_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def write_manifest(path: Path, count: int, options: dict[str, str] | None = None) -> None:
    with path.open("w") as sink:
        for i in range(count):
            line: dict[str, Any] = {"key": f"m{i}", "input": {"i": i}}
            if options:
                line["options"] = options
            sink.write(json.dumps(line) + "\n")


def journal_states(path: Path) -> dict[str, int]:
    """Rows by state, read while another process may be writing (WAL allows it)."""
    if not path.exists():
        return {}
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM scenarios GROUP BY state"))
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def printed_seed() -> int:
    """A seed for a test's random choice: ASYNCRUN_TEST_SEED, or a fresh one; printed (pytest
    shows it with a failure) so the same choice can be replayed."""
    seed = int(os.environ.get("ASYNCRUN_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"seed {seed} (replay with ASYNCRUN_TEST_SEED={seed})")
    return seed


def wait_for(predicate: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")
