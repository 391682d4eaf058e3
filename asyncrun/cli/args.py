"""Argument conventions every `asyncrun` command follows (see docs/internals.md, "The command
line's conventions"):

- `new_command(subparsers, name, help=..., examples=...)` makes a command's parser: one-line
  usage errors (exit 2), help lines that show each option's default, `-v` / `-q`, and the
  examples at the end of `--help`.
- value types for `type=` (`positive_int`, `probability`, `http_url`, `assignment`, ...) turn
  a bad value into `asyncrun batch: argument --max-in-flight: ...` before anything runs.
- checks that need several arguments or the file system (`check_out_dir`,
  `check_batch_journal`, ...) raise ConfigError; a command lists them in its `check` function,
  which `main` calls before the command's function, so nothing is submitted or drawn first.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel

from asyncrun.application import validate_app_id
from asyncrun.batch.journal import read_journal_meta
from asyncrun.batch.journal_lock import check_free
from asyncrun.batch.results import prepare_output_dir, unwritable
from asyncrun.batch.scenario import parse_assignment, parse_grid
from asyncrun.config import check_url
from asyncrun.errors import ConfigError

__all__ = [
    "EXIT_ABORTED",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_RUNS_FAILED",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "CommandParser",
    "HelpFormatter",
    "app_id",
    "assignment",
    "batch_tag",
    "check_batch_journal",
    "check_existing_journal",
    "check_out_dir",
    "check_readable",
    "check_writable_file",
    "grid_axis",
    "http_url",
    "json_text",
    "new_command",
    "non_empty",
    "non_negative_float",
    "port_number",
    "positive_float",
    "positive_int",
    "probability",
    "wire_json",
]

EXIT_OK = 0
EXIT_FAILED = 1  # some scenario (or the run) did not succeed, a result file was not written
# (a resume writes it), or a runtime error
EXIT_USAGE = 2  # bad arguments or input: nothing was sent
EXIT_ABORTED = 3  # a batch-wide failure stopped the batch (wrong key, unknown app, unreachable)
EXIT_RUNS_FAILED = 4  # --metrics: every metric passed, but some runs did not succeed
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGINT (cli/stop_signals.py)
EXIT_TERMINATED = 143  # SIGTERM, handled as Ctrl-C is

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_TAG_LENGTH = 64


class CommandParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default after its help line (unless the line already speaks of its
    default); descriptions and examples keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if (
            not action.option_strings
            or action.required
            or action.default is argparse.SUPPRESS
            or "default" in text
        ):
            return text
        if action.nargs == 0:  # a flag: store_true, count, ...
            return f"{text} (default: off)"
        if action.default is None:
            return text  # the help line must say what happens when it is not given
        return f"{text} (default: {_shown_default(action.default)})"


def _shown_default(value: Any) -> str:
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    return str(value).replace("%", "%%")


def new_command(
    subparsers: Any,
    name: str,
    *,
    help: str,
    description: str | None = None,
    examples: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A command's parser with the shared conventions (one-line errors, defaults shown, -v/-q,
    examples at the end of --help)."""
    epilog = None
    if examples:
        epilog = "examples:\n" + "\n".join(f"  {line}" for line in examples)
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name,
        help=help,
        description=description or help[:1].upper() + help[1:] + ".",
        epilog=epilog,
        formatter_class=HelpFormatter,
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="say more: -v each scenario's problems, -vv every retry attempt",
    )
    loudness.add_argument(
        "-q", "--quiet", action="store_true", help="print errors only (no retry chatter)"
    )
    parser.set_defaults(check=None)
    return parser


# ---------------------------------------------------------------------- value types


N = TypeVar("N", int, float)


def _ranged(kind: type[N], what: str, fits: Callable[[N], bool]) -> Callable[[str], N]:
    """An argparse type: text -> a finite number of `kind` for which `fits` holds."""

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not math.isfinite(value) or not fits(value):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value

    return parse


positive_int = _ranged(int, "a whole number >= 1", lambda v: v >= 1)
positive_float = _ranged(float, "a number > 0", lambda v: v > 0)
non_negative_float = _ranged(float, "a number >= 0", lambda v: v >= 0)
probability = _ranged(float, "a probability between 0 and 1", lambda v: 0 <= v <= 1)
port_number = _ranged(int, "a port number 0-65535", lambda v: 0 <= v <= 65535)


