"""The guide's gate (docs/guides/acceptance-gate.md), as written: the custom-apps walk-through
(create, push, promote, a candidate version and instance) ending with the sweep's verdict
between the stable and the candidate instance, with the guide's own metrics file."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from asyncrun.emulator import EmulatorConfig, serve_in_thread

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "acceptance-gate.md"
EXAMPLE = ROOT / "examples" / "knapsack"


def guide_block(language: str, containing: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), flags=re.S)
    return next(block for block in blocks if containing in block)


def commands(block: str) -> list[list[str]]:
    """The asyncrun commands of a shell block (continuation lines joined, comments dropped)."""
    joined = re.sub(r"\\\n\s*", " ", block)
    lines = [line.split("#")[0].strip() for line in joined.splitlines()]
    return [line.split()[1:] for line in lines if line.startswith("asyncrun ") and "&" not in line]


def expand(arg: str, cwd: Path) -> list[str]:
    """A shell glob as the shell expands it (in sorted order), else the argument."""
    if "*" not in arg:
        return [arg]
    return sorted(str(p.relative_to(cwd)) for p in cwd.glob(arg))


def test_the_guides_gate_before_a_push(tmp_path: Path) -> None:
    (tmp_path / "main-checkout").mkdir()
    shutil.copytree(EXAMPLE, tmp_path / "main-checkout", dirs_exist_ok=True)
    branch = tmp_path / "branch"  # the change under test: only the first 3 items count
    shutil.copytree(EXAMPLE, branch)
    main = (branch / "main.py").read_text()
    (branch / "main.py").write_text(main.replace('("max_items", int, 0,', '("max_items", int, 3,'))
    rng = random.Random(7)
    (branch / "benchmark").mkdir()
    for i in range(6):
        items = [{"id": f"i{j}", "weight": rng.randint(1, 20), "value": rng.randint(1, 50)}
                 for j in range(8)]  # fmt: skip
        (branch / "benchmark" / f"k{i}.json").write_text(
            json.dumps({"capacity": 40, "items": items})
        )
    (branch / "metrics.json").write_text(guide_block("json", '"metric_type"'))

    with serve_in_thread(EmulatorConfig(api_key="any")) as emu:
        env = dict(os.environ, NEXTMV_API_KEY="any", NEXTMV_ENDPOINT=emu.url, COLUMNS="200")
        results = []
        for args in commands(guide_block("bash", "asyncrun app promote")):
            args = [a.replace("main-checkout/", str(tmp_path / "main-checkout")) for a in args]
            args = [name for a in args for name in expand(a, branch)]
            command = [sys.executable, "-m", "asyncrun", *args]
            results.append(
                subprocess.run(
                    command, cwd=branch, env=env, capture_output=True, text=True, timeout=300
                )
            )
            assert results[-1].returncode in (0, 1), results[-1].stdout + results[-1].stderr
    assert len(results) == 7
    gate = results[-1]
    assert gate.returncode == 1, gate.stdout + gate.stderr  # the change loses value
    table = gate.stdout[gate.stdout.index("acceptance: candidate") :]
    assert re.search(r"result\.value\s+│ mean .* FAIL", table)
    assert re.search(r"result\.custom\.weight\s+│ max .* pass", table)
    document = json.loads((branch / "gate" / "acceptance.json").read_text())
    sides = document["metric_results"][0]["statistics"]
    assert (sides["control"]["version_id"], sides["candidate"]["version_id"]) == ("v1", "v2")
    assert sides["control"]["number_of_runs_total"] == 6
    assert (branch / "gate" / "report.html").is_file()
