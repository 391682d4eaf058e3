"""Helpers of the experiment tests: the built-in model's value of an input, an app whose
instances scale and shift a value, and raw requests."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path
from typing import Any

import nextmv
import requests
from nextmv import cloud

from tests.apps.support import MANIFEST

KEY = "test-key"
XS = [1, 2, 3, 4, 10]
POLL = nextmv.PollingOptions(
    initial_delay=0.02, delay=0.05, backoff=0, jitter=0, max_delay=0.1, max_duration=120
)

# value = x * scale + offset: an instance's configuration (-scale, -offset) moves it.
SCALER = """\
import json, sys
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
data = json.load(sys.stdin)
value = data["x"] * float(args.get("-scale", "1")) + float(args.get("-offset", "0"))
json.dump({"statistics": {"result": {"value": value}}, "metrics": {"x": data["x"]}}, sys.stdout)
"""


def builtin_value(payload: Any) -> float:
    """The default app's `result.value` of a JSON input (independently of the emulator)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 2**32 * 100


def scaler_app(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(MANIFEST)
    (root / "main.py").write_text(textwrap.dedent(SCALER))
    return root


def scaler_with_control_runs(
    client: cloud.Client, tmp_path: Path
) -> tuple[cloud.Application, list[str]]:
    """The scaler app "scale-app", pushed with the SDK: instance "control" (value = x) and
    "candidate" (value = 2x + 1), and a finished control run of each of XS (their ids)."""
    app = cloud.Application.new(client=client, id="scale-app")
    app.push(app_dir=str(scaler_app(tmp_path / "scaler")))
    app.new_version(id="v1")
    config = cloud.InstanceConfiguration
    app.new_instance(version_id="v1", id="control", configuration=config(options={"scale": "1"}))
    app.new_instance(
        version_id="v1",
        id="candidate",
        configuration=config(options={"scale": "2", "offset": "1"}),
    )
    run_ids = [app.new_run(input={"x": x}, instance_id="control") for x in XS]
    for run_id in run_ids:
        app.run_result_with_polling(run_id, polling_options=POLL)
    return app, run_ids


def api(url: str, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    return requests.request(method, f"{url}{path}", data=data, headers=headers, timeout=30)
