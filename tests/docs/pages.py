"""The code of the docs pages and the README, as the tests run it.

Conventions in the Markdown (HTML comments, so a reader never sees them):

- a ```python block runs, in page order, with the blocks and hidden code before it on the page;
- `<!-- docs-test: skip (why) -->` on the line before a block: not run (counted by the tests);
- `<!-- docs-test: setup` ... `-->`: hidden code run at that point (names a fragment assumes);
- `<!-- docs-test: check` ... `-->`: hidden asserts on what the blocks before it made;
- a block holding only `--8<--`, file names, `--8<--` shows those examples (tests/examples runs
  them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^```(\S*)\s*$")
_SKIP = re.compile(r"^<!-- docs-test: skip \((.+)\) -->$")
_HIDDEN = re.compile(r"^<!-- docs-test: (setup|check)$")
_SNIPPET_MARK = "--8<--"  # a block of snippet lines: ruff format leaves it alone


@dataclass(frozen=True)
class Block:
    page: Path
    line: int  # 1-based line of the opening fence (or of the hidden comment)
    kind: str  # "python", "bash", ... ; "setup" / "check" for hidden code
    code: str
    skip: str | None = None  # the reason, when marked not to run

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    @property
    def includes(self) -> list[str]:
        """The files a snippet block shows (empty when it holds code of its own)."""
        lines = [ln.strip() for ln in self.code.splitlines() if ln.strip()]
        if len(lines) > 2 and lines[0] == lines[-1] == _SNIPPET_MARK:
            return lines[1:-1]
        return []


def pages() -> list[Path]:
    docs = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.parts)
    return [ROOT / "README.md", *docs]


def blocks(page: Path) -> list[Block]:
    lines = page.read_text().splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        fence, hidden = _FENCE.match(lines[i]), _HIDDEN.match(lines[i])
        if fence:
            end = _closing(lines, i, "```")
            skip = _SKIP.match(lines[i - 1]) if i else None
            code = "\n".join(lines[i + 1 : end])
            kind = fence.group(1) or "text"
            found.append(Block(page, i + 1, kind, code, skip.group(1) if skip else None))
            i = end + 1
        elif hidden:
            end = _closing(lines, i, "-->")
            found.append(Block(page, i + 1, hidden.group(1), "\n".join(lines[i + 1 : end])))
            i = end + 1
        else:
            i += 1
    return found


def _closing(lines: list[str], start: int, marker: str) -> int:
    for j in range(start + 1, len(lines)):
        if lines[j].strip() == marker:
            return j
    raise AssertionError(f"line {start + 1}: no closing {marker}")
