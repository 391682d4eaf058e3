"""Running the examples as a user does: a fresh interpreter, the URL and key from the env."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
KEY = "example-key"


def example_env(url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXTMV_")}
    env.update(NEXTMV_API_KEY=KEY, NEXTMV_ENDPOINT=url, **extra)
    return env


def run_example(
    url: str, script: str, *args: str, cwd: Path, timeout: float = 120, **env: str
) -> str:
    """Run examples/<script> against the emulator at `url`; its stdout (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args],
        env=example_env(url, **env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
