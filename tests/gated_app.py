"""An emulator `app_command` whose runs last until the test opens their gate (a file), then
answer as the default app does (the input's digest and the run's options): what a test checks
while runs are in flight cannot race their end, however slowly a loaded machine gets there.
Shared by the suites (tests/ is on the import path, as for fast_polling.py)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

# Bounded: a gate never opened ends the run (succeeded) after 120 s; the emulator kills app
# processes on cancel and on close anyway.
_GATED_APP = """
import hashlib, json, os, pathlib, sys, time
value = json.load(sys.stdin)
gate, deadline = pathlib.Path(sys.argv[1]), time.monotonic() + 120
while not gate.exists() and time.monotonic() < deadline:
    time.sleep(0.02)
text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
digest = hashlib.sha256(text.encode()).hexdigest()
options = json.loads(os.environ["EMULATOR_OPTIONS"])
json.dump({"input_digest": digest, "options": options}, sys.stdout)
"""


def gated_app(gate: Path) -> str:
    """The emulator's app_command for runs held until `gate` exists."""
    return shlex.join([sys.executable, "-c", _GATED_APP, str(gate)])
