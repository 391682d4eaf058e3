"""Help that teaches: every option of every command has a help line that shows its default,
and each command's --help ends with examples."""

from __future__ import annotations

import argparse

import pytest

from asyncrun.cli import build_parser, main
from asyncrun.cli.args import HelpFormatter


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


COMMANDS = sorted(_commands())


def test_every_command_is_listed() -> None:
    assert {"batch", "cancel", "demo", "emulator", "run", "status"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_help_that_shows_its_default(name: str) -> None:
    parser = _commands()[name]
    formatter = HelpFormatter(parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        shown = formatter._get_help_string(action)
        assert action.help and len(action.help) > 10, f"{name} {action.dest}: no help"
        if action.option_strings and not action.required:
            assert "default" in shown, f"{name} {action.option_strings[0]}: no default shown"


@pytest.mark.parametrize("name", COMMANDS)
def test_help_ends_with_examples(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([name, "--help"]) == 0
    text = capsys.readouterr().out
    examples = text[text.index("\nexamples:\n") :].splitlines()[2:]
    assert len([e for e in examples if e.strip().startswith(f"asyncrun {name}")]) >= 1
    if name == "batch":
        assert len([e for e in examples if "asyncrun batch" in e]) >= 3


def test_batch_help_shows_the_defaults_the_issue_named(capsys: pytest.CaptureFixture[str]) -> None:
    main(["batch", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "at most (default: 100)" in text  # --max-in-flight
    assert "(default: the application's default instance)" in text  # --instance-id
    assert "(default: a random tag, stored in the journal)" in text  # --batch-tag
    assert "cancel the runs in flight (default: detach)" in text  # --on-interrupt
    assert "--app-id APP_ID the Nextmv application to run" in text
