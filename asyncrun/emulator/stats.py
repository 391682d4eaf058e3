"""Counters and the bounded request log behind GET /_emulator/stats."""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

# Headers never kept in the request log (secrets).
_HIDDEN_HEADERS = frozenset({"authorization"})


class Stats:
    def __init__(self, recent_size: int) -> None:
        self.requests: Counter[tuple[str, int]] = Counter()
        self.faults: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        # Runs the `late_create` fault created after dropping their POST's connection.
        self.late_created = 0
        self.recent: deque[dict[str, Any]] = deque(maxlen=recent_size)

    def count(self, route: str, status: int) -> None:
        self.requests[(route, status)] += 1

    def log_request(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str]
    ) -> dict[str, Any]:
        """Append one entry; the caller fills in `json` once the body is known."""
        entry: dict[str, Any] = {
            "method": method,
            "path": path,
            "query": query,
            "headers": {k: v for k, v in headers.items() if k.lower() not in _HIDDEN_HEADERS},
            # Whether the key came along (a test of redirects to another origin), never the key.
            "authorized": any(k.lower() == "authorization" for k in headers),
            "json": None,
        }
        self.recent.append(entry)
        return entry

    def reset(self) -> None:
        self.requests.clear()
        self.faults.clear()
        self.rate_limited.clear()
        self.late_created = 0
        self.recent.clear()

    def requests_by_route(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (route, status), n in sorted(self.requests.items()):
            out.setdefault(route, {})[str(status)] = n
        return out