def non_empty(text: str) -> str:
    if not text.strip() or _CONTROL.search(text):
        raise argparse.ArgumentTypeError(
            f"expected a non-empty value without control characters, got {text!r}"
        )
    return text


def _from_config_error(check: Callable[[str], Any], text: str) -> Any:
    try:
        return check(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def app_id(text: str) -> str:
    result: str = _from_config_error(validate_app_id, text)
    return result


def assignment(text: str) -> tuple[str, str]:
    """`NAME=VALUE`."""
    result: tuple[str, str] = _from_config_error(parse_assignment, text)
    return result


def grid_axis(text: str) -> tuple[str, list[str]]:
    """`NAME=V1,V2,...`."""
    result: tuple[str, list[str]] = _from_config_error(parse_grid, text)
    return result


def http_url(text: str) -> str:
    result: str = _from_config_error(check_url, text)
    return result


def batch_tag(text: str) -> str:
    if not text or len(text) > _MAX_TAG_LENGTH or _CONTROL.search(text) or text != text.strip():
        raise argparse.ArgumentTypeError(
            f"a batch tag is 1-{_MAX_TAG_LENGTH} characters without spaces at its ends or "
            f"control characters, got {text!r}"
        )
    return text


def json_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc})") from None


def wire_json(value: Any) -> Any:
    """A model, or a list of models, as the wire JSON (the server's field names, no nulls)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True, by_alias=True)
    if isinstance(value, list):
        return [wire_json(v) for v in value]
    return value


# ---------------------------------------------------------------------- checks after parsing


def check_out_dir(path: Path, flag: str = "--out") -> None:
    """`path` is a folder we can write into: created, and a probe file written and removed in
    it (an access check says yes to root even where nothing can be created, e.g. /proc)."""
    if path.exists() and not path.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} exists and is not a directory")
    prepare_output_dir(path, flag)


def check_writable_file(path: Path, flag: str) -> None:
    """`path` can be written as a file: its folder is created and probed (check_out_dir), and
    an existing file opened for appending (nothing in it is changed)."""
    if path.is_dir():
        raise ConfigError(f"{flag} {str(path)!r} is a directory")
    check_out_dir(path.parent, flag)
    if path.exists():
        try:
            with path.open("a"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"{flag} {str(path)!r} cannot be written: {unwritable(exc)}"
            ) from None


def check_readable(path: Path, what: str) -> None:
    if not path.exists():
        raise ConfigError(f"{what} {str(path)!r} does not exist")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{what} {str(path)!r} is not readable")


def check_existing_journal(path: Path) -> Mapping[str, str]:
    """An existing asyncrun journal (read only: nothing is created or changed); its meta."""
    if not path.exists():
        raise ConfigError(f"no journal at {str(path)!r}")
    meta = read_journal_meta(path)
    if "app_id" not in meta:
        raise ConfigError(f"{str(path)!r} is not a batch journal (it was never used by a batch)")
    return meta


def check_batch_journal(path: Path, *, app: str, tag: str | None) -> None:
    """A journal `asyncrun batch` may use: a new file in a folder that exists and is writable,
    or a journal of the same application (and batch tag, when one is given), and in either case
    not held by a running batch (told before any bar, upload or request)."""
    if path.is_dir():
        raise ConfigError(f"--journal {str(path)!r} is a directory")
    check_free(str(path))
    if not path.exists():
        parent = path.absolute().parent
        if not parent.is_dir():
            raise ConfigError(f"--journal {str(path)!r}: folder {str(parent)!r} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise ConfigError(f"--journal {str(path)!r}: folder {str(parent)!r} is not writable")
        return
    meta = read_journal_meta(path)
    owner = meta.get("app_id")
    if owner is not None and owner != app:
        raise ConfigError(
            f"journal {str(path)!r} belongs to application {owner!r}, not {app!r} "
            "(give another --journal for a new batch)"
        )
    stored = meta.get("batch_tag")
    if tag is not None and stored is not None and stored != tag:
        raise ConfigError(
            f"journal {str(path)!r} is batch {stored!r}, not --batch-tag {tag!r} "
            "(give another --journal for a new batch)"
        )
