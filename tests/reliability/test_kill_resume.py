"""`asyncrun batch` killed with SIGKILL at 10 seeded random moments under mixed faults (late
creates included), each kill followed by a resume with the same command: nothing is lost, no
result is attributed to the wrong scenario, and every name has exactly one run."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from asyncrun.emulator import ThreadedEmulator

from .kills import FAULTS, SEED, kill_and_resume

Factory = Callable[..., AbstractContextManager[ThreadedEmulator]]

SCENARIOS = 150
KILLS = 10


@pytest.mark.slow
def test_sigkill_at_10_moments_then_resume(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    with emulator_thread_factory(
        faults=FAULTS, time_scale=20.0, duration=(10.0, 40.0), seed=SEED
    ) as emu:
        result = kill_and_resume(emu, tmp_path, count=SCENARIOS, kills=KILLS)
    # A moment may come after a process has finished the batch (a loaded machine can outlast
    # the long run that keeps the batch open): most moments must still find it running.
    assert result.kills >= KILLS // 2
    assert result.final_exit == 0
    assert result.faults.get("late_create", 0) > 0
    assert (result.lost, result.wrong, result.errors) == ([], [], 0)
    assert result.succeeded == SCENARIOS
    assert result.left_running == 0
    # Every late create landed before its deadline: no name has a second run at all.
    assert result.duplicates_created == 0
