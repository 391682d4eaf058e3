"""The emulator's state: runs, storage, limits, faults, stats, and how run outputs are produced."""

from __future__ import annotations

import asyncio
import functools
import json
import secrets
import shlex
import sys
from typing import Any

from aiohttp import web

from asyncrun.emulator import binaries, default_app
from asyncrun.emulator.apps import AppRegistry, Target
from asyncrun.emulator.command_app import CommandRunner, Launch
from asyncrun.emulator.config import EmulatorConfig
from asyncrun.emulator.connections import ConnectionStats
from asyncrun.emulator.experiments import ExperimentStore
from asyncrun.emulator.faults import FaultInjector
from asyncrun.emulator.inputs import InputStore, lookup
from asyncrun.emulator.latency import ProxyProcess
from asyncrun.emulator.limits import RateLimiter
from asyncrun.emulator.runs import MULTI_FILE_TYPES, Run, RunStore
from asyncrun.emulator.stats import Stats
from asyncrun.emulator.storage import Storage
from asyncrun.emulator.submit import ManagedLookup, parse_new_run
from asyncrun.emulator.wire import ApiError

# Outputs up to this size are built in memory on request; bigger ones are written to storage
# once (in a thread) and streamed from disk.
IN_MEMORY_OUTPUT = 1 * 2**20


