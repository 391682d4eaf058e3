"""One live process per batch journal: an OS file lock on the sidecar file `<journal>.lock`.

`flock(LOCK_EX | LOCK_NB)` belongs to one open file description, so the kernel drops it when the
holder closes the file or its process dies (SIGKILL included): a lock left by a dead process is
free to take with no pid or liveness guess, and a pid reused by another program cannot keep it.
Two opens in one process conflict as well, which covers two `run_batch` calls in one process.
The file's text says who holds it (pid, host, since) for the error message, and when a holder
let go cleanly (`released`), which bounds when its last request can have been sent.

A process that only looks (`current_holder`, `check_free`: `asyncrun status`, the CLI's check
before a batch starts) holds a shared lock for an instant; `acquire` tries again for a moment
before it refuses, so a look never turns a batch away. A refusal names the holder once the
holder has written its record (it locks first, then writes).

The file is never deleted: deleting it would let a process that opened the old file lock it
while a newer process locks a new file of the same name. On a network filesystem the lock is as
good as that filesystem's locking.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime

from asyncrun.errors import ConfigError, JournalLockedError

__all__ = ["Holder", "JournalLock", "check_free", "current_holder"]

# How long a lock taker waits out a look (a shared lock held for an instant), and a refused one
# waits for a new holder's record; both bounded, in steps.
_GRACE = 0.2
_STEP = 0.01


@dataclass(frozen=True, slots=True)
class Holder:
    """What a lock file says about its (last) holder."""

    pid: int | None
    host: str | None
    since: str | None
    released: datetime | None


def lock_path(journal: str) -> str:
    return journal + ".lock"


class JournalLock:
    """The lock of one journal file, held from `acquire()` to `release()` (blocking calls: the
    journal makes them in its worker thread)."""

    def __init__(self, journal: str) -> None:
        self.journal = journal
        self.path = lock_path(journal)
        self._fd: int | None = None
        self._record: dict[str, object] = {}

    def acquire(self, since: datetime) -> Holder | None:
        """Take the lock or raise JournalLockedError naming the holder. Returns what the file
        said about the previous holder (None: the journal was never locked)."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ConfigError(f"cannot lock journal {self.journal!r}: {exc.strerror}") from None
        try:
            _lock_exclusive(fd)
        except BlockingIOError:
            holder = _live_record(fd)
            os.close(fd)
            raise _locked(self.journal, holder) from None
        except OSError as exc:
            os.close(fd)
            raise ConfigError(f"cannot lock journal {self.journal!r}: {exc.strerror}") from None
        previous = _read(fd)
        self._fd = fd
        self._record = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
        self._write()
        return previous

    def release(self, when: datetime) -> None:
        """Say when the lock was let go, then close the file (which drops the lock)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self._record["released"] = when
            with contextlib.suppress(OSError):
                _write(fd, self._record)
        finally:
            os.close(fd)

    def _write(self) -> None:
        assert self._fd is not None
        _write(self._fd, self._record)


def current_holder(journal: str) -> Holder | None:
    """The process holding the journal now, or None (no lock taken: for `asyncrun status`)."""
    return _look(journal)[1]


def check_free(journal: str) -> None:
    """Raise JournalLockedError, naming the holder, if a live process holds the journal now
    (no lock taken: a batch checks this before it shows or sends anything; the lock itself is
    taken when the journal opens, and a batch started meanwhile is still refused then)."""
    held, holder = _look(journal)
    if held:
        raise _locked(journal, holder)


def _look(journal: str) -> tuple[bool, Holder | None]:
    """(held now, what the file says about the holder)."""
    try:
        fd = os.open(lock_path(journal), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return False, None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True, _live_record(fd)
        except OSError:
            return False, None
        return False, None  # nobody holds it (closing the file drops our shared lock)
    finally:
        os.close(fd)


def _lock_exclusive(fd: int) -> None:
    """Take the lock, trying again for a moment while someone only looks (a blocking call)."""
    deadline = time.monotonic() + _GRACE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(_STEP)


def _live_record(fd: int) -> Holder | None:
    """The holder's record; a holder that has just locked writes it a moment later (until then
    the file is empty or says its last holder let go), so wait a moment for it (bounded)."""
    deadline = time.monotonic() + _GRACE
    holder = _read(fd)
    while (holder is None or holder.released is not None) and time.monotonic() < deadline:
        time.sleep(_STEP)
        holder = _read(fd)
    return holder


def _locked(journal: str, holder: Holder | None) -> JournalLockedError:
    return JournalLockedError(
        journal,
        pid=holder.pid if holder else None,
        host=holder.host if holder else None,
        since=holder.since if holder else None,
    )


def _write(fd: int, record: dict[str, object]) -> None:
    data = json.dumps(
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}
    ).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)


def _read(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        record = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    pid = record.get("pid")
    released = record.get("released")
    try:
        when = datetime.fromisoformat(released) if isinstance(released, str) else None
    except ValueError:
        when = None
    return Holder(
        pid=pid if isinstance(pid, int) else None,
        host=str(record["host"]) if record.get("host") else None,
        since=str(record["since"]) if record.get("since") else None,
        released=when,
    )
