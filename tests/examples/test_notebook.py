"""examples/notebook/sweep.ipynb, executed by nbclient in a real IPython kernel: the client's
top-level awaits run inside the loop Jupyter runs."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from asyncrun.emulator import ThreadedEmulator

from .support import EXAMPLES, KEY

NOTEBOOK = EXAMPLES / "notebook" / "sweep.ipynb"


def execute(tmp_path: Path) -> list[str]:
    """Run every cell; the text of each code cell's outputs, in order."""
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    return [_text(cell) for cell in notebook.cells if cell.cell_type == "code"]


def _text(cell: Any) -> str:
    parts = []
    for output in cell.outputs:
        if "text" in output:
            parts.append(output["text"])
        for kind in ("text/html", "text/plain"):
            if kind in output.get("data", {}):
                parts.append(output["data"][kind])
    return "\n".join(parts)


def test_the_notebook_sweeps_against_the_endpoint_it_is_given(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    with emulator_thread_factory(api_key=KEY, time_scale=20) as emu:
        monkeypatch.delenv("NEXTMV_APP_ID", raising=False)
        monkeypatch.setenv("NEXTMV_API_KEY", KEY)  # the kernel inherits the environment
        monkeypatch.setenv("NEXTMV_ENDPOINT", emu.url)
        outputs = execute(tmp_path)
        assert emu.stats()["runs_created"] == 20

    _setup, sweep, summary, _close = outputs
    # The progress display was updated in place to its last state.
    assert "<progress value='20' max='20'></progress> 20/20 done: {'succeeded': 20}" in sweep
    assert summary.startswith("20 of 20 succeeded\nscenario-000 succeeded ")


def test_the_notebook_starts_its_own_emulator_without_an_endpoint(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("NEXTMV_API_KEY", "NEXTMV_ENDPOINT", "NEXTMV_APP_ID"):
        monkeypatch.delenv(name, raising=False)
    outputs = execute(tmp_path)
    assert outputs[2].startswith("20 of 20 succeeded\n")
