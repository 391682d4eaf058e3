"""The `asyncrun` command line: one sub-module per command group, registered here.

`main` owns what every command shares: parsing (one-line usage errors), the command's
`check` before anything is sent or drawn, log output (-v / -q), and one line instead of a
traceback for every error, with the exit codes of `asyncrun.cli.args`.
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence

from asyncrun.cli import (
    apps_cmd,
    batch_cmd,
    demo_cmd,
    emulator_cmd,
    experiment_cmd,
    input_set_cmd,
    logs_cmd,
    report_cmd,
    run_cmd,
)
from asyncrun.cli.args import (
    EXIT_ABORTED,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandParser,
    HelpFormatter,
)
from asyncrun.cli.log_output import log_output
from asyncrun.errors import (
    AsyncrunError,
    BatchAbortedError,
    CertificateVerifyError,
    ConfigError,
    InputError,
    ProxyError,
)

# Each command module has `register(subparsers)`, which adds its parser (through
# `args.new_command`) and sets `func` (argparse.Namespace -> exit code) and, optionally,
# `check` (argparse.Namespace -> None, raises ConfigError).
_COMMAND_MODULES = [
    apps_cmd,
    batch_cmd,
    demo_cmd,
    emulator_cmd,
    experiment_cmd,
    input_set_cmd,
    logs_cmd,
    report_cmd,
    run_cmd,
]


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="asyncrun",
        description="High-concurrency batch runs on Nextmv Cloud, and a local emulator of it.",
        formatter_class=HelpFormatter,
        epilog="`asyncrun COMMAND --help` shows a command's options and examples.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # named by the command they were given to, not by `asyncrun`
            prog = f"{parser.prog} {args.command}"
            print(
                f"{prog}: unrecognized arguments: {' '.join(extra)} (see {prog} --help)",
                file=sys.stderr,
            )
            return EXIT_USAGE
    except SystemExit as exc:  # --help (0) or a usage error, already printed on one line
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    with log_output(args.verbose, args.quiet):
        code, last_words = _run(args)
    if last_words:  # after the log output's own closing line: the error is the last line
        print(f"asyncrun {args.command}: {last_words}", file=sys.stderr)
    return code


def _run(args: argparse.Namespace) -> tuple[int, str | None]:
    """The command's exit code, and the one line to end with when it failed."""
    try:
        if args.check is not None:
            args.check(args)
        code: int = args.func(args)
        return code, None
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED, None
    except BatchAbortedError as exc:
        # An untrusted certificate or an unusable proxy is set-up (--ca-file, --proxy), as for
        # `asyncrun run`: exit 2.
        setup = isinstance(exc.cause, CertificateVerifyError | ProxyError)
        return EXIT_USAGE if setup else EXIT_ABORTED, f"stopped: {_one_line(exc)}"
    except (ConfigError, InputError, CertificateVerifyError, ProxyError) as exc:
        # Set-up, like a bad argument: fixed by --ca-file or --proxy, not by time.
        return EXIT_USAGE, _one_line(exc)
    except (AsyncrunError, OSError) as exc:
        return EXIT_FAILED, _one_line(exc)
    except Exception as exc:
        if args.verbose >= 2:
            traceback.print_exc()
        what = f"unexpected error {type(exc).__name__}: {_one_line(exc)}"
        return EXIT_FAILED, f"{what} (-vv shows the traceback)"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
