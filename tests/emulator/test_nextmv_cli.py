"""The official Nextmv CLI (shipped in the nextmv 1.13.0 wheel) drives the emulator over HTTPS.

The CLI reaches a custom endpoint only over HTTPS: a profile's endpoint is stored without its
scheme and gets `https://` put in front (and NEXTMV_ENDPOINT with a scheme crashes it). So, as a
user would: `asyncrun emulator --tls --ca-out ca.pem`, trust the CA with REQUESTS_CA_BUNDLE (its
`requests`) and SSL_CERT_FILE, and `nextmv configuration create --endpoint 127.0.0.1:PORT` (the
flag is hidden in its help, but documented as for other endpoints). HOME is a temp folder, so
the CLI's ~/.nextmv/config.yaml is the test's own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from asyncrun.emulator import ThreadedEmulator
from tests.nextmv_cli import NextmvCLI, configured_cli

APP = "cli-app"
KEY = "test-key"
CLI_TIMEOUT = 120


@pytest.fixture
def emu(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
) -> Iterator[ThreadedEmulator]:
    with emulator_thread_factory(tls=True, time_scale=20) as running:
        yield running


@pytest.fixture
def nextmv_cli(emu: ThreadedEmulator, tmp_path: Path) -> NextmvCLI:
    return configured_cli(emu, tmp_path, key=KEY, timeout=CLI_TIMEOUT)


def digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def run_id_from(stderr: str) -> str:
    words = [w for w in stderr.split() if w.startswith("run-")]
    assert words, stderr
    return words[0].strip(".")


@pytest.mark.slow
def test_the_official_cli_runs_inspects_and_cancels(
    nextmv_cli: NextmvCLI, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    (tmp_path / "input.json").write_text(json.dumps({"stops": 3}))
    done = nextmv_cli(
        "cloud", "run", "create", "--app-id", APP, "--input", "input.json", "--output", "out.json"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    run_id = run_id_from(done.stderr)
    # --output writes the whole run result; its output carries the digest of our input.
    result = json.loads((tmp_path / "out.json").read_text())
    assert result["id"] == run_id
    assert result["metadata"]["status_v2"] == "succeeded"
    assert result["output"]["input_digest"] == digest({"stops": 3})

    listed = nextmv_cli.json("cloud", "run", "list", "--app-id", APP)
    assert run_id in {run["id"] for run in listed}
    metadata = nextmv_cli.json("cloud", "run", "metadata", "--app-id", APP, "--run-id", run_id)
    assert metadata["metadata"]["status_v2"] == "succeeded"
    got = nextmv_cli.json("cloud", "run", "get", "--app-id", APP, "--run-id", run_id)
    assert got["output"] == result["output"]
    logs = nextmv_cli("cloud", "run", "logs", "--app-id", APP, "--run-id", run_id)
    assert logs.returncode == 0
    assert "run succeeded" in logs.stderr  # the CLI prints logs to stderr

    # A long run, canceled.
    started = nextmv_cli.json(
        "cloud",
        "run",
        "create",
        "--app-id",
        APP,
        "--input",
        "input.json",
        "--options",
        "emulator.duration=600",
    )
    nextmv_cli.ok("cloud", "run", "cancel", "--app-id", APP, "--run-id", started["run_id"])
    after = nextmv_cli.json(
        "cloud", "run", "metadata", "--app-id", APP, "--run-id", started["run_id"]
    )
    assert after["metadata"]["status_v2"] == "canceled"
    # Every request came over TLS; the CLI opened a connection (and a handshake) per call.
    conns = emu.stats()["connections"]
    assert conns["tls_handshakes"] == conns["opened"] > 0


@pytest.mark.slow
def test_the_official_cli_sends_a_directory(
    nextmv_cli: NextmvCLI, emu: ThreadedEmulator, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "stops.csv").write_text("id,lat\na,1.5\n")
    (inputs / "fleet.json").write_text('{"vehicles": 2}')
    done = nextmv_cli(
        "cloud", "run", "create", "--app-id", APP, "--input", "inputs",
        "--content-format", "multi-file", "--output", "outputs",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    # The CLI asks for a multi-file input only (its output format stays JSON), so --output is
    # a file holding the run result; the default app lists the files it received.
    result = json.loads((tmp_path / "outputs").read_text())
    assert result["metadata"]["format"]["input"]["type"] == "multi-file"
    received = {f["name"]: f["sha256"] for f in result["output"]["files"]}
    assert received == {
        name: hashlib.sha256((inputs / name).read_bytes()).hexdigest()
        for name in ("stops.csv", "fleet.json")
    }
    # The tarball went up through a presigned https URL.
    assert emu.stats()["requests"]["PUT /_storage/{key}"] == {"200": 1}


@pytest.mark.slow
def test_the_official_cli_manages_apps_versions_and_instances(
    nextmv_cli: NextmvCLI, tmp_path: Path
) -> None:
    app_dir = tmp_path / "app"
    app_dir.mkdir()
    (app_dir / "app.yaml").write_text(
        "type: python\nruntime: ghcr.io/nextmv-io/runtime/python:3.11\nfiles:\n  - main.py\n"
    )
    (app_dir / "main.py").write_text(
        "import json, sys\njson.dump({'echo': json.load(sys.stdin)}, sys.stdout)\n"
    )
    nextmv_cli.ok("cloud", "app", "create", "--app-id", "cli-apps", "--name", "CLI apps")
    got = nextmv_cli.json("cloud", "app", "get", "--app-id", "cli-apps")
    assert got["id"] == "cli-apps" and got["name"] == "CLI apps"
    assert "cli-apps" in {app["id"] for app in nextmv_cli.json("cloud", "app", "list")}
    nextmv_cli.ok("cloud", "app", "push", "--app-id", "cli-apps", "--app-dir", str(app_dir))
    nextmv_cli.ok("cloud", "version", "create", "--app-id", "cli-apps", "--version-id", "v1")
    versions = nextmv_cli.json("cloud", "version", "list", "--app-id", "cli-apps")
    assert "v1" in {v["id"] for v in versions}
    nextmv_cli.ok(
        "cloud", "instance", "create", "--app-id", "cli-apps", "--instance-id", "fast",
        "--version-id", "v1",
    )  # fmt: skip
    instances = nextmv_cli.json("cloud", "instance", "list", "--app-id", "cli-apps")
    assert "fast" in {i["id"] for i in instances}
    (tmp_path / "in.json").write_text('{"n": 4}')
    nextmv_cli.ok(
        "cloud", "run", "create", "--app-id", "cli-apps", "--instance-id", "fast",
        "--input", "in.json", "--output", "echo.json",
    )  # fmt: skip
    assert json.loads((tmp_path / "echo.json").read_text())["output"] == {"echo": {"n": 4}}
