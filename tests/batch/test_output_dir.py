"""`output_dir` checked by doing (created, a probe file written) before anything is sent, and a
result file that cannot be written later: reported as such, its run kept in the journal, and
written by a resume. This machine runs the tests as root, for whom an access check says yes
where nothing can be created (/proc)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fast_polling import FAST_POLLING

from asyncrun import ConfigError, Scenario, run_batch_all
from asyncrun.batch.journal import Journal
from asyncrun.batch.results import prepare_output_dir

from .fakes import FakeApplication


@pytest.mark.parametrize(
    ("folder", "why"),
    [
        ("/proc/forbidden", "No such file or directory"),  # not even root can create it
        ("/proc/self/cannot-write", ""),
        ("a-file/results", "'a-file' is not a directory"),
        ("a-file", "'a-file' is not a directory"),
    ],
)
async def test_an_output_dir_that_cannot_be_written_fails_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, folder: str, why: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("in the way")
    app = FakeApplication()
    with pytest.raises(ConfigError) as raised:
        await run_batch_all(
            app,
            [Scenario(key="k", input={})],
            journal=tmp_path / "j.db",
            output_dir=folder,
            polling_options=FAST_POLLING,
        )
    message = str(raised.value)
    assert message.startswith(f"output_dir {folder!r} cannot be written: ") and why in message
    assert "\n" not in message
    assert (app.submits, app.polls, app.managed_inputs) == (0, 0, 0)
    assert not (tmp_path / "j.db").exists()  # checked before the journal too


def test_the_probe_leaves_nothing_behind(tmp_path: Path) -> None:
    prepare_output_dir(tmp_path / "new" / "results")
    assert (tmp_path / "new" / "results").is_dir()
    assert list((tmp_path / "new" / "results").iterdir()) == []


async def test_a_result_that_cannot_be_written_keeps_its_run_and_a_resume_writes_it(
    tmp_path: Path,
) -> None:
    out, journal = tmp_path / "out", tmp_path / "j.db"
    out.mkdir()
    (out / "blocked").write_text("a file where the folder of key blocked/b goes")
    keys = ["a", "blocked/b"]
    batch = [Scenario(key=key, input={"key": key}) for key in keys]
    app = FakeApplication()
    first = await run_batch_all(
        app, batch, journal=journal, output_dir=out, polling_options=FAST_POLLING
    )
    assert [o.status for o in first] == ["succeeded", "error"]
    unwritten = first[1]
    blocker = out / "blocked"
    assert unwritten.write_error == f"{blocker / 'b.json'}: {str(blocker)!r} is not a directory"
    assert unwritten.run_id is not None
    assert "the run succeeded" in (unwritten.error or "")
    assert "a resume with the same journal writes the file" in (unwritten.error or "")
    async with Journal(journal) as book:
        row = await book.get("blocked/b")
    assert row is not None and row.state == "submitted" and row.run_id == unwritten.run_id

    (out / "blocked").unlink()
    again = await run_batch_all(
        app, batch, journal=journal, output_dir=out, polling_options=FAST_POLLING
    )
    assert [o.status for o in again] == ["succeeded", "succeeded"]
    assert again[1].run_id == unwritten.run_id and again[1].write_error is None
    assert app.submits == 2  # nothing submitted again
    assert json.loads((out / "blocked" / "b.json").read_text()) == {"value": 1.0}
