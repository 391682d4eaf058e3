"""The examples of docs/guides/experiments.md work: its shell blocks and its Python block run,
in order, against an emulator (the guide's URL and key replaced by this one's)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from asyncrun.emulator import ThreadedEmulator

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "experiments.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)


@pytest.fixture
def guide_emulator(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> Iterator[ThreadedEmulator]:
    with emulator_thread_factory(api_key="dev-key", time_scale=20.0) as emu:
        yield emu


def env(url: str) -> dict[str, str]:
    values = dict(os.environ, NEXTMV_API_KEY="dev-key", NEXTMV_ENDPOINT=url, COLUMNS="120")
    values["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{values.get('PATH', '')}"
    return values


def test_the_guide_runs(guide_emulator: ThreadedEmulator, tmp_path: Path) -> None:
    # The block that starts `asyncrun emulator` is this test's emulator; the others run as written.
    shell = [b for b in blocks("bash") if not b.startswith("asyncrun emulator ")]
    assert len(shell) == 2 and len(blocks("bash")) == 3 and len(blocks("python")) == 1
    for block in shell:
        script = block.replace("http://127.0.0.1:8710", guide_emulator.url)
        script = script.replace("examples/knapsack", str(ROOT / "examples" / "knapsack"))
        done = subprocess.run(
            ["bash", "-e", "-c", script],
            cwd=tmp_path, env=env(guide_emulator.url), capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert "candidate rejected (exit code 1)" in done.stdout
    assert "FAIL" in done.stdout and "0 of 1 metrics pass" in done.stdout
    assert (tmp_path / "gate.json").is_file() and (tmp_path / "both.json").is_file()
    python = subprocess.run(
        [sys.executable, "-c", blocks("python")[0]],
        cwd=tmp_path, env=env(guide_emulator.url), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert python.returncode == 0, python.stderr
    lines = python.stdout.splitlines()
    assert "rejected" in lines or "accepted" in lines
    assert "scenario completed 4" in lines  # 2 option values x 1 input x 2 executions
    assert sorted(ast.literal_eval(lines[-1])) == ["gate", "py-gate"]
