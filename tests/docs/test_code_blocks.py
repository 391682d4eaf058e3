"""Every ```python block of the docs pages and the README runs against an emulator, in page
order; every `asyncrun` command of their shell blocks parses. A renamed argument breaks here."""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

import asyncrun
from asyncrun.cli import build_parser
from asyncrun.emulator import ThreadedEmulator

from .pages import ROOT, Block, blocks, pages

KEY = "docs-key"
# Blocks marked `docs-test: skip (why)`; a new one must be counted here, on purpose.
EXPECTED_SKIPS = 3
RUNNABLE = [p for p in pages() if any(b.kind in ("python", "setup") for b in blocks(p))]


def _id(page: Path) -> str:
    return str(page.relative_to(ROOT))


@pytest.fixture
def emu(
    emulator_thread_factory: Callable[..., AbstractContextManager[ThreadedEmulator]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[ThreadedEmulator]:
    """An emulator the pages' code reaches through the env, run from a scratch folder that
    sees the repository's examples/."""
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    with emulator_thread_factory(api_key=KEY, time_scale=20) as emulator:
        monkeypatch.delenv("NEXTMV_APP_ID", raising=False)
        monkeypatch.setenv("NEXTMV_API_KEY", KEY)
        monkeypatch.setenv("NEXTMV_ENDPOINT", emulator.url)
        yield emulator


@pytest.mark.parametrize("page", RUNNABLE, ids=_id)
def test_the_python_blocks_of_a_page_run(page: Path, emu: ThreadedEmulator) -> None:
    with asyncio.Runner() as runner:
        limits = asyncrun.Limits(rate=asyncrun.RateLimits.unlimited())
        client = asyncrun.AsyncClient(api_key=KEY, url=emu.url, limits=limits)
        runner.run(client.__aenter__())
        names: dict[str, Any] = {
            "asyncio": asyncio,
            "asyncrun": asyncrun,
            "Path": Path,
            "client": client,
            "app": client.application("docs-app"),
        }
        try:
            for block in blocks(page):
                runs = block.kind in ("python", "setup", "check")
                if runs and not block.skip and not block.includes:
                    _run(block, names, runner)
        finally:
            runner.run(client.aclose())


def _run(block: Block, names: dict[str, Any], runner: asyncio.Runner) -> None:
    code = compile(block.code, block.where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    try:
        if code.co_flags & inspect.CO_COROUTINE:
            runner.run(eval(code, names))
        else:
            exec(code, names)
    except Exception as exc:
        raise AssertionError(f"the {block.kind} block at {block.where} failed: {exc!r}") from exc


def test_every_skipped_block_says_why_and_is_counted() -> None:
    skipped = [b for p in pages() for b in blocks(p) if b.skip]
    assert all(b.kind == "python" and b.skip.strip() for b in skipped if b.skip)
    assert len(skipped) == EXPECTED_SKIPS, [b.where for b in skipped]


def test_every_included_example_exists_and_is_run_by_the_examples_tests() -> None:
    included = {f for p in pages() for b in blocks(p) for f in b.includes}
    assert included  # the guides show the examples
    run_by_tests = "\n".join(p.read_text() for p in (ROOT / "tests" / "examples").glob("test_*.py"))
    for path in sorted(included):
        assert (ROOT / path).is_file(), path
        assert Path(path).name in run_by_tests, f"{path} is shown but no test runs it"


_COMMAND = re.compile(r"^(?:\.venv/bin/)?asyncrun$|^\$A$")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_]\w*)\}?")
_NAMES_ASYNCRUN = re.compile(r"(?:^|\s)(?:\.venv/bin/)?asyncrun\s|\$A\s")
_HEREDOC = re.compile(r"<<-?\s*'?\"?(\w+)")
_QUOTED_VARIABLE = re.compile(r'"\$\{?([A-Za-z_]\w*)\}?"')
_ASSIGNED = re.compile(r"^([A-Za-z_]\w*)='([^']*)'", re.M)
_OPERATORS = {";", "&", "&&", "||", "|", ">", ">>", "2>", "2>&1", "<"}


def shell_commands() -> Iterator[tuple[str, list[str]]]:
    """(where, argv) of each `asyncrun` command in the shell blocks: continuations joined;
    comments, heredoc bodies, `[optional]` placeholders and what follows a shell operator (`;`,
    `&`, `&&`, `|`, `>`) dropped; a variable the block sets as `NAME='...'` replaced by its
    value (so a JSON argument kept in a variable is parsed too); in a console block only the
    `$ ` lines (the rest is output)."""
    for page in pages():
        for block in blocks(page):
            assigned = dict(_ASSIGNED.findall(block.code))
            if block.kind in ("bash", "sh", "shell"):
                lines = _without_heredocs(re.sub(r"\\\n\s*", " ", block.code))
            elif block.kind == "console":
                joined = re.sub(r"\\\n\s*", " ", block.code).splitlines()
                lines = [ln[2:] for ln in joined if ln.startswith("$ ")]
            else:
                continue
            for line in lines:
                argv = _asyncrun_argv(line, assigned)
                if argv is not None:
                    yield block.where, argv


def _without_heredocs(text: str) -> list[str]:
    kept, ending = [], None
    for line in text.splitlines():
        if ending is not None:
            ending = None if line.strip() == ending else ending
            continue
        kept.append(line)
        found = _HEREDOC.search(line)
        ending = found.group(1) if found else None
    return kept


def _asyncrun_argv(line: str, assigned: dict[str, str]) -> list[str] | None:
    line = re.sub(r"\s\[[^\]]*\]", "", line)
    line = _QUOTED_VARIABLE.sub(lambda m: _value(m.group(1), assigned), line)
    line = _VARIABLE.sub(lambda m: _value(m.group(1), assigned), line)
    try:
        words = shlex.split(line, comments=True)
    except ValueError:  # a quote spanning lines: only a command of ours must read as one
        if _NAMES_ASYNCRUN.search(line):
            raise
        return None
    for start, word in enumerate(words):
        if _COMMAND.match(word):
            argv = []
            for arg in words[start + 1 :]:
                if arg in _OPERATORS:
                    break
                argv.append(arg.removesuffix(";"))
                if arg.endswith(";"):
                    break
            return argv
    return None


def _value(name: str, assigned: dict[str, str]) -> str:
    if name in assigned:
        return shlex.quote(assigned[name])
    return "$A" if name == "A" else "shell-var"


def test_every_asyncrun_command_in_the_docs_parses() -> None:
    commands = list(shell_commands())
    assert len(commands) >= 20
    parser = build_parser()
    for where, argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:
            raise AssertionError(f"{where}: asyncrun {' '.join(argv)} does not parse") from exc
