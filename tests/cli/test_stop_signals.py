"""SIGTERM and SIGINT in a real process running a command under `StopSignals`: the first
cancels the command (which cleans up and is given its time), the exit code is 128 + the
signal's number; a second signal ends the process at once, whatever the cleanup is doing."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import cli_env

# A command that, cancelled, takes CLEANUP seconds to clean up (as a batch's cancels may).
_COMMAND = """
import asyncio, sys
from asyncrun.cli.stop_signals import StopSignals

async def main() -> int:
    try:
        print("running", flush=True)
        await asyncio.sleep(60)
        return 0
    except asyncio.CancelledError:
        print("cleaning up", flush=True)
        await asyncio.sleep(float(sys.argv[1]))
        print("cleaned up", flush=True)
        raise

sys.exit(asyncio.run(StopSignals().guard(main())))
"""


def _start(cleanup: float, tmp_path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _COMMAND, str(cleanup)],
        cwd=tmp_path,
        env=cli_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_one_signal_cancels_the_command_which_cleans_up(
    tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    child = _start(0.2, tmp_path)
    try:
        assert child.stdout is not None and child.stdout.readline() == "running\n"
        child.send_signal(sig)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == code, err
    assert out == "cleaning up\ncleaned up\n"
    assert "Traceback" not in err


@pytest.mark.parametrize("second", [signal.SIGTERM, signal.SIGINT])
def test_a_second_signal_ends_the_process_at_once(tmp_path: Path, second: signal.Signals) -> None:
    child = _start(600, tmp_path)  # a cleanup that would outlast the test
    try:
        assert child.stdout is not None and child.stdout.readline() == "running\n"
        child.send_signal(signal.SIGTERM)
        assert child.stdout.readline() == "cleaning up\n"
        child.send_signal(second)
        out, err = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 128 + int(second)
    assert out == ""  # the cleanup did not finish
    assert f"asyncrun: {second.name} again: stopped at once" in err
