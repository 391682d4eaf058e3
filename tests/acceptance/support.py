"""What the acceptance tests share: an emulator whose app is a small script (its value depends
on the instance's options, so a control and a candidate differ), the two instances, inputs,
metric files, and `asyncrun` in a subprocess."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asyncrun import AsyncClient
from asyncrun.batch.results import result_path
from asyncrun.cli.render import CSV_FIELDS
from asyncrun.emulator import EmulatorConfig, ThreadedEmulator, serve_in_thread

KEY = "test-key"
APP_ID = "router"
CONTROL = "stable"
CANDIDATE = "candidate"

# The app (pushed, options as `-name value`): value = n * scale (+ 1000 when the input says so,
# an outlier); `cost` in the output's `metrics` object; `gap` at the root; fails when its input
# says so.
APP_SOURCE = """\
import json, sys
data = json.load(sys.stdin)
args = sys.argv[1:]
options = dict(zip([a.lstrip("-") for a in args[::2]], args[1::2]))
if data.get("fail"):
    print("cannot route this input", file=sys.stderr)
    sys.exit(3)
scale = float(options.get("scale", "1"))
value = data["n"] * scale + (1000 if data.get("outlier") else 0)
json.dump({
    "statistics": {"result": {"value": value, "custom": {"late": data["n"] % 3}}},
    "metrics": {"cost": round(value * 2.5, 3)},
    "gap": 0.01 * data["n"],
}, sys.stdout)
"""


MANIFEST = """\
type: python
runtime: ghcr.io/nextmv-io/runtime/python:3.11
files:
  - main.py
"""


def app_dir(folder: Path) -> Path:
    root = folder / "router-app"
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(MANIFEST)
    (root / "main.py").write_text(APP_SOURCE)
    return root


@contextmanager
def router_emulator(folder: Path, *, candidate_scale: str = "1.1") -> Iterator[ThreadedEmulator]:
    """An emulator running the router app, with instances `stable` (scale 1) and `candidate`
    (scale `candidate_scale`), both on version v1."""
    config = EmulatorConfig(api_key=KEY, app_concurrency=2)
    with serve_in_thread(config) as emu:
        scales = {CONTROL: "1", CANDIDATE: candidate_scale}
        asyncio.run(_make_instances(emu.url, app_dir(folder), scales))
        yield emu


async def _make_instances(url: str, source: Path, scales: Mapping[str, str]) -> None:
    async with AsyncClient(api_key=KEY, url=url) as client:
        app = await client.new_application(APP_ID)
        await app.push(source)
        await app.new_version("v1")
        for instance, scale in scales.items():
            await app.new_instance("v1", instance, configuration={"options": {"scale": scale}})


def write_inputs(folder: Path, items: Sequence[Mapping[str, Any]]) -> list[str]:
    """One input file per item, `<folder>/in-<i>.json`: one scenario each."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, item in enumerate(items):
        path = folder / f"in-{i:02d}.json"
        path.write_text(json.dumps(item))
        paths.append(str(path))
    return paths


def metric(field: str, operator: str, *, statistic: str = "mean", tolerance: Any = None) -> Any:
    params: dict[str, Any] = {"operator": operator}
    if tolerance is not None:
        params["tolerance"] = {"type": tolerance[0], "value": tolerance[1]}
    return {
        "field": field,
        "metric_type": "direct-comparison",
        "params": params,
        "statistic": statistic,
    }


def write_metrics(path: Path, metrics: Any) -> Path:
    path.write_text(json.dumps(metrics))
    return path


def cli(args: Sequence[str], cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, NEXTMV_API_KEY=KEY, COLUMNS="160")
    env.pop("NEXTMV_ENDPOINT", None)
    return subprocess.run(
        [sys.executable, "-m", "asyncrun", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def sweep_args(
    url: str, tmp: Path, inputs: Sequence[str], metrics: Path, *extra: str, out: str = "out"
) -> list[str]:
    return [
        "batch", "--app-id", APP_ID, *inputs,
        "--instance-id", CONTROL, "--instance-id", CANDIDATE,
        "--metrics", str(metrics), "--journal", str(tmp / f"{out}.db"), "--out", str(tmp / out),
        "--url", url, "--limits", "unlimited", *extra,
    ]  # fmt: skip


def write_sweep(out: Path, runs: Sequence[tuple[str, str, str, Any]]) -> Path:
    """A finished sweep's folder as `asyncrun batch --out` leaves it, made directly: one
    (key, instance, status, output) per run, in summary.csv and results/<key>.json."""
    rows = []
    for key, instance, status, output in runs:
        path = result_path(out / "results", key)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = output if status == "succeeded" else {"status": status, "error": "boom"}
        path.write_text(json.dumps(document))
        row = dict.fromkeys(CSV_FIELDS, "")
        row.update(key=key, status=status, instance_id=instance, result_file=str(path))
        rows.append(row)
    with (out / "summary.csv").open("w", encoding="utf-8", newline="") as sink:
        writer = csv.DictWriter(sink, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    return out


def side_by_side(
    values: Mapping[str, Sequence[float]], field: str = "result.value"
) -> list[tuple[str, str, str, Any]]:
    """Runs of `asyncrun batch` on several instances: input i of instance X has key
    `in-i/instance_id=X` and the value values[X][i] at `statistics.<field>`."""
    runs = []
    for instance, numbers in values.items():
        for i, number in enumerate(numbers):
            output = {"statistics": _nested(field.split("."), number)}
            runs.append((f"in-{i:02d}/instance_id={instance}", instance, "succeeded", output))
    return runs


def _nested(path: Sequence[str], value: float) -> Any:
    return {path[0]: _nested(path[1:], value)} if path else value
