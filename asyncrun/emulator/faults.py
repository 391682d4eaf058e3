"""Seeded fault injection: one uniform draw per request picks at most one fault.

The /v1 API and the storage URLs draw from separate seeded sequences, so turning on storage
faults does not change which API requests fail.
"""

from __future__ import annotations

import random

from asyncrun.emulator.config import FaultProfile

_CREATE_ONLY = frozenset({"lost_create", "late_create"})


class _Bands:
    def __init__(self, bands: list[tuple[str, float]], rng: random.Random) -> None:
        self._bands = [(kind, rate) for kind, rate in bands if rate > 0]
        self._rng = rng

    def draw(self) -> str | None:
        if not self._bands:
            return None
        u = self._rng.random()
        edge = 0.0
        for kind, rate in self._bands:
            edge += rate
            if u < edge:
                return kind
        return None


class FaultInjector:
    def __init__(self, profile: FaultProfile, seed: int) -> None:
        self.profile = profile
        self._api = _Bands(profile.bands(), random.Random(f"faults-{seed}"))
        self._storage = _Bands(profile.storage_bands(), random.Random(f"storage-faults-{seed}"))

    def draw(self, *, is_create: bool) -> str | None:
        """The fault for this API request, or None; the create faults only on POST runs."""
        kind = self._api.draw()
        if kind in _CREATE_ONLY and not is_create:
            return None
        return kind

    def draw_storage(self) -> str | None:
        """The fault for this storage request: "storage_500", "storage_drop" or None."""
        return self._storage.draw()
