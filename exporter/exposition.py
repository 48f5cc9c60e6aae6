"""Pre-rendered exposition: each snapshot is rendered once, and scrapes hand out the bytes.

The collection thread publishes a snapshot and renders the text format at once; OpenMetrics
and gzip variants are rendered on the first scrape that asks for them. A scrape therefore costs
a dictionary look-up, however many scrapers there are, and a wedged driver can never block it.
When the collection thread stops publishing (a hung NVML call), scrapes get the last snapshot
marked stale: `agentwatch_exporter_collect_success 0`, so the failure is visible.
"""

from __future__ import annotations

import dataclasses
import gzip
import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

from agentwatch.exporter.collector import SnapshotCollector
from agentwatch.exporter.model import Snapshot


class ExpositionCache:
    """Holds the latest snapshot and its rendered forms; implements the server's source."""

    def __init__(
        self,
        stale_after_seconds: float,
        clock: Callable[[], float] = time.time,
        process_metrics: bool = True,
    ) -> None:
        self._stale_after = stale_after_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._rendering: Snapshot | None = None
        self._stale: Snapshot | None = None
        self._cache: dict[tuple[bool, bool, bool], tuple[bytes, str]] = {}
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(SnapshotCollector(lambda: self._rendering))
        if process_metrics:
            # The exporter's own CPU and memory, as every Prometheus exporter reports them.
            ProcessCollector(registry=self._registry)
            PlatformCollector(registry=self._registry)
            GCCollector(registry=self._registry)

    def publish(self, snapshot: Snapshot) -> None:
        """Make `snapshot` the one scrapes see, rendering the text format now."""
        with self._lock:
            self._snapshot = snapshot
            self._stale = None
            self._cache.clear()
            self._render(snapshot, False, False, False)

    def latest(self) -> Snapshot | None:
        """The latest snapshot, marked stale if the collection thread stopped publishing."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or not self._is_stale(snapshot):
                return snapshot
            if self._stale is None:
                self._stale = dataclasses.replace(snapshot, stale=True)
            return self._stale

    def ready(self) -> bool:
        """True once a first snapshot was published."""
        return self._snapshot is not None

    def exposition(self, *, openmetrics: bool, gzipped: bool) -> tuple[bytes, str]:
        """Body and Content-Type of the latest snapshot in the asked-for form."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None:
                # Before the first collection: the exporter's own metrics only.
                return self._render_now(None, openmetrics, gzipped)
            stale = self._is_stale(snapshot)
            if stale:
                if self._stale is None:
                    self._stale = dataclasses.replace(snapshot, stale=True)
                snapshot = self._stale
            cached = self._cache.get((stale, openmetrics, gzipped))
            if cached is not None:
                return cached
            return self._render(snapshot, stale, openmetrics, gzipped)

    def _is_stale(self, snapshot: Snapshot) -> bool:
        return self._clock() - snapshot.timestamp > self._stale_after

    def _render(
        self, snapshot: Snapshot, stale: bool, openmetrics: bool, gzipped: bool
    ) -> tuple[bytes, str]:
        plain = self._cache.get((stale, openmetrics, False))
        if plain is None:
            plain = self._render_now(snapshot, openmetrics, False)
            self._cache[(stale, openmetrics, False)] = plain
        if not gzipped:
            return plain
        result = (gzip.compress(plain[0], compresslevel=6), plain[1])
        self._cache[(stale, openmetrics, True)] = result
        return result

    def _render_now(
        self, snapshot: Snapshot | None, openmetrics: bool, gzipped: bool
    ) -> tuple[bytes, str]:
        # Called with the lock held: `_rendering` is what the registry's collector reads.
        self._rendering = snapshot
        try:
            if openmetrics:
                body = generate_openmetrics(self._registry)  # type: ignore[no-untyped-call]
                content_type = OPENMETRICS_TYPE
            else:
                body, content_type = generate_latest(self._registry), CONTENT_TYPE_LATEST
        finally:
            self._rendering = None
        return (gzip.compress(body, compresslevel=6) if gzipped else body), content_type
