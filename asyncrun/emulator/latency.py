"""A TCP proxy that puts a network round trip between clients and the emulator.

Every chunk is held for half the round trip in each direction, and a new connection's first
bytes wait one more round trip (the TCP connect the client's kernel finished at once on
loopback). So a connect, each TLS handshake flight and each request pay their round trips as on
a real network, whatever the protocol inside. Bandwidth is not modelled.

It runs in its own process (`python -m asyncrun.emulator.latency`), so that its CPU neither
slows the emulator's event loop nor hides in the emulator's figures. Protocol on its pipes: one
line `LISTENING <host> <port>` on stdout once it accepts; then each `stats` line on stdin is
answered by one JSON line on stdout; end of stdin stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast


class _Stats:
    def __init__(self) -> None:
        self.connections = 0
        self.open_now = 0
        self.bytes_up = 0
        self.bytes_down = 0
        self.chunks = 0

    def snapshot(self, rtt: float) -> dict[str, Any]:
        return {
            "rtt_ms": rtt * 1000,
            "connections": self.connections,
            "open_now": self.open_now,
            "bytes_up": self.bytes_up,
            "bytes_down": self.bytes_down,
            "chunks": self.chunks,
            "cpu_seconds": round(time.process_time(), 3),
        }


class _Delayed:
    """One direction: each chunk is written to the sink once due; then the end (close or reset).

    Nothing is held beyond what arrives in half a round trip: a slow sink pauses the source
    through the transports' own flow control (see _Side.pause_writing).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, not_before: float) -> None:
        self._loop = loop
        self._delay = delay
        self._not_before = not_before
        self._queue: collections.deque[tuple[float, bytes | None]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None
        self._ended = False
        self._reset = False
        self.sink: asyncio.Transport | None = None
        self.on_end: Callable[[bool], None] = lambda reset: None

    def push(self, chunk: bytes) -> None:
        if not self._ended:
            self._queue.append((self._due(), chunk))
            self._arm()

    def end(self, *, reset: bool) -> None:
        """Close (or reset, dropping what is still held) the other end once this is due."""
        if self._ended and not reset:
            return
        if reset:
            self._queue.clear()
            self._reset = True
        self._ended = True
        self._queue.append((self._due(), None))
        self._arm()

    def start(self, sink: asyncio.Transport) -> None:
        self.sink = sink
        self._arm()

    def _due(self) -> float:
        return max(self._loop.time(), self._not_before) + self._delay

    def _arm(self) -> None:
        # The head only moves later, so a timer already set is never late; it re-arms on flush.
        if self._timer is None and self._queue and self.sink is not None:
            self._timer = self._loop.call_at(self._queue[0][0], self._flush)

    def _flush(self) -> None:
        self._timer = None
        now = self._loop.time()
        while self.sink is not None and self._queue and self._queue[0][0] <= now:
            _, chunk = self._queue.popleft()
            if chunk is None:
                self._queue.clear()
                self.on_end(self._reset)
                return
            self.sink.write(chunk)
        self._arm()


class _Side(asyncio.Protocol):
    """One end of a proxied connection: what it receives goes into `outgoing`."""

    def __init__(self, outgoing: _Delayed, stats: _Stats, up: bool) -> None:
        self.outgoing = outgoing
        self._stats = stats
        self._up = up
        self.transport: asyncio.Transport | None = None
        self.peer: _Side | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, though not an asyncio.Transport instance under uvloop.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._stats.chunks += 1
        if self._up:
            self._stats.bytes_up += len(data)
        else:
            self._stats.bytes_down += len(data)
        self.outgoing.push(data)

    def eof_received(self) -> bool:
        # HTTP peers do not half-close: an end of stream ends the connection.
        self.outgoing.end(reset=False)
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.outgoing.end(reset=exc is not None)

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()

    def finish(self, reset: bool) -> None:
        if self.transport is None:
            return
        if reset:
            self.transport.abort()
        elif not self.transport.is_closing():
            self.transport.close()


class LatencyProxy:
    """Accepts on host:port and forwards each connection to target with the round trip added."""

    def __init__(self, target: tuple[str, int], rtt: float) -> None:
        self._target = target
        self._rtt = rtt
        self.stats = _Stats()
        self._pending: set[asyncio.Task[None]] = set()

    def snapshot(self) -> dict[str, Any]:
        return self.stats.snapshot(self._rtt)

    def accept(self) -> asyncio.Protocol:
        loop = asyncio.get_running_loop()
        now = loop.time()
        half = self._rtt / 2
        # The client's first bytes leave once its connect would have: one round trip later.
        up = _Delayed(loop, half, now + self._rtt)
        down = _Delayed(loop, half, now)
        client = _Side(up, self.stats, up=True)
        self.stats.connections += 1
        self.stats.open_now += 1
        task = loop.create_task(self._connect(client, up, down))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return client

    async def _connect(self, client: _Side, up: _Delayed, down: _Delayed) -> None:
        loop = asyncio.get_running_loop()
        server = _Side(down, self.stats, up=False)
        try:
            await loop.create_connection(lambda: server, *self._target)
        except OSError:
            client.finish(reset=True)
            self.stats.open_now -= 1
            return
        client.peer, server.peer = server, client
        up.on_end = server.finish
        down.on_end = self._closer(client)
        assert server.transport is not None and client.transport is not None
        up.start(server.transport)
        down.start(client.transport)

    def _closer(self, client: _Side) -> Callable[[bool], None]:
        def close(reset: bool) -> None:
            self.stats.open_now -= 1
            client.finish(reset)

        return close

    async def aclose(self) -> None:
        for task in list(self._pending):
            task.cancel()


_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 10.0


class ProxyProcess:
    """The proxy running in its own process: its URL parts, its stats, and how to stop it."""

    def __init__(self, process: asyncio.subprocess.Process, host: str, port: int) -> None:
        self._process = process
        self.host = host
        self.port = port
        self._lock = asyncio.Lock()

    async def stats(self) -> dict[str, Any]:
        """The proxy's counters and its own CPU time (seconds, user + system)."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        async with self._lock:
            stdin.write(b"stats\n")
            await stdin.drain()
            line = await asyncio.wait_for(stdout.readline(), _START_TIMEOUT)
        answer: dict[str, Any] = json.loads(line)
        return answer


@contextlib.asynccontextmanager
async def proxy_process(
    target: tuple[str, int], rtt: float, *, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[ProxyProcess]:
    """Start the proxy in front of target (rtt in seconds); stop it when the block exits."""
    # -I: the script alone, without asyncrun's package imports or this folder on sys.path.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        __file__,
        f"--host={host}",
        f"--port={port}",
        f"--target-host={target[0]}",
        f"--target-port={target[1]}",
        f"--rtt-ms={rtt * 1000}",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), _START_TIMEOUT)
        words = line.decode().split()
        if len(words) != 3 or words[0] != "LISTENING":
            raise RuntimeError("the latency proxy did not start")
        yield ProxyProcess(process, words[1], int(words[2]))
    finally:
        await _stop(process)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), _STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()


async def _serve(host: str, port: int, target: tuple[str, int], rtt: float) -> None:
    proxy = LatencyProxy(target, rtt)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(proxy.accept, host, port)
    bound = server.sockets[0].getsockname()
    print(f"LISTENING {bound[0]} {bound[1]}", flush=True)
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := await reader.readline():
            if line.strip() == b"stats":
                print(json.dumps(proxy.snapshot()), flush=True)
    finally:
        server.close()
        await proxy.aclose()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m asyncrun.emulator.latency")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--target-host", default="127.0.0.1")
    parser.add_argument("--target-port", type=int, required=True)
    parser.add_argument("--rtt-ms", type=float, required=True)
    args = parser.parse_args(argv)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(
            _serve(args.host, args.port, (args.target_host, args.target_port), args.rtt_ms / 1000)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
