"""`asyncrun batch` as a user runs it: killed with SIGKILL and run again, interrupted with
Ctrl-C under each policy, plus `status` and `cancel` on its journal."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import signal
import subprocess
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from gated_app import gated_app

from asyncrun.emulator import FaultProfile, ThreadedEmulator

from .conftest import journal_states, printed_seed, run_cli, start_cli, wait_for, write_manifest

Factory = Callable[..., AbstractContextManager[ThreadedEmulator]]


def digest(value: object) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def batch_args(url: str, tmp_path: Path, *extra: str) -> list[str]:
    return [
        "batch",
        "--app-id",
        "cli-app",
        "manifest.jsonl",
        "--grid",
        "seed=1,2",
        "--max-in-flight",
        "40",
        "--journal",
        "sweep.db",
        "--out",
        "out",
        "--limits",
        "unlimited",
        "--url",
        url,
        "--batch-tag",
        "cli",
        *extra,
    ]


SHORT_DEADLINE = ("--connect-timeout", "1", "--read-timeout", "1", "--submit-margin", "1")


def check_complete(emu: ThreadedEmulator, tmp_path: Path, count: int) -> None:
    """Every scenario has its own result file, the CSV has every row, no run name twice."""
    names = {f"cli/m{i}/seed={s}" for i in range(count) for s in (1, 2)}
    per_name = emu.stats()["runs_per_name"]
    assert set(per_name) == names
    assert [n for n, c in per_name.items() if c != 1] == []
    for i in range(count):
        for seed in (1, 2):
            result = json.loads((tmp_path / f"out/results/m{i}/seed={seed}.json").read_text())
            assert result["input_digest"] == digest({"i": i})
            assert result["options"]["seed"] == str(seed)
    with (tmp_path / "out/summary.csv").open() as source:
        rows = list(csv.DictReader(source))
    assert sorted(r["key"] for r in rows) == sorted(n.removeprefix("cli/") for n in names)
    assert {r["status"] for r in rows} == {"succeeded"}


def resume_completes(
    emu: ThreadedEmulator, args: list[str], tmp_path: Path, count: int
) -> subprocess.CompletedProcess[str]:
    """The same command again: it exits 0 and the batch is complete, exactly once."""
    again = run_cli(args, tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    check_complete(emu, tmp_path, count)
    return again


def all_submitted(tmp_path: Path, count: int) -> Callable[[], bool]:
    return lambda: journal_states(tmp_path / "sweep.db").get("submitted") == 2 * count


def stopped(
    args: list[str], tmp_path: Path, ready: Callable[[], bool], sig: signal.Signals
) -> tuple[int, str]:
    """`asyncrun ARGS`, sent `sig` once `ready()`: its exit code and output."""
    child = start_cli(args, tmp_path)
    try:
        wait_for(ready)
        child.send_signal(sig)
        output, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    return child.returncode, output


def _progress(journal: Path) -> int:
    """Steps the batch has made: one per scenario past "pending", one more per finished one."""
    states = journal_states(journal)
    return sum(n for state, n in states.items() if state != "pending") + states.get("terminal", 0)


@pytest.mark.slow
def test_sigkill_at_a_random_moment_then_the_same_command_finishes_exactly_once(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    count = 60
    # The moment is a point in the batch's progress (not a time), drawn from a printed seed:
    # ASYNCRUN_TEST_SEED=<seed> replays it.
    moment = random.Random(printed_seed()).randint(1, 200)  # of 240 steps: submitted .. finished
    print(f"SIGKILL once the journal shows {moment} steps")
    write_manifest(tmp_path / "manifest.jsonl", count)
    faults = FaultProfile(rate_500=0.02, drop=0.02, lost_create=0.05)
    with emulator_thread_factory(duration=(0.2, 1.0), faults=faults, seed=3) as emu:
        # Short timeouts and margin: a submit in doubt is looked up 3 s after it was sent
        # (with the defaults, 100 s).
        args = batch_args(emu.url, tmp_path, *SHORT_DEADLINE)
        child = start_cli(args, tmp_path)
        try:
            wait_for(lambda: _progress(tmp_path / "sweep.db") >= moment)
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            child.kill()
            child.communicate()
        assert child.returncode == -signal.SIGKILL
        again = resume_completes(emu, args, tmp_path, count)
        assert "batch summary" in again.stdout


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["detach", "cancel"])
def test_ctrl_c_with_each_policy(
    emulator_thread_factory: Factory, tmp_path: Path, policy: str
) -> None:
    count = 10
    write_manifest(tmp_path / "manifest.jsonl", count)
    gate = tmp_path / "gate"
    with emulator_thread_factory(app_command=gated_app(gate)) as emu:
        args = batch_args(emu.url, tmp_path, "--on-interrupt", policy)
        code, output = stopped(args, tmp_path, all_submitted(tmp_path, count), signal.SIGINT)
        assert code == 130, output
        assert "Resume with" in output and "asyncrun batch" in output
        assert journal_states(tmp_path / "sweep.db") == {"submitted": 2 * count}
        statuses = {run["status"] for run in emu.runs()}
        if policy == "cancel":
            assert statuses == {"canceled"}
            return
        assert statuses <= {"queued", "running"}
        status = run_cli(["status", "--journal", "sweep.db"], tmp_path)
        assert status.returncode == 0
        assert "submitted" in status.stdout and "resume with" in status.stdout
        gate.touch()  # the detached runs may finish now
        resume_completes(emu, args, tmp_path, count)


@pytest.mark.slow
def test_cancel_command_cancels_what_the_journal_has_in_flight(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    count = 5
    write_manifest(tmp_path / "manifest.jsonl", count, {"emulator.duration": "30"})
    with emulator_thread_factory() as emu:
        child = start_cli(batch_args(emu.url, tmp_path), tmp_path)
        try:
            wait_for(all_submitted(tmp_path, count))
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            child.kill()
            child.communicate()
        result = run_cli(["cancel", "--journal", "sweep.db", "--url", emu.url], tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"canceled {2 * count} runs" in result.stdout
        assert {run["status"] for run in emu.runs()} == {"canceled"}


def test_bad_sources_fail_before_anything_is_sent(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    (tmp_path / "manifest.jsonl").write_text('{"key": "a", "input": {}}\n{"key": "b"}\n')
    with emulator_thread_factory() as emu:
        result = run_cli(batch_args(emu.url, tmp_path), tmp_path)
        assert result.returncode == 2
        assert "manifest.jsonl:2" in result.stderr
        assert emu.stats()["runs_created"] == 0


def test_two_batches_started_at_once_on_one_journal_one_is_refused(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    count = 20
    write_manifest(tmp_path / "manifest.jsonl", count, {"emulator.duration": "60"})
    with emulator_thread_factory() as emu:
        args = batch_args(emu.url, tmp_path, "--on-interrupt", "cancel")
        both = [start_cli(args, tmp_path), start_cli(args, tmp_path)]
        try:
            # The same sweep typed in two terminals: one takes the journal, the other stops.
            wait_for(lambda: any(p.poll() is not None for p in both))
            loser = next(p for p in both if p.poll() is not None)
            winner = next(p for p in both if p is not loser)
            refused, _ = loser.communicate(timeout=30)
            wait_for(all_submitted(tmp_path, count))
            status = run_cli(["status", "--journal", "sweep.db"], tmp_path)
            winner.send_signal(signal.SIGINT)
            output, _ = winner.communicate(timeout=30)
        finally:
            for child in both:
                child.kill()
                child.communicate()
        assert loser.returncode == 2, refused
        assert "in use by another asyncrun batch" in refused
        assert f"pid {winner.pid} on host" in refused
        assert status.returncode == 0, status.stdout
        assert f"in use by a running batch: pid {winner.pid}" in status.stdout
        assert winner.returncode == 130, output
        per_name = emu.stats()["runs_per_name"]
        assert len(per_name) == 2 * count
        assert set(per_name.values()) == {1}


# Another process holding the journal of the very batch `batch_args` describes (same app and
# tag, so only the lock stands in the way), until the test closes its stdin.
_HOLDER = """
import asyncio, sys
from asyncrun.batch.journal import Journal
async def main():
    async with Journal(sys.argv[1]) as journal:
        await journal.begin(app_id="cli-app", batch_tag="cli", default_tag="cli")
        print("held", flush=True)
        await asyncio.to_thread(sys.stdin.read)
