"""The async client's custom-app calls against the emulator: the SDK's names awaited, push of
the example model, promote, and every local mistake caught before any request."""

from __future__ import annotations

import json
import sys
import tarfile
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from asyncrun import AsyncClient, ConfigError, ConflictError, InputError, NotFoundError
from asyncrun.apps import InstanceConfiguration
from asyncrun.emulator import Emulator
from tests.client.conftest import FAST, fast_client

from .support import EXAMPLE, MOODY, app_dir, tagged_app

KNAPSACK_INPUT = json.loads((EXAMPLE / "input.json").read_text())


@pytest.fixture
async def emu(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]],
) -> AsyncIterator[Emulator]:
    async with emulator_factory(page_size=2) as running:
        yield running


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncClient]:
    async with fast_client(emu.url) as c:
        yield c


def api_requests(emu: Emulator) -> int:
    return sum(
        n
        for route, counts in emu.stats()["requests"].items()
        if " /v1/" in route or " /_storage/" in route
        for n in counts.values()
    )


async def test_application_calls(client: AsyncClient, emu: Emulator) -> None:
    app = await client.new_application("knap-sack", name="Knap", description="dp")
    info = await app.get()
    assert (info.id, info.name, info.description) == ("knap-sack", "Knap", "dp")
    assert await app.exists()
    assert not await client.application("not-there").exists()
    for other in ("app-b", "app-c"):
        await client.new_application(other)
    assert [a.id for a in await client.list_applications()] == ["app-b", "app-c", "knap-sack"]
    updated = await app.update(name="Knapsack", description="0/1")
    assert (updated.name, updated.description) == ("Knapsack", "0/1")
    with pytest.raises(ConflictError, match="already exists"):
        await client.new_application("app-b")
    await app.delete()
    assert not await app.exists()
    with pytest.raises(NotFoundError, match="application 'knap-sack' not found"):
        await app.get()


@pytest.mark.parametrize("bad", ["ab", "a" * 31, "Upper", "under_score", "-x-app", "x-app."])
async def test_app_id_rule_is_checked_before_any_request(
    client: AsyncClient, emu: Emulator, bad: str
) -> None:
    with pytest.raises(ConfigError, match="3-30 characters of lowercase letters, digits"):
        await client.new_application(bad)
    assert api_requests(emu) == 0


async def test_push_example_versions_instances_and_runs(client: AsyncClient, emu: Emulator) -> None:
    app = await client.new_application("knapsack")
    await app.push(app_dir=EXAMPLE)
    latest = await app.new_run_with_result(
        KNAPSACK_INPUT, instance_id="latest", polling_options=FAST
    )
    assert latest.output["solution"] == {"items": ["map", "water", "sandwich"], "value": 65}
    version = await app.new_version("v1", name="first")
    assert version.executable is not None and version.executable.id
    assert (await app.version("v1")).name == "first"
    assert await app.version_exists("v1") and not await app.version_exists("v2")
    assert (await app.update_version("v1", description="dp")).description == "dp"
    config = InstanceConfiguration(options={"max_items": 3})
    await app.new_instance("v1", id="small", configuration=config)
    await app.new_instance("v1", id="full", name="Full")
    assert [i.id for i in await app.list_instances()] == ["small", "full"]
    assert (await app.instance("full")).name == "Full"
    assert (await app.update_instance("full", description="all")).description == "all"
    assert [v.id for v in await app.list_versions()] == ["v1"]
    small = await app.new_run_with_result(KNAPSACK_INPUT, instance_id="small", polling_options=FAST)
    assert small.output["solution"]["value"] == 55
    assert small.metadata.application_instance_id == "small"
    assert small.metadata.application_version_id == "v1"
    with pytest.raises(ConflictError, match="used by instance"):
        await app.delete_version("v1")
    await app.delete_instance("full")
    assert not await app.instance_exists("full")
    # The PUT of the archive is the SDK's: octet-stream, no Authorization.
    (put,) = [r for r in emu.stats()["recent_requests"] if r["path"].startswith("/_storage/bin")]
    headers = {k.lower(): v for k, v in put["headers"].items()}
    assert headers["content-type"] == "application/octet-stream"
    assert "authorization" not in headers


