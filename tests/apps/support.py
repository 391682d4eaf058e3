"""Helpers of the custom-app tests: small app directories, crafted archives, raw pushes."""

from __future__ import annotations

import io
import json
import tarfile
import textwrap
from pathlib import Path
from typing import Any

import nextmv
import requests

KEY = "test-key"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "knapsack"
POLL = nextmv.PollingOptions(
    initial_delay=0.02, delay=0.02, backoff=0, jitter=0, max_delay=0.1, max_duration=60
)

MANIFEST = """\
type: python
runtime: ghcr.io/nextmv-io/runtime/python:3.11
files:
  - main.py
"""

# An app that says which code it is: its tag, the input, and the arguments it got.
TAGGED = """\
import json, sys
data = json.load(sys.stdin)
print("tagged app running", file=sys.stderr)
json.dump({{"tag": {tag!r}, "input": data, "args": sys.argv[1:]}}, sys.stdout)
"""

# An app that crashes or hangs when its input says so.
MOODY = """\
import json, sys, time
data = json.load(sys.stdin)
if data.get("mode") == "crash":
    raise ValueError(f"cannot solve input {data['n']}")
if data.get("mode") == "hang":
    time.sleep(3600)
json.dump({"n": data["n"], "square": data["n"] ** 2}, sys.stdout)
"""


def app_dir(root: Path, source: str, manifest: str = MANIFEST) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "app.yaml").write_text(manifest)
    (root / "main.py").write_text(textwrap.dedent(source))
    return root


def tagged_app(root: Path, tag: str) -> Path:
    return app_dir(root, TAGGED.format(tag=tag))


def targz(members: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> bytes:
    """A tar.gz of the given members (file contents from `data` by name)."""
    data = data or {}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for member in members:
            body = data.get(member.name)
            if body is not None:
                member.size = len(body)
            tar.addfile(member, io.BytesIO(body) if body is not None else None)
    return buffer.getvalue()


def file_member(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def link_member(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    member.linkname = target
    return member


ACTIVATION: dict[str, Any] = {
    "requirements": {
        "executable_type": "python",
        "runtime": "ghcr.io/nextmv-io/runtime/python:3.11",
        "entrypoint": "main.py",
    }
}


def raw_push(
    url: str, app_id: str, archive: bytes, activation: dict[str, Any] | None = None
) -> requests.Response:
    """Push the way the SDK does (GET binary, PUT archive, PUT activation); the last answer."""
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    endpoint = f"{url}/v1/applications/{app_id}/binary"
    answer = requests.get(endpoint, headers=headers, timeout=30)
    answer.raise_for_status()
    put = requests.put(
        answer.json()["upload_url"],
        data=archive,
        headers={"Content-Type": "application/octet-stream"},
        timeout=30,
    )
    put.raise_for_status()
    body = json.dumps(activation if activation is not None else ACTIVATION)
    return requests.put(endpoint, data=body, headers=headers, timeout=30)


def api(url: str, method: str, path: str, body: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    data = None if body is None else json.dumps(body)
    return requests.request(method, f"{url}{path}", data=data, headers=headers, timeout=30)


def registry_state(url: str) -> Any:
    """Everything the emulator holds about apps, binaries included (for before/after)."""
    return requests.get(f"{url}/_emulator/apps", timeout=30).json()
