"""Where the library's log lines go when the command line runs: stderr, at a level chosen
with -v / -q, and (below -vv) one line per distinct problem instead of one per attempt.

Levels: `-q` errors only; default warnings (retries, interrupted batches), folded; `-v` also
each scenario's problem (info, one line each); `-vv` debug, every line, nothing folded.

A "problem" is a record's `problem` attribute when the code logging it sets one
(`logger.warning(..., extra={"problem": "connect refused"})`), else its text with URLs,
quoted values and numbers masked: 1,200 "retrying POST .../runs: attempt 3 failed (could not
connect), next in 1.7 s" lines are one problem.
"""

from __future__ import annotations

import logging
import re
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["ProblemFilter", "log_output", "problem_of"]

_LOGGER = "asyncrun"
_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def problem_of(record: logging.LogRecord) -> str:
    """What makes two records "the same problem" (see the module's docstring)."""
    explicit = getattr(record, "problem", None)
    if explicit is not None:
        return f"{record.levelno}:{explicit}"
    text = _URL.sub("<url>", record.getMessage())
    text = _QUOTED.sub("<…>", text)
    return f"{record.levelno}:{_NUMBER.sub('#', text)}"


class ProblemFilter(logging.Filter):
    """Lets the first warning or error of each problem through and counts the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:  # -v's per-scenario lines are each their own
            return True
        key = problem_of(record)
        self.seen[key] += 1
        return self.seen[key] == 1

    @property
    def hidden(self) -> int:
        return sum(self.seen.values()) - len(self.seen)


class _StderrHandler(logging.Handler):
    """Writes to the `sys.stderr` of the moment (rich's live display swaps it to print above
    the progress bar)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:
            self.handleError(record)


def _level(verbose: int, quiet: bool) -> int:
    if quiet:
        return logging.ERROR
    return {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)


@contextmanager
def log_output(verbose: int = 0, quiet: bool = False) -> Iterator[ProblemFilter | None]:
    """Route the `asyncrun` logger to stderr for the duration of a command; on the way out,
    say how many repeated lines were folded (and how to see them)."""
    logger = logging.getLogger(_LOGGER)
    level = _level(verbose, quiet)
    handler = _StderrHandler(level)
    handler.setFormatter(logging.Formatter("asyncrun: %(message)s"))
    folding = ProblemFilter() if level > logging.DEBUG else None
    if folding is not None:
        handler.addFilter(folding)
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    try:
        yield folding
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        if folding is not None and folding.hidden and level <= logging.WARNING:
            sys.stderr.write(
                f"asyncrun: {folding.hidden} repeated log lines were folded "
                f"({len(folding.seen)} distinct); -vv shows every one\n"
            )
