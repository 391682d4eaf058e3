"""Runs that are real processes: `--app-command` and pushed binaries (input on stdin, output
from stdout, stderr the run's logs).

Unlike simulated runs these need a task and a subprocess each, bounded by one semaphore per
emulator. Each process leads its own process group, so cancel, a timeout or shutdown kills
whatever it started too. An `--app-command` gets the run's options as JSON in the environment
variable EMULATOR_OPTIONS; a binary gets them as `-name value` arguments (see binaries.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncrun.emulator.runs import Run
    from asyncrun.emulator.storage import Storage

_STDERR_KEEP = 64 * 1024
_KILL_GRACE = 5.0


@dataclass(frozen=True)
class Launch:
    """How to start one run's process: its arguments, directory and extra environment."""

    argv: list[str]
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    what: str = "app command"
    # A multi-file app: its run directory is made first (inputs unpacked), stdin is empty, the
    # output is `collect(path)` (its outputs/ packed), and the directory is removed after.
    workdir: Path | None = None
    prepare: Callable[[], None] | None = None
    collect: Callable[[Path], None] | None = None


class CommandRunner:
    def __init__(self, concurrency: int, storage: Storage, *, timeout: float) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self._storage = storage
        self._timeout = timeout
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    def start(self, run: Run, launch: Launch) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(run, launch))
        self._tasks[run.id] = task
        task.add_done_callback(lambda done: self._finished(run, done))

    def _finished(self, run: Run, task: asyncio.Task[None]) -> None:
        self._tasks.pop(run.id, None)
        if task.cancelled() or task.exception() is None or run.ended_at is not None:
            return
        # A bug or a full disk must not leave the run "running" for ever.
        run.ended_at = time.monotonic()
        run.command_status, run.fail_message = "failed", f"emulator error: {task.exception()}"

    def kill(self, run: Run) -> None:
        proc = self._procs.get(run.id)
        if proc is not None:
            _kill_group(proc)

    def running(self) -> int:
        """How many app processes are alive now."""
        return sum(1 for proc in self._procs.values() if proc.returncode is None)

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _execute(self, run: Run, launch: Launch) -> None:
        async with self._slots:
            if run.canceled_at is not None:
                return
            input_path = os.devnull if launch.prepare is not None else self._input_file(run)
            key = f"outputs/{run.id}/output.json"
            out_path = self._storage.path(key)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.touch()  # the output exists (empty) even when no process ran
            run.started_at = time.monotonic()
            run.command_status = "running"
            try:
                code, stderr = await self._prepare_and_spawn(run, launch, input_path, out_path)
                key, code, stderr = await self._collect(run, launch, key, code, stderr)
            finally:
                if launch.workdir is not None:
                    await asyncio.to_thread(shutil.rmtree, launch.workdir, True)
            run.ended_at = time.monotonic()
            run.log_lines.extend(stderr.splitlines())
            run.command_output_size = self._storage.adopt(key)
            run.output_key = key
            verdict = await asyncio.to_thread(_verdict, code, stderr, out_path, run, launch.what)
            run.command_status, run.fail_message = verdict

    async def _prepare_and_spawn(
        self, run: Run, launch: Launch, input_path: str, out_path: Path
    ) -> tuple[int, str]:
        try:
            if launch.prepare is not None:
                await asyncio.to_thread(launch.prepare)
            return await self._spawn(run, launch, input_path, out_path)
        except TimeoutError:  # (before OSError: it is one)
            return -1, f"the {launch.what} ran longer than {self._timeout:g} s and was stopped"
        except ValueError as exc:
            return -1, f"the run's input cannot be given to the {launch.what}: {exc}"
        except OSError as exc:
            return -1, f"could not start the {launch.what}: {exc}"

    async def _collect(
        self, run: Run, launch: Launch, key: str, code: int, stderr: str
    ) -> tuple[str, int, str]:
        """(output key, exit code, stderr): stdout's key, or the packed outputs/ of a
        multi-file app (a failure to pack it fails the run)."""
        if launch.collect is None or code != 0 or run.canceled_at is not None:
            return key, code, stderr
        packed = f"outputs/{run.id}/output.tar.gz"
        try:
            await asyncio.to_thread(launch.collect, self._storage.path(packed))
        except OSError as exc:
            return key, -1, f"{stderr}\nthe app's outputs/ could not be packed: {exc}"
        return packed, code, stderr

    def _input_file(self, run: Run) -> str:
        if run.input_key is not None:
            return str(self._storage.path(run.input_key))
        key = f"outputs/{run.id}/input.json"
        self._storage.put_bytes(key, json.dumps(run.inline_input).encode())
        return str(self._storage.path(key))

    async def _spawn(
        self, run: Run, launch: Launch, input_path: str, out_path: Path
    ) -> tuple[int, str]:
        env = dict(os.environ, EMULATOR_RUN_ID=run.id, **launch.env)
        # Opening local files is quick; the child inherits the descriptors, so stdin and stdout
        # stream from and to disk with no copy through this process.
        with open(input_path, "rb") as stdin, open(out_path, "wb") as stdout:  # noqa: ASYNC230
            proc = await asyncio.create_subprocess_exec(
                *launch.argv,
                stdin=stdin,
                stdout=stdout,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=launch.cwd,
                start_new_session=True,
            )
        self._procs[run.id] = proc
        if run.canceled_at is not None:
            # Canceled while the process was being started: kill() found nothing to kill.
            _kill_group(proc)
        try:
            async with asyncio.timeout(self._timeout):
                stderr = await _tail(proc)
                await proc.wait()
        except (asyncio.CancelledError, TimeoutError):
            _kill_group(proc)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), _KILL_GRACE)
            raise
        finally:
            self._procs.pop(run.id, None)
        return proc.returncode if proc.returncode is not None else -1, stderr.decode(
            "utf-8", "replace"
        )


def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill the process and everything it started (it leads its own session)."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


async def _tail(proc: asyncio.subprocess.Process) -> bytes:
    """Read stderr to the end (so the process never blocks on it), keeping the last 64 KiB."""
    kept = b""
    if proc.stderr is None:
        return kept
    while chunk := await proc.stderr.read(_STDERR_KEEP):
        kept = (kept + chunk)[-_STDERR_KEEP:]
    return kept


def _verdict(code: int, stderr: str, out_path: Path, run: Run, what: str) -> tuple[str, str | None]:
    if run.canceled_at is not None:
        return "canceled", None
    document = _json_document(out_path) if run.output_type == "json" else None
    if isinstance(document, dict):
        # As the cloud does: the output's metrics (and deprecated statistics) go to metadata.
        run.metrics, run.statistics = document.get("metrics"), document.get("statistics")
    if code != 0:
        last = stderr.strip().splitlines()[-1:] or [f"exit status {code}"]
        return "failed", f"{what} failed ({code}): {last[0]}"
    if run.output_type == "json" and document is _NOT_JSON:
        return "failed", f"{what} output is not valid JSON"
    return "succeeded", None


_NOT_JSON = object()


def _json_document(path: Path) -> object:
    try:
        with open(path, "rb") as source:
            document: object = json.load(source)
    except ValueError:
        return _NOT_JSON
    return document
