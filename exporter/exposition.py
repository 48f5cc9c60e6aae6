"""Pre-rendered exposition: each snapshot is rendered once, and scrapes hand out the bytes.

The collection thread publishes a snapshot and renders, at once, every form (text or
OpenMetrics, plain or gzip) that a scraper asked for in the last `hot_seconds`, so a scrape,
Prometheus's OpenMetrics-with-gzip included, is a dictionary look-up however many scrapers there
are, and a wedged driver can never block it. A form nobody asked for recently is rendered on
its first request. When the collection thread stops publishing (a hung NVML call), scrapes get
the last snapshot marked stale, `agentwatch_exporter_collect_success 0`, so the failure shows.
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

from agentwatch.exporter.model import Snapshot
from agentwatch.exporter.render import Renderer

Form = tuple[bool, bool]
"""(openmetrics, gzipped)."""

_GZIP_LEVEL = 1  # metrics text is repetitive: level 1 gets most of the gain for a fifth the CPU


class ExpositionCache:
    """Holds the latest snapshot and its rendered forms; implements the server's source."""

    def __init__(
        self,
        stale_after_seconds: float,
        clock: Callable[[], float] = time.time,
        process_metrics: bool = True,
        hot_seconds: float = 120.0,
    ) -> None:
        self._stale_after = stale_after_seconds
        self._hot_seconds = hot_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._renderer = Renderer()
        self._snapshot: Snapshot | None = None
        self._stale: Snapshot | None = None
        self._cache: dict[tuple[bool, bool, bool], tuple[bytes, str]] = {}
        self._asked: dict[Form, float] = {(False, False): clock()}
        self._own: CollectorRegistry | None = None
        if process_metrics:
            # The exporter's own CPU and memory, as every Prometheus exporter reports them.
            self._own = CollectorRegistry(auto_describe=False)
            ProcessCollector(registry=self._own)
            PlatformCollector(registry=self._own)
            GCCollector(registry=self._own)

    def publish(self, snapshot: Snapshot) -> None:
        """Make `snapshot` the one scrapes see, rendering the forms asked for lately."""
        with self._lock:
            self._snapshot = snapshot
            self._stale = None
            self._cache.clear()
            now = self._clock()
            for form, asked in list(self._asked.items()):
                if now - asked <= self._hot_seconds:
                    self._render(snapshot, False, *form)
                else:
                    del self._asked[form]

    def latest(self) -> Snapshot | None:
        """The latest snapshot, marked stale if the collection thread stopped publishing."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or not self._is_stale(snapshot):
                return snapshot
            return self._stale_copy(snapshot)

    def ready(self) -> bool:
        """True once a first snapshot was published."""
        return self._snapshot is not None

    def exposition(self, *, openmetrics: bool, gzipped: bool) -> tuple[bytes, str]:
        """Body and Content-Type of the latest snapshot in the asked-for form."""
        with self._lock:
            self._asked[(openmetrics, gzipped)] = self._clock()
            snapshot = self._snapshot
            if snapshot is None:
                # Before the first collection: the exporter's own metrics only.
                return self._encode(self._text(None, openmetrics), openmetrics, gzipped)
            stale = self._is_stale(snapshot)
            if stale:
                snapshot = self._stale_copy(snapshot)
            cached = self._cache.get((stale, openmetrics, gzipped))
            if cached is not None:
                return cached
            return self._render(snapshot, stale, openmetrics, gzipped)

    def _is_stale(self, snapshot: Snapshot) -> bool:
        return self._clock() - snapshot.timestamp > self._stale_after

    def _stale_copy(self, snapshot: Snapshot) -> Snapshot:
        if self._stale is None:
            self._stale = dataclasses.replace(snapshot, stale=True)
        return self._stale

    def _render(
        self, snapshot: Snapshot, stale: bool, openmetrics: bool, gzipped: bool
    ) -> tuple[bytes, str]:
        """Render one form, reusing the plain body for its gzip; lock held."""
        plain = self._cache.get((stale, openmetrics, False))
        if plain is None:
            plain = self._encode(self._text(snapshot, openmetrics), openmetrics, False)
            self._cache[(stale, openmetrics, False)] = plain
        if not gzipped:
            return plain
        result = (gzip.compress(plain[0], compresslevel=_GZIP_LEVEL), plain[1])
        self._cache[(stale, openmetrics, True)] = result
        return result

    def _text(self, snapshot: Snapshot | None, openmetrics: bool) -> bytes:
        body = self._renderer.render(snapshot, openmetrics).encode() if snapshot else b""
        if self._own is not None:
            if openmetrics:
                own = generate_openmetrics(self._own)  # type: ignore[no-untyped-call]
                body += own.removesuffix(b"# EOF\n")
            else:
                body += generate_latest(self._own)
        return body + b"# EOF\n" if openmetrics else body

    @staticmethod
    def _encode(body: bytes, openmetrics: bool, gzipped: bool) -> tuple[bytes, str]:
        content_type = OPENMETRICS_TYPE if openmetrics else CONTENT_TYPE_LATEST
        return (gzip.compress(body, compresslevel=_GZIP_LEVEL) if gzipped else body), content_type
