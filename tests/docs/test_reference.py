"""The reference pages cover the public API, and the CLI page is rendered from the parsers."""

from __future__ import annotations

import argparse
import importlib.util
import re
from types import ModuleType

import asyncrun
import asyncrun.acceptance
import asyncrun.emulator
import asyncrun.experiments
from asyncrun.cli import build_parser

from .pages import DOCS


def documented() -> set[str]:
    pages = (DOCS / "reference").glob("*.md")
    return {m for p in pages for m in re.findall(r"^::: (asyncrun[\w.]*)$", p.read_text(), re.M)}


def test_every_public_name_has_a_reference_entry() -> None:
    public = {f"asyncrun.{n}" for n in asyncrun.__all__ if n != "__version__"}
    public |= {f"asyncrun.emulator.{n}" for n in asyncrun.emulator.__all__}
    for module in (asyncrun.experiments, asyncrun.acceptance):
        # a name also at the top level is documented there, once
        own = [n for n in module.__all__ if getattr(asyncrun, n, None) is not getattr(module, n)]
        public |= {f"{module.__name__}.{n}" for n in own}
    assert documented() == public


def cli_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cli_reference", DOCS / "hooks/cli_reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...]) -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(" ".join((*path, name)))
                found += command_paths(sub, (*path, name))
    return found


def test_the_cli_page_shows_every_commands_help_from_the_parsers() -> None:
    hook = cli_hook()
    page = "# Command line\n\n" + hook.MARKER + "\n"
    rendered = hook.on_page_markdown(page, page=None)
    paths = command_paths(build_parser(), ("asyncrun",))
    assert len(paths) > 20
    for path in paths:
        assert f" `{path}`\n" in rendered, path
        assert f"usage: {path} " in rendered, path
    # An option as the parser has it, with its default.
    assert "--max-in-flight" in rendered and "(default: 100)" in rendered
    assert (DOCS / "reference" / "cli.md").read_text().count(hook.MARKER) == 1