class EmulatorState:
    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.store = RunStore(
            seed=config.seed,
            duration=config.duration,
            queue_delay=config.queue_delay,
            time_scale=config.time_scale,
            capacity=config.capacity,
        )
        self.storage = Storage(
            config.storage_dir, url_ttl=config.url_ttl, upload_cap=config.upload_cap
        )
        self.stats = Stats(config.recent_requests)
        self.connections = ConnectionStats()
        self.inputs = InputStore()
        self.experiments = ExperimentStore()
        self.limiter = RateLimiter(config.rate_profile)
        self.faults = FaultInjector(config.faults, config.seed)
        self._output_locks: dict[str, asyncio.Lock] = {}
        self._uploads = 0
        self._requests = 0
        self._late: set[asyncio.Task[None]] = set()
        self.proxy: ProxyProcess | None = None
        self.apps = AppRegistry(auto_create=config.auto_create_apps)
        self.commands = CommandRunner(
            config.app_concurrency, self.storage, timeout=config.app_timeout
        )

    def launch_for(self, run: Run, target: Target) -> Launch | None:
        """The process a new run starts: its instance's pushed binary, else the
        --app-command, else None (the built-in model answers)."""
        options = run.options
        binary = target.binary
        if binary is not None:
            python = self.config.app_python or sys.executable
            argv = binaries.argv(binary.executable_type, binary.root / binary.entrypoint, python)
            argv += binaries.option_args({**target.defaults, **options})
            if not binary.multi_file:
                return Launch(argv, cwd=binary.root / binary.working_directory, what="app")
            work = self.storage.path(f"outputs/{run.id}/work")
            archive = self.storage.path(run.input_key) if run.input_key is not None else None
            return Launch(
                argv,
                cwd=work,
                what="app",
                workdir=work,
                prepare=functools.partial(
                    binaries.prepare_workdir, binary.root, work, archive, binary.input_path
                ),
                collect=functools.partial(binaries.pack_outputs, work),
            )
        if self.config.app_command is not None:
            return Launch(
                shlex.split(self.config.app_command),
                env={"EMULATOR_OPTIONS": json.dumps(options)},
            )
        return None

    def next_request_id(self) -> str:
        self._requests += 1
        return f"req-{self._requests:x}"

    def new_upload_id(self) -> str:
        self._uploads += 1
        return f"upload-{self._uploads:x}-{secrets.token_hex(6)}"

    async def create_run(
        self,
        app_id: str,
        body: bytes,
        instance_id: str | None,
        *,
        version_id: str | None = None,
        managed: ManagedLookup | None = None,
    ) -> Run:
        """POST runs: validate the body, read its input, and start the run. An experiment
        may run a version without an instance, and read inputs its own way (`managed`)."""
        self.apps.app_for_runs(app_id, create=False)
        managed = managed or lookup(self.inputs, self.storage, app_id)
        spec = await parse_new_run(self.storage, app_id, body, instance_id, managed)
        # Only a valid request creates an app on first use (auto_create_apps).
        app = self.apps.app_for_runs(app_id, create=True)
        if version_id is not None and app is not None:
            target = self.apps.resolve_version(app, version_id)
        else:
            target = self.apps.resolve(app, instance_id)
        spec.instance_id, spec.version_id = target.instance_id, target.version_id
        if target.binary is not None and target.binary.multi_file:
            spec.output_type = "multi-file"  # the app's outputs/ directory, packed
        real = target.binary is not None or self.config.app_command is not None
        run = self.store.create(spec, command=real)
        launch = self.launch_for(run, target)
        if launch is not None:
            self.commands.start(run, launch)
        return run

    def create_late(self, app_id: str, body: bytes, instance_id: str | None) -> None:
        """The `late_create` fault: create the run `late_seconds` from now, in the background
        (its client got no answer)."""
        task = asyncio.get_running_loop().create_task(self._create_late(app_id, body, instance_id))
        self._late.add(task)
        task.add_done_callback(self._late.discard)

    async def _create_late(self, app_id: str, body: bytes, instance_id: str | None) -> None:
        await asyncio.sleep(self.config.faults.late_seconds)
        try:
            await self.create_run(app_id, body, instance_id)
        except ApiError:
            return  # a request the API would have refused creates nothing, late or not
        self.stats.late_created += 1

    async def late_creates_done(self) -> None:
        """Wait until every pending `late_create` has created its run (test hook)."""
        while self._late:
            await asyncio.gather(*self._late, return_exceptions=True)

    def snapshot(self) -> dict[str, Any]:
        """The body of GET /_emulator/stats."""
        return {
            "requests": self.stats.requests_by_route(),
            "runs_created": self.store.created,
            "runs_per_name": dict(self.store.per_name),
            "managed_inputs": len(self.inputs),
            "experiments": self.experiments.snapshot(),
            "bytes_stored": self.storage.bytes_stored,
            "faults": dict(self.stats.faults),
            "late_created": self.stats.late_created,
            "late_pending": len(self._late),
            "rate_limited": dict(self.stats.rate_limited),
            "connections": self.connections.snapshot(),
            "recent_requests": [dict(entry) for entry in self.stats.recent],
        }

    async def full_snapshot(self) -> dict[str, Any]:
        """snapshot() plus the latency proxy's own counters and CPU when there is one."""
        out = self.snapshot()
        if self.proxy is not None:
            out["proxy"] = await self.proxy.stats()
        return out

    def reset_stats(self) -> None:
        self.stats.reset()
        self.connections.reset()

    def run_timeline(self, now: float) -> list[dict[str, Any]]:
        """Every run with real wall-clock times (epoch seconds), for benchmarks' lag figures."""
        out = []
        for run in self.store.all_runs():
            status, start, end = run.timeline(now)
            out.append(
                {
                    "id": run.id,
                    "app_id": run.app_id,
                    "name": run.name,
                    "status": status,
                    "created": run.created_wall,
                    "started": run.wall(start) if start is not None else None,
                    "ended": run.wall(end) if end is not None else None,
                }
            )
        return out

    async def aclose(self) -> None:
        for task in list(self._late):
            task.cancel()
        await asyncio.gather(*self._late, return_exceptions=True)
        await self.commands.aclose()
        self.storage.close()

    # -- outputs of the default app ----------------------------------------------------------

    def output_base(self, run: Run) -> bytes:
        return default_app.compact_json(self._document(run))

    def document(self, run: Run) -> dict[str, Any]:
        """The built-in model's output of a finished run, without its padding."""
        return self._document(run)

    def _document(self, run: Run) -> dict[str, Any]:
        if run.fail_message is not None:
            return default_app.failure_document(run.digest, run.options, run.fail_message)
        return default_app.output_document(run.digest, run.options, run.files)

    def metrics(self, run: Run) -> tuple[Any, Any]:
        """(metrics, statistics) of a finished run's output, as the cloud copies them into
        the run's metadata (None when the output has none)."""
        if run.command:
            return run.metrics, run.statistics
        doc = self._document(run)
        return doc.get("metrics"), doc.get("statistics")

    def json_padding(self, run: Run, base: bytes) -> int | None:
        return default_app.padding_length(len(base), run.output_bytes)

    async def output_size(self, run: Run) -> int:
        """Size in bytes of a finished run's output (a multi-file output is built first)."""
        if run.command:
            return run.command_output_size
        if run.output_type in MULTI_FILE_TYPES:
            return self.storage.size(await self.output_object(run))
        base = self.output_base(run)
        return default_app.json_output_size(base, self.json_padding(run, base))

    def output_key(self, run: Run) -> str:
        suffix = "tar.gz" if run.output_type in MULTI_FILE_TYPES else "json"
        return f"outputs/{run.id}/output.{suffix}"

    async def output_object(self, run: Run) -> str:
        """The storage key of the run's output, writing the object on first use."""
        if run.output_key is not None and self.storage.exists(run.output_key):
            return run.output_key
        lock = self._output_locks.setdefault(run.id, asyncio.Lock())
        async with lock:
            if run.output_key is None or not self.storage.exists(run.output_key):
                key = self.output_key(run)
                await asyncio.to_thread(self.storage.write_with, key, self._output_writer(run))
                run.output_key = key
        self._output_locks.pop(run.id, None)
        return run.output_key

    def _output_writer(self, run: Run) -> Any:
        base = self.output_base(run)
        if run.output_type in MULTI_FILE_TYPES:
            return lambda sink: default_app.write_multifile_output(
                sink, base, run.output_bytes, run.evil
            )
        padding = self.json_padding(run, base)
        return lambda sink: default_app.write_json_output(sink, base, padding)

    async def small_output(self, run: Run) -> bytes | None:
        """The JSON output as bytes when it is small enough to build in memory, else None."""
        if run.command or run.output_type in MULTI_FILE_TYPES:
            return None
        base = self.output_base(run)
        padding = self.json_padding(run, base)
        if default_app.json_output_size(base, padding) > IN_MEMORY_OUTPUT:
            return None
        return default_app.render_json_output(base, padding)

    def input_object_key(self, run: Run) -> str:
        return run.input_key if run.input_key is not None else f"outputs/{run.id}/input.json"

    def forget(self, run: Run) -> None:
        self.store.delete(run)
        self.storage.delete_prefix(f"outputs/{run.id}/")


STATE: web.AppKey[EmulatorState] = web.AppKey("emulator_state", EmulatorState)
