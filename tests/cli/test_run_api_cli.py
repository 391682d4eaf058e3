"""`asyncrun logs` and `asyncrun batch --instance-id A --instance-id B`, as a user runs them."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from asyncrun.emulator import ThreadedEmulator

from .conftest import run_cli

Factory = Callable[..., AbstractContextManager[ThreadedEmulator]]
APP = "logs-app"


def test_logs_and_follow(emulator_thread_factory: Factory, tmp_path: Path) -> None:
    with emulator_thread_factory(time_scale=20.0) as emu:
        created = run_cli(
            ["run", "--app-id", APP, "--input-json", '{"a": 1}', "--url", emu.url], tmp_path
        )
        assert created.returncode == 0, created.stderr
        run_id = created.stdout.strip()
        followed = run_cli(
            ["logs", "--app-id", APP, run_id, "--follow", "--url", emu.url], tmp_path
        )
        assert followed.returncode == 0, followed.stderr
        lines = [line.split(" ", 1)[1] for line in followed.stdout.splitlines()]
        assert lines == [f"run {run_id} queued", "run started", "run succeeded"]
        whole = run_cli(["logs", "--app-id", APP, run_id, "--url", emu.url], tmp_path)
        assert whole.returncode == 0
        assert whole.stdout.splitlines()[-1].endswith("run succeeded")
        missing = run_cli(["logs", "--app-id", APP, "run-nope", "--url", emu.url], tmp_path)
        assert missing.returncode != 0 and "404" in missing.stdout + missing.stderr


def test_batch_on_two_instances(emulator_thread: ThreadedEmulator, tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps({"a": 1}))
    (tmp_path / "b.json").write_text(json.dumps({"b": 2}))
    args = ["batch", "--app-id", "inst-cli", "a.json", "b.json", "--grid", "seed=1,2"]
    args += ["--instance-id", "v1", "--instance-id", "v2", "--journal", "j.db", "--out", "out"]
    done = run_cli([*args, "--limits", "unlimited", "--url", emulator_thread.url], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "by instance" in done.stdout
    with (tmp_path / "out" / "summary.csv").open() as source:
        rows = list(csv.DictReader(source))
    assert sorted((r["key"], r["instance_id"]) for r in rows) == sorted(
        (f"{name}/instance_id={inst},seed={seed}", inst)
        for name in ("a", "b")
        for inst in ("v1", "v2")
        for seed in ("1", "2")
    )
    assert all(json.loads(r["metrics"]) == {"value": float(r["value"])} for r in rows)
    by_instance = {
        cells[0]: cells[1:3]
        for line in done.stdout.splitlines()
        if line.startswith("│ v")
        for cells in [[c.strip() for c in line.strip("│").split("│")]]
    }
    assert by_instance == {"v1": ["4", "0"], "v2": ["4", "0"]}  # succeeded, failed
