"""The example scripts the docs include, each run against the emulator as a user runs it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from asyncrun.emulator import ThreadedEmulator
from asyncrun.emulator.default_app import digest_json

from .support import EXAMPLES, KEY, run_example


@pytest.fixture
def emu(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> Iterator[ThreadedEmulator]:
    with emulator_thread_factory(api_key=KEY, time_scale=20) as emulator:
        yield emulator


def test_first_run_prints_the_result_of_its_input(emu: ThreadedEmulator, tmp_path: Path) -> None:
    out = run_example(emu.url, "first_run.py", cwd=tmp_path)
    assert re.match(r"run \S+: succeeded\n", out)
    output = json.loads(out.split("\n", 1)[1])
    sent = json.loads((EXAMPLES / "knapsack" / "input.json").read_text())
    assert output["input_digest"] == digest_json(sent)
    assert emu.stats()["runs_created"] == 1


def test_sweep_runs_every_scenario_once_and_resumes_from_its_journal(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    args = ("--scenarios", "12", "--journal", "sweep.db", "--out", "results")
    first = run_example(emu.url, "sweep.py", *args, cwd=tmp_path)
    assert first.count(": succeeded ") == 12
    assert "statuses: {'succeeded': 12}" in first
    assert len(list((tmp_path / "results").glob("*.json"))) == 12

    again = run_example(emu.url, "sweep.py", *args, cwd=tmp_path)
    assert again.count("(resumed)") == 12
    assert emu.stats()["runs_created"] == 12  # the resume submitted nothing


def test_large_input_uploads_a_directory_and_a_large_json(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    out = run_example(emu.url, "large_input.py", cwd=tmp_path)
    assert "directory run " in out and "large JSON run " in out
    assert out.count(": succeeded") == 2
    # The output is multi-file, extracted into out/; the emulator's result.json lists the files
    # of the input archive it received, with their digests.
    assert "'files': ['result.json']" in out
    received = json.loads((tmp_path / "out" / "result.json").read_text())["files"]
    assert [f["name"] for f in received] == [f"demand-{i:03d}.csv" for i in range(20)]
    stats = emu.stats()
    uploads = stats["requests"]["POST /v1/applications/{app_id}/runs/uploadurl"]
    assert sum(uploads.values()) == 2  # the directory and the JSON each went through a URL


@pytest.mark.slow
def test_custom_apps_compares_two_instances_of_the_pushed_model(
    emu: ThreadedEmulator, tmp_path: Path
) -> None:
    out = run_example(emu.url, "custom_apps.py", cwd=tmp_path, timeout=300)
    # examples/knapsack on the input: 65 with every item, 25 with the first two only.
    assert "stable: statuses ['succeeded'], values [65.0, 65.0], median 65.0" in out
    assert "candidate: statuses ['succeeded'], values [25.0, 25.0], median 25.0" in out
