"""`asyncrun run` and `asyncrun batch` against an API URL that redirects (the emulator's
`/_emulator/redirect/...` prefix): the calls follow it, each scenario makes one run."""

from __future__ import annotations

from pathlib import Path

from asyncrun.emulator import ThreadedEmulator

from .conftest import run_cli, write_manifest


def test_run_and_batch_follow_a_307_with_one_run_per_scenario(
    emulator_thread: ThreadedEmulator, tmp_path: Path
) -> None:
    url = emulator_thread.url + "/_emulator/redirect/307/"
    single = run_cli(
        ["run", "--app-id", "redir-app", "--input-json", '{"a": 1}', "--wait", "--url", url],
        tmp_path,
    )
    assert single.returncode == 0, single.stderr
    assert "succeeded" in single.stdout
    write_manifest(tmp_path / "sweep.jsonl", 5)
    journal = ["--journal", "j.db", "--out", "out", "--limits", "unlimited"]
    batch = run_cli(
        ["batch", "--app-id", "redir-app", "sweep.jsonl", *journal, "--url", url], tmp_path
    )
    assert batch.returncode == 0, batch.stderr
    stats = emulator_thread.stats()
    assert stats["runs_created"] == 6
    # The batch names its runs: one run each, no duplicate.
    assert sorted(n.rsplit("/", 1)[-1] for n in stats["runs_per_name"]) == [
        f"m{i}" for i in range(5)
    ]
    assert set(stats["runs_per_name"].values()) == {1}
    assert stats["requests"]["POST /_emulator/redirect/{how}/{rest}"] == {"307": 6}
