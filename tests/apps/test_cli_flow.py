"""The seed's custom-app flow from the command line against `asyncrun emulator`: create, push,
promote, run on the default instance, push a changed model, a candidate instance, the same
sweep on both instances, each answering with its own code."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .support import EXAMPLE, KEY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def emulator_url() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "asyncrun", "emulator", "--port", "0", "--api-key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"listening on (http://\S+)", line)
        assert found, line
        yield found.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def cli(url: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NEXTMV_API_KEY=KEY)
    env.pop("NEXTMV_ENDPOINT", None)
    return subprocess.run(
        [sys.executable, "-m", "asyncrun", *args, "--url", url],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def ok_json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_the_seed_flow(emulator_url: str, tmp_path: Path) -> None:
    url = emulator_url
    app = ok_json(cli(url, "app", "create", "--app-id", "knapsack", "--name", "Knapsack"))
    assert (app["id"], app["name"]) == ("knapsack", "Knapsack")
    pushed = cli(url, "app", "push", "--app-id", "knapsack", "--app-dir", str(EXAMPLE))
    assert pushed.returncode == 0, pushed.stderr
    assert "devint" in pushed.stderr

    promoted = ok_json(
        cli(url, "app", "promote", "--app-id", "knapsack", "--version-id", "v1",
            "--instance-id", "stable")
    )  # fmt: skip
    assert (promoted["id"], promoted["version_id"]) == ("stable", "v1")
    assert ok_json(cli(url, "app", "get", "--app-id", "knapsack"))["default_instance"] == "stable"

    run = cli(url, "run", "--app-id", "knapsack", str(EXAMPLE / "input.json"), "--wait")
    assert run.returncode == 0, run.stderr
    output = json.loads(run.stdout[run.stdout.index("{") :])
    assert output["solution"]["value"] == 65

    # A changed model: it considers only the first two items unless told otherwise.
    changed = tmp_path / "knapsack-v2"
    shutil.copytree(EXAMPLE, changed)
    main = (changed / "main.py").read_text()
    (changed / "main.py").write_text(main.replace('("max_items", int, 0,', '("max_items", int, 2,'))
    assert (
        cli(url, "app", "push", "--app-id", "knapsack", "--app-dir", str(changed)).returncode == 0
    )
    version = ok_json(cli(url, "version", "create", "--app-id", "knapsack", "--version-id", "v2"))
    assert version["id"] == "v2"
    candidate = ok_json(
        cli(url, "instance", "create", "--app-id", "knapsack", "--instance-id", "candidate",
            "--version-id", "v2", "--name", "Candidate")
    )  # fmt: skip
    assert candidate["version_id"] == "v2"
    listed = ok_json(cli(url, "instance", "list", "--app-id", "knapsack"))
    assert [i["id"] for i in listed] == ["stable", "candidate"]
    assert [v["id"] for v in ok_json(cli(url, "version", "list", "--app-id", "knapsack"))] == [
        "v1",
        "v2",
    ]

    # The same sweep on both instances.
    values = {}
    for instance in ("stable", "candidate"):
        out = tmp_path / f"out-{instance}"
        batch = cli(
            url, "batch", "--app-id", "knapsack", str(EXAMPLE / "input.json"),
            "--instance-id", instance, "--grid", "duration=10,20",
            "--journal", str(tmp_path / f"{instance}.db"), "--out", str(out),
        )  # fmt: skip
        assert batch.returncode == 0, batch.stdout + batch.stderr
        results = sorted((out / "results").rglob("*.json"))
        assert len(results) == 2
        values[instance] = {json.loads(p.read_text())["solution"]["value"] for p in results}
    assert values == {"stable": {65}, "candidate": {25}}


def test_cli_errors_are_clear(emulator_url: str, tmp_path: Path) -> None:
    bad = cli(emulator_url, "app", "create", "--app-id", "Bad_Id")
    assert bad.returncode == 2
    assert "3-30 characters of lowercase letters" in bad.stderr
    missing = cli(emulator_url, "app", "get", "--app-id", "no-such-app")
    assert missing.returncode == 1
    assert "application 'no-such-app' not found" in missing.stderr
    ok_json(cli(emulator_url, "app", "create", "--app-id", "empty-app"))
    promote = cli(emulator_url, "app", "promote", "--app-id", "empty-app", "--version-id", "v1")
    assert promote.returncode == 2 and "--instance-id" in promote.stderr
    push = cli(emulator_url, "app", "push", "--app-id", "empty-app", "--app-dir", str(tmp_path))
    assert push.returncode == 2 and "no app.yaml" in push.stderr
