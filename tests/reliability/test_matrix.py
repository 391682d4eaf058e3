"""The reliability matrix in CI: every cell of `matrix.CELLS` with 300 scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from .matrix import CELLS, Cell, run_cell

SCENARIOS = 300


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS, ids=[c.fault for c in CELLS])
async def test_cell(cell: Cell, tmp_path: Path) -> None:
    result = await run_cell(cell, SCENARIOS, tmp_path / "journal.db")
    # Every scenario ends: with its own result (digest and key echoed back) or a clear error.
    assert result.lost == []
    assert result.wrong == []
    assert result.unclear == []
    assert result.succeeded + result.errors == SCENARIOS
    # The fault really happened (a cell that injects nothing proves nothing).
    assert result.faults or cell.profile == "realistic" or cell.url_ttl < 1
    # Exactly one run per name; an extra run (a create acted on after its deadline) is
    # reported by the end-of-batch sweep, and canceled unless it had already ended (the sweep's
    # own cancel is tested deterministically in tests/batch/test_exactly_once.py).
    assert result.left_running == []
    assert result.duplicates_reported == result.duplicates_created
    if cell.extras_expected:
        assert result.duplicates_created > 0
    else:
        assert result.duplicates_created == 0
    if cell.url_ttl >= 1:
        assert result.succeeded == SCENARIOS