asyncio.run(main())
"""


def test_a_journal_held_by_another_process_is_refused_before_anything_is_shown_or_sent(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    write_manifest(tmp_path / "manifest.jsonl", 3)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, "sweep.db"],
        cwd=tmp_path,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with emulator_thread_factory() as emu:
            result = run_cli(batch_args(emu.url, tmp_path), tmp_path)
            requests = emu.stats()["requests"]
    finally:
        holder.communicate(input="", timeout=30)  # end of stdin: it lets the journal go
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""  # no bar, no summary
    [line] = result.stderr.splitlines()
    assert line.startswith("asyncrun batch: journal 'sweep.db' is in use by another asyncrun")
    assert f"pid {holder.pid} on host" in line
    assert requests == {}
    assert not (tmp_path / "out").exists()


def test_an_extra_run_of_a_name_is_canceled_and_reported(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    count = 3
    write_manifest(tmp_path / "manifest.jsonl", count)
    with emulator_thread_factory() as emu:
        # A run of one of the batch's names that the batch did not make, still running. A
        # first session whose every POST was answered does not sweep (no duplicate can come
        # of it); its resume cannot know what the POSTs of an earlier process did, and sweeps.
        body = json.dumps(
            {"input": {"i": 0}, "name": "cli/m0/seed=1", "options": {"emulator.duration": "600"}}
        ).encode()
        extra = emu.call(lambda: emu.state.create_run("cli-app", body, None)).id
        first = run_cli(batch_args(emu.url, tmp_path), tmp_path)
        assert first.returncode == 0, first.stdout
        assert "duplicate runs" not in first.stdout
        result = run_cli(batch_args(emu.url, tmp_path), tmp_path)
        statuses = {run["id"]: run["status"] for run in emu.runs()}
    assert result.returncode == 0, result.stdout
    assert "duplicate runs" in result.stdout and "1 canceled" in result.stdout
    assert statuses[extra] == "canceled"
    with (tmp_path / "out/summary.csv").open() as source:
        rows = {r["key"]: r for r in csv.DictReader(source)}
    assert rows["m0/seed=1"]["duplicate_runs"] == f"{extra} (canceled by the sweep)"
    assert [k for k, r in rows.items() if r["duplicate_runs"]] == ["m0/seed=1"]


@pytest.mark.slow
def test_sigterm_is_an_interrupt_and_the_same_command_resumes_exactly_once(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    """`kill -TERM` (Kubernetes, systemd, CI runners, `timeout`) as Ctrl-C: the runs keep
    going (detach), the journal is released with its time, summary.csv is written, one line
    says how to resume, exit code 143; the same command then finishes with one run a name."""
    count = 10
    write_manifest(tmp_path / "manifest.jsonl", count)
    gate = tmp_path / "gate"
    with emulator_thread_factory(app_command=gated_app(gate)) as emu:
        args = batch_args(emu.url, tmp_path)
        code, output = stopped(args, tmp_path, all_submitted(tmp_path, count), signal.SIGTERM)
        assert code == 143, output
        [line] = [x for x in output.splitlines() if "Resume with" in x]
        assert line.startswith("interrupted by SIGTERM: runs in flight keep running")
        assert line.endswith("Resume with: asyncrun " + " ".join(args))
        assert (tmp_path / "out/summary.csv").read_text().startswith("key,status,run_id")
        lock = json.loads((tmp_path / "sweep.db.lock").read_text())
        assert lock["released"]  # let go cleanly, with the time: a resume's deadlines count from it
        assert journal_states(tmp_path / "sweep.db") == {"submitted": 2 * count}
        assert {run["status"] for run in emu.runs()} <= {"queued", "running"}
        gate.touch()
        resume_completes(emu, args, tmp_path, count)


@pytest.mark.slow
def test_a_result_that_cannot_be_written_is_reported_and_the_resume_writes_it(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    count = 5
    write_manifest(tmp_path / "manifest.jsonl", count)
    blocker = tmp_path / "out/results/m3"  # a file where the results of m3/seed=* go
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    with emulator_thread_factory() as emu:
        args = batch_args(emu.url, tmp_path)
        first = run_cli(args, tmp_path)
        assert first.returncode == 1, first.stdout + first.stderr
        text = " ".join(first.stdout.split())
        assert "2 result files were not written (first: out/results/m3/seed=" in text
        assert "'out/results/m3' is not a directory); their runs are kept in the journal" in text
        assert "the batch did not complete. Resume with: asyncrun batch" in text
        assert "interrupted" not in first.stdout + first.stderr
        with (tmp_path / "out/summary.csv").open() as source:
            rows = {r["key"]: r for r in csv.DictReader(source)}
        assert len(rows) == 2 * count
        assert {k for k, r in rows.items() if r["status"] != "succeeded"} == {
            "m3/seed=1",
            "m3/seed=2",
        }
        assert journal_states(tmp_path / "sweep.db") == {"terminal": 8, "submitted": 2}
        blocker.unlink()
        resume_completes(emu, args, tmp_path, count)


@pytest.mark.slow
def test_sigterm_stops_run_wait_and_says_the_run_keeps_going(
    emulator_thread_factory: Factory, tmp_path: Path
) -> None:
    (tmp_path / "in.json").write_text('{"x": 1}')
    gate = tmp_path / "gate"
    with emulator_thread_factory(app_command=gated_app(gate)) as emu:
        args = ["run", "--app-id", "cli-app", "in.json", "--wait", "--url", emu.url]
        child = start_cli(args, tmp_path)
        try:
            assert child.stdout is not None
            run_id = child.stdout.readline().strip()
            child.send_signal(signal.SIGTERM)
            output, _ = child.communicate(timeout=30)
        finally:
            child.kill()
        assert child.returncode == 143, output
        assert f"interrupted (SIGTERM): run {run_id} keeps running in the cloud" in output
        assert [(run["id"], run["status"]) for run in emu.runs()] in (
            [(run_id, "queued")],
            [(run_id, "running")],
        )
