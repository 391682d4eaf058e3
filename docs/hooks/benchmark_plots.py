"""MkDocs hook: the benchmark plots, served from benchmarks/results/ as they are.

`benchmarks/compare.py` rewrites benchmarks/results/*.png; the site shows those files under
`performance/plots/` (cloud/ included) instead of copies that would go stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"


def on_files(files: Files, config: Any) -> Files:
    for png in sorted(_RESULTS.rglob("*.png")):
        uri = f"performance/plots/{png.relative_to(_RESULTS).as_posix()}"
        files.append(File.generated(config, uri, abs_src_path=str(png)))
    return files