async def test_pushed_archive_holds_the_listed_files_and_no_temp_is_left(
    client: AsyncClient, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = app_dir(tmp_path / "app", "print('{}')\n")
    (source / "data").mkdir()
    (source / "data" / "a.json").write_text("{}")
    (source / "notes.txt").write_text("not listed")
    manifest = (source / "app.yaml").read_text().replace("  - main.py", "  - main.py\n  - data/")
    (source / "app.yaml").write_text(manifest)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    app = await client.new_application("listed")
    await app.push(source)
    assert list(temp.iterdir()) == []
    (binary,) = emu.state.storage.path("executables").iterdir()
    files = sorted(str(p.relative_to(binary)) for p in binary.rglob("*") if p.is_file())
    assert files == ["app.yaml", "data/a.json", "main.py"]


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        (lambda d: (d / "app.yaml").unlink(), ConfigError, "no app.yaml in"),
        (lambda d: (d / "app.yaml").write_text("type: python\n"), ConfigError, "files: Field"),
        (lambda d: (d / "app.yaml").write_text("[1, 2"), ConfigError, "cannot be read as YAML"),
        (lambda d: (d / "app.yaml").write_text("type: cobol\nfiles: [main.py]\n"), ConfigError,
         "type must be one of"),
        (lambda d: (d / "main.py").unlink(), InputError, "lists files that are not in"),
        (lambda d: ((d / "app.yaml").write_text("files: [other.py]\n"),
                    (d / "other.py").write_text("")), InputError,
         "entrypoint 'main.py' is not among"),
    ],
)  # fmt: skip
async def test_push_mistakes_are_caught_before_any_request(
    client: AsyncClient,
    emu: Emulator,
    tmp_path: Path,
    change: Callable[[Path], Any],
    error: type[Exception],
    words: str,
) -> None:
    source = app_dir(tmp_path / "app", "print(1)\n")
    change(source)
    app = client.application("some-app")
    with pytest.raises(error, match=words):
        await app.push(source)
    with pytest.raises(ConfigError, match="does not exist"):
        await app.push(tmp_path / "nowhere")
    assert api_requests(emu) == 0


REQUIREMENTS_MANIFEST = """\
type: python
runtime: ghcr.io/nextmv-io/runtime/python:3.11
files:
  - main.py
python:
  pip-requirements: requirements.txt
"""


