"""MkDocs hook: the CLI reference page, rendered from the argparse parsers at build time.

`docs/reference/cli.md` holds the marker below; every command's `--help` text (usage, options
with their defaults, examples) replaces it, so the page cannot drift from the parsers.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from typing import Any

from asyncrun.cli import build_parser

MARKER = "<!-- cli-reference -->"
# argparse wraps help text to the terminal's width; a fixed width keeps the page stable.
_WIDTH = "100"


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render())


def render() -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = _WIDTH
    try:
        root = build_parser()
        sections = [_section("asyncrun", root, level=2, summary=None)]
        for path, parser, summary in _commands(root, ("asyncrun",)):
            sections.append(_section(" ".join(path), parser, level=len(path), summary=summary))
    finally:
        if previous is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = previous
    return "\n".join(sections)


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser, str | None]]:
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        summaries = {choice.dest: choice.help for choice in action._choices_actions}
        for name, sub in action.choices.items():
            yield (*path, name), sub, summaries.get(name)
            yield from _commands(sub, (*path, name))


def _section(
    title: str, parser: argparse.ArgumentParser, *, level: int, summary: str | None
) -> str:
    heading = "#" * min(level, 4)
    lead = f"{summary[:1].upper()}{summary[1:]}.\n\n" if summary else ""
    return f"{heading} `{title}`\n\n{lead}```text\n{parser.format_help().rstrip()}\n```\n"
