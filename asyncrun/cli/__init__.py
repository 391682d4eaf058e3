"""The `asyncrun` command line: one sub-module per command group, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from asyncrun.cli import apps_cmd, batch_cmd, demo_cmd, emulator_cmd, run_cmd

# Each command module has `register(subparsers)`, which adds its parser and sets `func`
# (argparse.Namespace -> exit code).
_COMMAND_MODULES = [apps_cmd, batch_cmd, demo_cmd, emulator_cmd, run_cmd]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="asyncrun", description="High-concurrency batch runs on Nextmv Cloud."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