async def test_requirements_without_the_push_extra_name_it(
    client: AsyncClient, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = app_dir(tmp_path / "app", "print(1)\n", REQUIREMENTS_MANIFEST)
    monkeypatch.setitem(sys.modules, "nextmv.cloud", None)
    with pytest.raises(ConfigError, match=r"install the extra 'asyncrun\[push\]'"):
        await client.application("req-app").push(source)
    assert api_requests(emu) == 0


async def test_requirements_are_bundled_by_the_sdk_packager(
    client: AsyncClient, emu: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The official packager is called with the app's directory and manifest; its archive is
    pushed and its output directory removed. (Its uv step needs PyPI, so it is replaced by one
    that bundles a marker the way the packager lays dependencies out.)"""
    from nextmv.cloud import package as sdk_package

    source = app_dir(tmp_path / "app", "print('{}')\n", REQUIREMENTS_MANIFEST)
    (source / "requirements.txt").write_text("nextmv==1.13.0\n")
    seen: dict[str, Any] = {}

    def fake_package(app_dir: str, manifest: Any, *args: Any, **kwargs: Any) -> tuple[str, str]:
        seen["app_dir"], seen["requirements"] = app_dir, manifest.python.pip_requirements
        out = Path(tempfile.mkdtemp(dir=tmp_path))
        with tarfile.open(out / "app.tar.gz", "w:gz") as tar:
            tar.add(Path(app_dir) / "main.py", "main.py")
            tar.add(Path(app_dir) / "requirements.txt", "site-packages/marker.txt")
        seen["out"] = out
        return str(out / "app.tar.gz"), str(out)

    monkeypatch.setattr(sdk_package, "package", fake_package)
    app = await client.new_application("req-app")
    await app.push(source)
    assert seen["app_dir"] == str(source) and seen["requirements"] == "requirements.txt"
    assert not seen["out"].exists()
    (binary,) = emu.state.storage.path("executables").iterdir()
    assert (binary / "site-packages" / "marker.txt").is_file()


async def test_promote_rules_and_rerun(client: AsyncClient, emu: Emulator, tmp_path: Path) -> None:
    app = await client.new_application("promo")
    with pytest.raises(ConfigError, match="--instance-id"):
        await app.promote("v1")
    with pytest.raises(ConfigError, match="nothing has been pushed to application 'promo'"):
        await app.promote("v1", instance_id="prod")
    assert (await app.list_versions(), await app.list_instances()) == ([], [])

    await app.push(tagged_app(tmp_path / "one", "one"))
    prod = await app.promote("v1", name="first", instance_id="prod")
    assert (prod.id, prod.version_id) == ("prod", "v1")
    assert (await app.get()).default_instance_id == "prod"
    run = await app.new_run_with_result({"x": 1}, polling_options=FAST)
    assert run.output["tag"] == "one" and run.metadata.application_instance_id == "prod"

    # A promote that crashed after creating its version: running it again finishes the job.
    await app.push(tagged_app(tmp_path / "two", "two"))
    await app.new_version("v2")
    again = await app.promote("v2")
    assert (again.id, again.version_id) == ("prod", "v2")
    assert [v.id for v in await app.list_versions()] == ["v1", "v2"]
    twice = await app.promote("v2")
    assert twice.version_id == "v2" and len(await app.list_versions()) == 2
    # A new instance named: created, and made the default.
    cand = await app.promote("v2", instance_id="candidate")
    assert cand.version_id == "v2" and (await app.get()).default_instance_id == "candidate"


async def test_a_sweep_over_a_model_that_crashes_or_hangs_finishes(
    emulator_factory: Callable[..., AbstractAsyncContextManager[Emulator]], tmp_path: Path
) -> None:
    async with emulator_factory(app_timeout=1.0) as emu, fast_client(emu.url) as client:
        app = await client.new_application("moody")
        await app.push(app_dir(tmp_path / "app", MOODY))
        await app.promote("v1", instance_id="prod")
        modes = ["ok", "crash", "ok", "hang", "ok", "crash"]
        scenarios = [
            {"key": f"s{n}", "input": {"mode": mode, "n": n}} for n, mode in enumerate(modes)
        ]
        outcomes = {o.key: o for o in await app.run_batch_all(scenarios, polling_options=FAST)}
    assert len(outcomes) == len(modes)
    for n, mode in enumerate(modes):
        outcome = outcomes[f"s{n}"]
        if mode == "ok":
            assert outcome.status == "succeeded"
            assert outcome.result is not None and outcome.result.output == {"n": n, "square": n * n}
        else:
            assert outcome.status == "failed"
            expected = f"cannot solve input {n}" if mode == "crash" else "ran longer than 1 s"
            assert expected in (outcome.error or "")


MULTI_FILE_MANIFEST = """\
type: python
runtime: ghcr.io/nextmv-io/runtime/python:3.11
files:
  - main.py
configuration:
  content:
    format: multi-file
    multi-file:
      input:
        path: inputs/
      output:
        statistics: outputs/statistics.json
        solutions: outputs/solutions/
"""

MULTI_FILE_APP = """\
import json, pathlib, sys
inputs = sorted(pathlib.Path("inputs").rglob("*.txt"))
lines = {p.name: len(p.read_text().splitlines()) for p in inputs}
out = pathlib.Path("outputs")
(out / "solutions").mkdir(parents=True)
(out / "solutions" / "lines.json").write_text(json.dumps(lines))
(out / "statistics.json").write_text(json.dumps({"files": len(lines), "args": sys.argv[1:]}))
print("counted", file=sys.stderr)
"""


async def test_a_multi_file_app_reads_inputs_and_returns_its_outputs(
    client: AsyncClient, emu: Emulator, tmp_path: Path
) -> None:
    source = app_dir(tmp_path / "app", MULTI_FILE_APP, MULTI_FILE_MANIFEST)
    data = tmp_path / "data"
    (data / "sub").mkdir(parents=True)
    (data / "a.txt").write_text("1\n2\n3\n")
    (data / "sub" / "b.txt").write_text("x\n")
    app = await client.new_application("multi-app")
    await app.push(source)
    out = tmp_path / "out"
    result = await app.new_run_with_result(
        dir_path=data, options={"k": "v"}, output_dir=out, polling_options=FAST
    )
    assert result.metadata.status_v2 == "succeeded"
    assert json.loads((out / "solutions" / "lines.json").read_text()) == {"a.txt": 3, "b.txt": 1}
    assert json.loads((out / "statistics.json").read_text()) == {"files": 2, "args": ["-k", "v"]}
    # Each run has its own directory, removed after; the binary's stays untouched.
    (binary,) = emu.state.storage.path("executables").iterdir()
    assert sorted(p.name for p in binary.iterdir()) == ["app.yaml", "main.py"]
    assert not list(emu.state.storage.path("outputs").glob("*/work"))
    json_input = await app.new_run_with_result({"x": 1}, polling_options=FAST)
    assert json_input.metadata.status_v2 == "failed"
    assert "takes its input as a multi-file" in json_input.metadata.error


async def test_push_with_the_manifest_given_instead_of_app_yaml(
    client: AsyncClient, emu: Emulator, tmp_path: Path
) -> None:
    from nextmv.manifest import Manifest as SdkManifest

    source = app_dir(tmp_path / "app", MOODY)
    sdk_manifest = SdkManifest.from_yaml(str(source))
    (source / "app.yaml").unlink()
    app = await client.new_application("given")
    await app.push(source, manifest=sdk_manifest)
    result = await app.new_run_with_result({"n": 5}, polling_options=FAST)
    assert result.output == {"n": 5, "square": 25}
    (binary,) = emu.state.storage.path("executables").iterdir()
    assert "files:" in (binary / "app.yaml").read_text()  # the archive carries the manifest
