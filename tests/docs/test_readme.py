"""The README stays short, keeps its two set-up commands as CI runs them, and links only to
files that exist (the docs build checks the site's links, not the README's)."""

from __future__ import annotations

import re

from .pages import DOCS, ROOT

README = ROOT / "README.md"
DEMO = "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/asyncrun demo"
TESTS = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' "
    "&& .venv/bin/python -m pytest -q"
)


def test_the_readme_is_at_most_200_lines() -> None:
    assert len(README.read_text().splitlines()) <= 200


def test_the_readme_opens_with_what_asyncrun_is_then_the_two_commands() -> None:
    text = README.read_text()
    assert text.startswith("# asyncrun\n\nAn asyncio client for high-concurrency batch runs on")
    shell = re.findall(r"```bash\n(.*?)\n```", text, re.S)
    assert shell[:2] == [DEMO, TESTS]


def test_ci_runs_the_readmes_test_command_verbatim() -> None:
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert TESTS in lines


def test_getting_started_shows_the_same_commands() -> None:
    text = (DOCS / "getting-started.md").read_text()
    assert f"```bash\n{DEMO}\n```" in text and f"```bash\n{TESTS}\n```" in text


def test_every_relative_link_of_the_readme_exists() -> None:
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README.read_text())
    local = [link for link in links if "://" not in link]
    assert local
    for link in local:
        assert (ROOT / link).exists(), link
