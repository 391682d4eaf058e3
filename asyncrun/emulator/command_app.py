"""`--app-command`: run a real executable per run (input on stdin, output from stdout).

Unlike simulated runs these need a task and a subprocess each, bounded by a semaphore.
The process gets the run's options as JSON in the environment variable EMULATOR_OPTIONS.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from asyncrun.emulator.runs import Run
    from asyncrun.emulator.storage import Storage

_STDERR_KEEP = 64 * 1024
_KILL_GRACE = 5.0


class CommandRunner:
    def __init__(self, command: str, concurrency: int, storage: Storage) -> None:
        self._argv = shlex.split(command)
        if not self._argv:
            raise ValueError("app_command is empty")
        self._slots = asyncio.Semaphore(concurrency)
        self._storage = storage
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    def start(self, run: Run) -> None:
        task = asyncio.get_running_loop().create_task(self._execute(run))
        self._tasks[run.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(run.id, None))

    def kill(self, run: Run) -> None:
        proc = self._procs.get(run.id)
        if proc is not None and proc.returncode is None:
            proc.kill()

    def running(self) -> int:
        """How many app processes are alive now."""
        return sum(1 for proc in self._procs.values() if proc.returncode is None)

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _execute(self, run: Run) -> None:
        async with self._slots:
            if run.canceled_at is not None:
                return
            input_path = self._input_file(run)
            key = f"outputs/{run.id}/output.json"
            out_path = self._storage.path(key)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            run.started_at = time.monotonic()
            run.command_status = "running"
            try:
                code, stderr = await self._spawn(run, input_path, out_path)
            except OSError as exc:
                code, stderr = -1, f"could not start the app command: {exc}"
            run.ended_at = time.monotonic()
            run.log_lines.extend(stderr.splitlines())
            run.command_output_size = self._storage.adopt(key)
            run.output_key = key
            verdict = await asyncio.to_thread(_verdict, code, stderr, out_path, run)
            run.command_status, run.fail_message = verdict

    def _input_file(self, run: Run) -> str:
        if run.input_key is not None:
            return str(self._storage.path(run.input_key))
        key = f"outputs/{run.id}/input.json"
        self._storage.put_bytes(key, json.dumps(run.inline_input).encode())
        return str(self._storage.path(key))

    async def _spawn(self, run: Run, input_path: str, out_path: Path) -> tuple[int, str]:
        env = dict(os.environ, EMULATOR_OPTIONS=json.dumps(run.options), EMULATOR_RUN_ID=run.id)
        # Opening local files is quick; the child inherits the descriptors, so stdin and stdout
        # stream from and to disk with no copy through this process.
        with open(input_path, "rb") as stdin, open(out_path, "wb") as stdout:  # noqa: ASYNC230
            proc = await asyncio.create_subprocess_exec(
                *self._argv, stdin=stdin, stdout=stdout, stderr=asyncio.subprocess.PIPE, env=env
            )
        self._procs[run.id] = proc
        try:
            stderr = await _tail(proc)
            await proc.wait()
        except asyncio.CancelledError:
            proc.kill()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), _KILL_GRACE)
            raise
        finally:
            self._procs.pop(run.id, None)
        return proc.returncode if proc.returncode is not None else -1, stderr.decode(
            "utf-8", "replace"
        )


async def _tail(proc: asyncio.subprocess.Process) -> bytes:
    """Read stderr to the end (so the process never blocks on it), keeping the last 64 KiB."""
    kept = b""
    if proc.stderr is None:
        return kept
    while chunk := await proc.stderr.read(_STDERR_KEEP):
        kept = (kept + chunk)[-_STDERR_KEEP:]
    return kept


def _verdict(code: int, stderr: str, out_path: Path, run: Run) -> tuple[str, str | None]:
    if run.canceled_at is not None:
        return "canceled", None
    document = _json_document(out_path) if run.output_type == "json" else None
    if isinstance(document, dict):
        # As the cloud does: the output's metrics (and deprecated statistics) go to metadata.
        run.metrics, run.statistics = document.get("metrics"), document.get("statistics")
    if code != 0:
        last = stderr.strip().splitlines()[-1:] or [f"exit status {code}"]
        return "failed", f"app command failed ({code}): {last[0]}"
    if run.output_type == "json" and document is _NOT_JSON:
        return "failed", "app command output is not valid JSON"
    return "succeeded", None


_NOT_JSON = object()


def _json_document(path: Path) -> object:
    try:
        with open(path, "rb") as source:
            document: object = json.load(source)
    except ValueError:
        return _NOT_JSON
    return document
