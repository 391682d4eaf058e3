"""A local Nextmv-compatible cloud (aiohttp.web): runs, storage, rate buckets, faults, stats.

It imports nothing from the rest of asyncrun, so that a wire mistake cannot hide by being
made the same way on both sides.
"""

from asyncrun.emulator.config import EmulatorConfig, FaultProfile
from asyncrun.emulator.server import Emulator, ThreadedEmulator, serve, serve_in_thread

__all__ = [
    "Emulator",
    "EmulatorConfig",
    "FaultProfile",
    "ThreadedEmulator",
    "serve",
    "serve_in_thread",
]
