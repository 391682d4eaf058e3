"""Seeded fault injection on the /v1 API: one uniform draw per request picks at most one fault."""

from __future__ import annotations

import random

from asyncrun.emulator.config import FaultProfile


class FaultInjector:
    def __init__(self, profile: FaultProfile, seed: int) -> None:
        self.profile = profile
        self._rng = random.Random(f"faults-{seed}")
        self._bands = profile.bands()

    def draw(self, *, is_create: bool) -> str | None:
        """The fault for this request, or None; `lost_create` only on POST runs."""
        if not self.profile.any:
            return None
        u = self._rng.random()
        edge = 0.0
        for kind, rate in self._bands:
            edge += rate
            if u < edge:
                if kind == "lost_create" and not is_create:
                    return None
                return kind
        return None
