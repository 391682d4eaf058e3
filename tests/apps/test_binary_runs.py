"""Runs of a pushed binary: failures are the run's own, hangs are bounded, cancel kills the
whole process group, and concurrency is bounded per emulator."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import nextmv
import psutil
import pytest
from nextmv import cloud

from asyncrun.emulator import ThreadedEmulator

from .support import KEY, MOODY, POLL, app_dir

# Starts a child that outlives nothing: both write their pids, then sleep.
SPAWNER = """\
import subprocess, sys, time, pathlib
out = pathlib.Path(sys.argv[sys.argv.index("-pids") + 1])
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
out.write_text(f"{child.pid} {__import__('os').getpid()}")
time.sleep(3600)
"""


def _wait_for(check: Callable[[], bool], what: str) -> None:
    for _ in range(3000):
        if check():
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def _pushed(emu: ThreadedEmulator, tmp_path: Path, source: str) -> cloud.Application:
    client = cloud.Client(api_key=KEY, url=emu.url)
    app = cloud.Application.new(client=client, id="moody")
    app.push(app_dir=str(app_dir(tmp_path / "app", source)))
    return app


def test_crash_is_a_failed_run_with_the_end_of_stderr(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
    tmp_path: Path,
) -> None:
    with emulator_thread_factory() as emu:
        app = _pushed(emu, tmp_path, MOODY)
        run_id = app.new_run(input={"mode": "crash", "n": 3})
        info = app.run_information(run_id)
        _wait_for(lambda: app.run_information(run_id).metadata.status_v2 != "running", "end")
        info = app.run_information(run_id)
        assert info.metadata.status_v2 == nextmv.StatusV2.failed
        assert info.metadata.error.endswith("ValueError: cannot solve input 3")
        assert "Traceback" in app.run_logs(run_id).log
        ok = app.new_run_with_result(input={"n": 4}, polling_options=POLL)
        assert ok.output == {"n": 4, "square": 16}


def test_a_hanging_app_is_stopped_by_the_timeout(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
    tmp_path: Path,
) -> None:
    with emulator_thread_factory(app_timeout=0.5) as emu:
        app = _pushed(emu, tmp_path, MOODY)
        run_id = app.new_run(input={"mode": "hang", "n": 1})
        _wait_for(lambda: app.run_information(run_id).metadata.status_v2 == "failed", "timeout")
        assert "ran longer than 0.5 s and was stopped" in app.run_information(run_id).metadata.error
        assert emu.state.commands.running() == 0


def test_cancel_kills_the_app_and_what_it_started(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
    tmp_path: Path,
) -> None:
    pids = tmp_path / "pids"
    with emulator_thread_factory() as emu:
        app = _pushed(emu, tmp_path, SPAWNER)
        run_id = app.new_run(input={}, options={"pids": str(pids)})
        _wait_for(lambda: pids.exists() and " " in pids.read_text(), "pids written")
        child, parent = (int(p) for p in pids.read_text().split())
        assert psutil.pid_exists(child) and psutil.pid_exists(parent)
        app.cancel_run(run_id)
        _wait_for(lambda: app.run_information(run_id).metadata.status_v2 == "canceled", "cancel")
        _wait_for(lambda: not _alive(child) and not _alive(parent), "processes gone")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.parametrize("concurrency", [1, 2])
def test_app_processes_are_bounded_per_emulator(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
    tmp_path: Path,
    concurrency: int,
) -> None:
    with emulator_thread_factory(app_concurrency=concurrency) as emu:
        app = _pushed(emu, tmp_path, MOODY)
        runs = [app.new_run(input={"mode": "hang", "n": i}) for i in range(3)]
        _wait_for(lambda: emu.state.commands.running() == concurrency, "slots full")
        statuses = [app.run_information(r).metadata.status_v2 for r in runs]
        assert statuses.count(nextmv.StatusV2.queued) == 3 - concurrency
        for run_id in runs:
            app.cancel_run(run_id)
        _wait_for(lambda: emu.state.commands.running() == 0, "all stopped")
        assert {app.run_information(r).metadata.status_v2 for r in runs} == {"canceled"}


def test_python_apps_run_with_the_interpreter_given(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
    tmp_path: Path,
) -> None:
    marker = tmp_path / "used"
    wrapper = tmp_path / "python"
    wrapper.write_text(f'#!/bin/sh\necho "$@" > {marker}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    with emulator_thread_factory(app_python=str(wrapper)) as emu:
        app = _pushed(emu, tmp_path, MOODY)
        run = app.new_run_with_result(input={"n": 3}, run_options={"k": "v"}, polling_options=POLL)
        assert run.output == {"n": 3, "square": 9}
    assert marker.read_text().split()[1:] == ["-k", "v"]
    assert marker.read_text().split()[0].endswith("main.py")
