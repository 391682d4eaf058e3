"""SIGTERM and Ctrl-C for the long commands (batch, run, demo): one policy for both.

`kill -TERM` is how Kubernetes, systemd, CI runners and `timeout` stop a process; it is handled
as Ctrl-C is: the command's task is cancelled, so a batch applies its `--on-interrupt` policy,
releases its journal (with the time: a resume then knows when the last POST can have been
sent), writes summary.csv and prints how to resume. The exit code is 128 + the signal's number:
130 for SIGINT, 143 for SIGTERM. A second signal (either) ends the process at once: the journal
keeps every row already committed (as after SIGKILL), and a resume reconciles the rest by name.

The handlers are installed with `loop.add_signal_handler` in the command's own event loop, for
the command's duration only: the library never installs a signal handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

__all__ = ["StopSignals"]

_HANDLED = (signal.SIGTERM, signal.SIGINT)


class StopSignals:
    """The stop signals of one command: `await signals.guard(main())` runs the command; the
    first SIGTERM or SIGINT cancels it, and its exit code becomes 128 + the signal's number."""

    def __init__(self) -> None:
        self.received: signal.Signals | None = None

    @property
    def name(self) -> str:
        """The first signal received, as users know it ("SIGTERM", "Ctrl-C"), or ""."""
        if self.received is None:
            return ""
        return "Ctrl-C" if self.received == signal.SIGINT else self.received.name

    @property
    def exit_code(self) -> int:
        return 128 + int(self.received) if self.received is not None else 0

    async def guard(self, main: Coroutine[Any, Any, int]) -> int:
        """`main`'s exit code; when a stop signal cancelled it, 128 + the signal's number."""
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(main)
        installed = []
        for sig in _HANDLED:
            # SIGINT ignored (a command started in the background by a shell) stays ignored.
            if sig == signal.SIGINT and signal.getsignal(sig) == signal.SIG_IGN:
                continue
            loop.add_signal_handler(sig, self._on_signal, sig, task)
            installed.append(sig)
        try:
            return await task
        except asyncio.CancelledError:
            if self.received is None:
                raise
            return self.exit_code
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals, task: asyncio.Future[int]) -> None:
        if self.received is None:
            self.received = sig
            task.cancel()
            return
        _end_at_once(sig)


def _end_at_once(sig: signal.Signals) -> None:
    """A second signal: no more waiting (for cancels, result writes, the journal's last
    group commit); what the journal committed is kept, as after SIGKILL."""
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    with contextlib.suppress(Exception):
        if sys.stderr.isatty():
            sys.stderr.write("\x1b[?25h")  # the progress display hid the cursor
        sys.stderr.write(
            f"\nasyncrun: {sig.name} again: stopped at once; the journal keeps what it "
            "committed, and running the same command resumes\n"
        )
        sys.stderr.flush()
    os._exit(128 + int(sig))
