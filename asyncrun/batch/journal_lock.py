"""One live process per batch journal: an OS file lock on the sidecar file `<journal>.lock`.

`flock(LOCK_EX | LOCK_NB)` belongs to one open file description, so the kernel drops it when the
holder closes the file or its process dies (SIGKILL included): a lock left by a dead process is
free to take with no pid or liveness guess, and a pid reused by another program cannot keep it.
Two opens in one process conflict as well, which covers two `run_batch` calls in one process.
The file's text says who holds it (pid, host, since) for the error message, and when a holder
let go cleanly (`released`), which bounds when its last request can have been sent.

Heartbeat: while it holds the lock, the holder rewrites its record every `HEARTBEAT` seconds with
`alive` (the time of the write) and `beat` (the interval), so a holder that was killed (SIGKILL,
OOM) still says when it was last alive: a resume need not assume it lived until the resume began
(reconcile.resume_deadline). The heartbeat is a thread of its own, not the journal's worker: the
worker runs only what the event loop hands it, so a busy loop or a long transaction would delay
it, while a thread needs only the GIL. It writes through a duplicate of the locked descriptor
that only it closes, so a heartbeat stuck in a write can never write into a reused descriptor
number; it stops when the lock is released (joined, bounded), and is a daemon so a process
exiting without releasing is not kept alive by it.

Writes: a reader parses the record leniently (anything unreadable is "no record"), and the record
is rewritten whole in place, data first, then cut to its length: it never reads empty, and only
grows while one holder holds it (fixed-width times; `released` comes last), so a reader sees the
old or the new record. A heartbeat write is synced to disk, so a lost node leaves an `alive` no
older than the one before the last; a heartbeat that cannot be written empties the record (no
`alive`: a resume then takes the rule of a killed holder without a heartbeat).

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
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from asyncrun.errors import ConfigError, JournalLockedError

__all__ = ["HEARTBEAT", "Holder", "JournalLock", "check_free", "current_holder"]

logger = logging.getLogger("asyncrun")

HEARTBEAT = 5.0
"""Seconds between two writes of the holder's `alive` time."""

# How long a lock taker waits out a look (a shared lock held for an instant), and a refused one
# waits for a new holder's record; both bounded, in steps.
_GRACE = 0.2
_STEP = 0.01
# How long a release waits for a heartbeat write under way (a local write takes microseconds; a
# stalled network filesystem may take longer, and the release then goes on without it).
_JOIN = 5.0


@dataclass(frozen=True, slots=True)
class Holder:
    """What a lock file says about its (last) holder."""

    pid: int | None
    host: str | None
    since: str | None
    released: datetime | None
    # The holder's last heartbeat and its interval in seconds (None: a record of an older
    # asyncrun, or a heartbeat that could not be written).
    alive: datetime | None = None
    beat: float | None = None


def lock_path(journal: str) -> str:
    return journal + ".lock"


class JournalLock:
    """The lock of one journal file, held from `acquire()` to `release()` (blocking calls: the
    journal makes them in its worker thread), with its heartbeat every `heartbeat` seconds."""

    def __init__(self, journal: str, *, heartbeat: float = HEARTBEAT) -> None:
        if not heartbeat > 0:
            raise ConfigError(f"heartbeat must be positive seconds, got {heartbeat!r}")
        self.journal = journal
        self.path = lock_path(journal)
        self.heartbeat = heartbeat
        self.beats = 0  # heartbeat writes made (tests, diagnostics)
        self._fd: int | None = None
        self._record: dict[str, object] = {}
        self._writing = threading.Lock()  # one write of the record at a time
        # The running heartbeat and what stops it (a new pair for each acquire).
        self._beater: tuple[threading.Thread, threading.Event] | None = None

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
        self._record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": since,
            "beat": self.heartbeat,
            "alive": _stamp(),
        }
        _write(fd, self._record)
        self._start_heartbeat(fd)
        return previous

    def release(self, when: datetime) -> None:
        """Stop the heartbeat, say when the lock was let go, then close the file (which drops
        the lock once a heartbeat write still under way, if any, has returned)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self._stop_heartbeat()
            if self._writing.acquire(timeout=_JOIN):
                try:
                    self._record["released"] = when
                    with contextlib.suppress(OSError):
                        _write(fd, self._record)
                finally:
                    self._writing.release()
            # else: a heartbeat write is stuck; the record then says "killed", which only makes
            # a resume wait longer.
        finally:
            os.close(fd)

    def _start_heartbeat(self, fd: int) -> None:
        own = os.dup(fd)  # same open file (same lock); closed by the heartbeat alone
        stop = threading.Event()
        thread = threading.Thread(
            target=self._beat, args=(own, stop), name="asyncrun-journal-heartbeat", daemon=True
        )
        try:
            thread.start()
        except BaseException:
            os.close(own)
            raise
        self._beater = (thread, stop)

    def _stop_heartbeat(self) -> None:
        beater, self._beater = self._beater, None
        if beater is not None:
            thread, stop = beater
            stop.set()
            thread.join(_JOIN)
            if thread.is_alive():
                logger.warning(
                    "the heartbeat of journal %r is stuck in a write; releasing without it",
                    self.journal,
                )

    def _beat(self, fd: int, stop: threading.Event) -> None:
        try:
            while not stop.wait(self.heartbeat):
                with self._writing:
                    if stop.is_set():
                        return
                    self._record["alive"] = _stamp()
                    try:
                        _write(fd, self._record)
                        os.fdatasync(fd)
                        self.beats += 1
                    except OSError as exc:
                        self._forget(fd, exc)
        finally:
            os.close(fd)

    def _forget(self, fd: int, exc: OSError) -> None:
        """A heartbeat write failed: the file may keep an `alive` that goes stale while this
        process lives on, which a resume would take for its death; empty the record instead."""
        logger.warning(
            "cannot write the heartbeat of journal %r (%s): its lock record is emptied",
            self.journal,
            exc.strerror,
        )
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)


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


def _stamp() -> str:
    """Now, as the record says it: fixed width (microseconds always), so a heartbeat's record
    has the length of the one before."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _write(fd: int, record: dict[str, object]) -> None:
    """Rewrite the record in place: data first, then cut to its length (see the module's
    docstring: a reader never sees it empty)."""
    data = json.dumps(
        {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}
    ).encode()
    os.pwrite(fd, data, 0)
    os.ftruncate(fd, len(data))


def _read(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, 4096, 0)
        record = json.loads(raw) if raw else None
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    pid = record.get("pid")
    beat = record.get("beat")
    return Holder(
        pid=pid if isinstance(pid, int) else None,
        host=str(record["host"]) if record.get("host") else None,
        since=str(record["since"]) if record.get("since") else None,
        released=_time(record.get("released")),
        alive=_time(record.get("alive")),
        beat=float(beat)
        if isinstance(beat, int | float) and not isinstance(beat, bool) and beat > 0
        else None,
    )


def _time(value: object) -> datetime | None:
    """An aware time from the record, or None (a naive time has no known zone)."""
    try:
        when = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    return when if when is not None and when.tzinfo is not None else None
