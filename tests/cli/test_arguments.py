"""Bad input to every command: one line on stderr, exit code 2, no traceback, nothing drawn on
stdout and not one request sent (the emulator's stats stay empty). Run in-process through
`asyncrun.cli.main` (fast); two cases also as a user runs them, in a subprocess."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncrun.batch.journal import Journal
from asyncrun.cli import main
from asyncrun.emulator import EmulatorConfig, ThreadedEmulator, serve_in_thread

from .conftest import KEY, run_cli

URL = "<url>"  # replaced by the emulator's URL


@pytest.fixture(scope="module")
def emulator() -> Iterator[ThreadedEmulator]:
    with serve_in_thread(EmulatorConfig(api_key=KEY)) as emu:
        yield emu


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with a good input, a bad manifest and journals of every wrong kind."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NEXTMV_API_KEY", KEY)
    monkeypatch.delenv("NEXTMV_ENDPOINT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.nextmv/config.yaml
    (tmp_path / "in.json").write_text('{"x": 1}')
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "bad.jsonl").write_text('{"key": "a", "input": {}}\n{"key": "b"}\n')
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "text.db").write_text("just some text, not SQLite at all " * 10)
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "has-results-file").mkdir()
    (tmp_path / "has-results-file" / "results").write_text("a file where results/ goes")
    foreign = sqlite3.connect(tmp_path / "foreign.db")
    foreign.execute("CREATE TABLE users (name TEXT)")
    foreign.commit()
    foreign.close()
    asyncio.run(_journal(tmp_path / "other-app.db", "other-app", "tag-1"))
    asyncio.run(_journal(tmp_path / "other-tag.db", "my-app", "tag-1"))
    empty = sqlite3.connect(tmp_path / "never-used.db")
    empty.execute("CREATE TABLE scenarios (key TEXT)")
    empty.execute("CREATE TABLE meta (name TEXT, value TEXT)")
    empty.commit()
    empty.close()
    return tmp_path


async def _journal(path: Path, app_id: str, tag: str) -> None:
    async with Journal(path) as journal:
        await journal.begin(app_id=app_id, batch_tag=tag, default_tag=tag)


def _batch(*changes: str, drop: str | None = None, source: str = "in.json") -> list[str]:
    """A good `batch` command with `changes` appended (argparse keeps the last value) or one
    option (and its value) dropped."""
    args = ["batch", "--app-id", "my-app", source, "--journal", "j.db", "--out", "out"]
    args += ["--url", URL, "--limits", "unlimited"]
    if drop is not None:
        i = args.index(drop)
        del args[i : i + 2]
    return [*args, *changes]


def _run(*changes: str) -> list[str]:
    return ["run", "--app-id", "my-app", "--url", URL, *changes]


CASES = {
    # batch: option syntax
    "grid without =": (_batch("--grid", "foo"), "--grid: expected NAME=VALUE, got 'foo'"),
    "grid without values": (_batch("--grid", "seed="), "grid 'seed=' has no values"),
    "option without =": (_batch("--option", "fast"), "--option: expected NAME=VALUE"),
    "unknown option": (_batch("--frobnicate"), "unrecognized arguments: --frobnicate"),
    "missing --journal": (_batch(drop="--journal"), "required: --journal"),
    # batch: numbers and names
    "max-in-flight 0": (_batch("--max-in-flight", "0"), "expected a whole number >= 1, got '0'"),
    "max-in-flight -5": (_batch("--max-in-flight", "-5"), "whole number >= 1, got '-5'"),
    "max-in-flight text": (_batch("--max-in-flight", "many"), "whole number >= 1, got 'many'"),
    "bad app id": (_batch("--app-id", "My_App"), "invalid application id 'My_App'"),
    "empty batch tag": (_batch("--batch-tag", ""), "a batch tag is 1-64 characters"),
    "empty instance": (_batch("--instance-id", " "), "--instance-id: expected a non-empty"),
    "unknown limits preset": (_batch("--limits", "fast"), "invalid choice: 'fast'"),
    "unknown interrupt policy": (_batch("--on-interrupt", "stop"), "invalid choice: 'stop'"),
    # batch: URL
    "ftp URL": (_batch("--url", "ftp://example.com"), "must start with http:// or https://"),
    "URL without host": (_batch("--url", "http://"), "has no host"),
    "URL bad port": (_batch("--url", "http://127.0.0.1:port"), "invalid URL (Port could not"),
    # batch: files
    "missing source": (
        _batch(source="nope.json"),
        "source 'nope.json' is not a file or a directory",
    ),
    "bad manifest line": (
        _batch(source="bad.jsonl"),
        "bad.jsonl:2: scenario 'b': give exactly one",
    ),
    "journal folder missing": (
        _batch("--journal", "/nonexistent/dir/j.db"),
        "folder '/nonexistent/dir' does not exist",
    ),
    "journal is a folder": (_batch("--journal", "a-dir"), "--journal 'a-dir' is a directory"),
    "journal not SQLite": (_batch("--journal", "text.db"), "'text.db' is not an asyncrun journal"),
    "journal of another program": (
        _batch("--journal", "foreign.db"),
        "SQLite database of another program",
    ),
    "journal of another app": (
        _batch("--journal", "other-app.db"),
        "belongs to application 'other-app', not 'my-app'",
    ),
    "journal of another batch": (
        _batch("--journal", "other-tag.db", "--batch-tag", "tag-2"),
        "is batch 'tag-1', not --batch-tag 'tag-2'",
    ),
    "out is a file": (_batch("--out", "a-file"), "--out 'a-file' exists and is not a directory"),
    "out under a file": (_batch("--out", "a-file/results"), "is not a directory"),
    # Checked by writing, not by an access check (which says yes to root: tests run as root).
    "out cannot be created": (
        _batch("--out", "/proc/forbidden"),
        "--out '/proc/forbidden' cannot be written: No such file or directory",
    ),
    "out results folder is a file": (_batch("--out", "has-results-file"), "is not a directory"),
    # status and cancel
    "status: no journal": (["status", "--journal", "nope.db"], "no journal at 'nope.db'"),
    "status: not SQLite": (["status", "--journal", "text.db"], "is not an asyncrun journal"),
    "status: foreign": (["status", "--journal", "foreign.db"], "of another program"),
    "status: never used": (["status", "--journal", "never-used.db"], "is not a batch journal"),
    "cancel: no journal": (["cancel", "--journal", "nope.db", "--url", URL], "no journal at"),
    "cancel: bad URL": (
        ["cancel", "--journal", "other-app.db", "--url", "file:///tmp/x"],
        "must start with http:// or https://",
    ),
    # run
    "run: no input": (_run(), "give an input file or directory, or --input-json"),
    "run: two inputs": (_run("in.json", "--input-json", "{}"), "(one of them)"),
    "run: missing input": (_run("nope.json"), "input 'nope.json' does not exist"),
    "run: invalid JSON file": (_run("broken.json"), "broken.json is not valid JSON"),
    "run: invalid JSON text": (_run("--input-json", "{x"), "--input-json is not valid JSON"),
    "run: timeout 0": (_run("in.json", "--timeout", "0"), "expected a number > 0, got '0'"),
    "run: timeout text": (_run("in.json", "--timeout", "soon"), "got 'soon'"),
    "run: output under a file": (_run("in.json", "--output", "a-file/o.json"), "not a directory"),
    "run: output cannot be created": (
        _run("in.json", "--output", "/proc/forbidden/o.json"),
        "cannot be written",
    ),
    "run: option without =": (_run("in.json", "--option", "x"), "expected NAME=VALUE"),
    "run: bad app id": (_run("in.json", "--app-id", "x"), "invalid application id 'x'"),
    # demo and emulator (no requests: they would serve their own emulator)
    "demo: 0 scenarios": (["demo", "--scenarios", "0"], "whole number >= 1, got '0'"),
    "demo: duration reversed": (["demo", "--duration", "5", "1"], "LOW (5.0) is above HIGH"),
    "demo: negative duration": (["demo", "--duration", "-1", "2"], "a number >= 0, got '-1'"),
    "demo: out under a file": (["demo", "--out", "a-file/x"], "is not a directory"),
    "demo: out cannot be created": (["demo", "--out", "/proc/forbidden"], "cannot be written"),
    "emulator: port": (["emulator", "--port", "70000"], "port number 0-65535, got '70000'"),
    "emulator: time scale": (["emulator", "--time-scale", "0"], "a number > 0, got '0'"),
    "emulator: fault rate": (["emulator", "--fault-503", "1.5"], "probability between 0 and 1"),
    "emulator: fault sum": (
        ["emulator", "--fault-500", "0.6", "--fault-503", "0.6"],
        "fault rates must be >= 0 and add up to at most 1",
    ),
    "emulator: capacity": (["emulator", "--capacity", "0"], "whole number >= 1"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_exit_2_and_no_request(
    case: str,
    workdir: Path,
    emulator: ThreadedEmulator,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv, expected = CASES[case]
    argv = [emulator.url if a == URL else a for a in argv]
    before = {p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file()}
    emulator.reset_stats()

    code = main(argv)

    out, err = capsys.readouterr()
    assert code == 2, (out, err)
    assert out == ""  # nothing drawn
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith(f"asyncrun {argv[0]}: ")
    assert expected in err
    assert "Traceback" not in err
    assert emulator.stats()["requests"] == {}
    after = {p.name: p.read_bytes() for p in workdir.iterdir() if p.is_file()}
    assert after == before  # no journal created, no foreign file touched
    assert not (workdir / "out").exists()


def test_missing_api_key_is_found_before_anything_is_sent(
    workdir: Path,
    emulator: ThreadedEmulator,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NEXTMV_API_KEY")
    emulator.reset_stats()
    argv = [emulator.url if a == URL else a for a in _batch()]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert "API key is missing" in err
    assert emulator.stats()["requests"] == {}
    assert not (workdir / "j.db").exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (["--grid", "foo"], "--grid: expected NAME=VALUE"),
        (["--journal", "/nonexistent/dir/j.db"], "folder '/nonexistent/dir' does not exist"),
    ],
)
def test_as_a_user_runs_it_no_traceback_and_no_progress_bar(
    change: list[str], expected: str, emulator: ThreadedEmulator, tmp_path: Path
) -> None:
    (tmp_path / "in.json").write_text("{}")
    emulator.reset_stats()
    argv = [emulator.url if a == URL else a for a in _batch(*change)]
    result = run_cli(argv, tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert emulator.stats()["requests"] == {}
