"""Bounded attribute values: metric series must not grow without limit.

Model names and server addresses are open-ended (fine-tune ids, Azure deployments, dated
snapshots). The first `limit` distinct values are kept as they are; later ones become `_OTHER`,
the conventions' fallback value, so a misbehaving caller cannot blow up Prometheus.
"""

from __future__ import annotations

import threading

OTHER = "_OTHER"


class BoundedValues:
    """Admits up to `limit` distinct values; maps every later new value to `_OTHER`."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._limit = limit
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def get(self, value: str) -> str:
        """`value` if it is admitted, else `_OTHER`."""
        if value in self._seen:  # the hot path: no lock for a value seen before
            return value
        with self._lock:
            if len(self._seen) < self._limit:
                self._seen.add(value)
                return value
        return OTHER

    def __len__(self) -> int:
        return len(self._seen)
