"""`LocalGpu`: the GPU metrics of the devices this process uses, for the in-process /metrics.

It is the exporter's own machinery, run inside the user's process: a `Poller` reads the backend
(NVML unless another is injected) in one daemon thread every `interval_seconds` (5 s: a modest
cost, and the leak analysis gets the regular samples it needs), and publishes into an
`ExpositionCache`, so a scrape never waits on NVML and a wedged driver shows as
`agentwatch_exporter_collect_success 0` once the snapshot goes stale. Before publishing, each
snapshot is cut down to this process:

- GPUs on which this process (`os.getpid()`, read at each cycle) has held memory since
  `start()`; a GPU it used and that is lost stays, as `agentwatch_gpu_up 0`;
- only this process's own per-process series; XID counts and exhaustion predictions of those
  GPUs only; the exporter's health and NVML error counts as they are.

Nothing touches NVML before `start()`: importing or constructing this costs nothing. Without
NVML (no driver, no library), the Poller's failed cycle is published like any other, so the GPU
part is the exporter's health alone, with `collect_success 0`, and it is tried again each cycle.

Known limits: child processes (a framework's GPU workers) are not followed; in a container
without the host's PID namespace NVML reports host PIDs, which never equal `os.getpid()`, so no
GPU is found; XID events are not watched by default (the node's exporter reports them).
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable

from agentwatch.exporter.exposition import ExpositionCache
from agentwatch.exporter.model import Attributor, GpuBackend, Snapshot
from agentwatch.exporter.poller import Poller

_EOF = b"# EOF\n"


class LocalGpu:
    """This process's GPUs as exporter families, collected in the background."""

    def __init__(
        self,
        backend: GpuBackend | None = None,
        attributor: Attributor | None = None,
        interval_seconds: float = 5.0,
        process_metrics: bool = True,
        pid: Callable[[], int] = os.getpid,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval must be positive")
        self._backend = backend
        self._attributor = attributor
        self.interval = interval_seconds
        self._pid = pid
        # Stale after five missed cycles (at least 10 s), as the exporter judges it.
        self._cache = ExpositionCache(
            stale_after_seconds=max(5 * interval_seconds, 10.0), process_metrics=process_metrics
        )
        self._used: set[str] = set()  # uuids of GPUs this process has held memory on
        self._poller: Poller | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        """Build the backend (NVML unless injected) and collect in a daemon thread."""
        with self._lock:
            if self._poller is not None:
                return
            if self._backend is None:
                from agentwatch.exporter.nvml_backend import NvmlBackend

                self._backend = NvmlBackend(xid_watch=False)
            if self._attributor is None:
                from agentwatch.exporter.attribution import ProcAttributor

                self._attributor = ProcAttributor()
            self._poller = Poller(
                self._backend, self._attributor, self.publish, interval_seconds=self.interval
            )
            self._poller.start()

    def stop(self) -> None:
        """Stop collecting and release the driver; safe to call twice, or before `start()`."""
        with self._lock:
            poller, self._poller = self._poller, None
        if poller is not None:
            poller.stop()
            if self._backend is not None:
                self._backend.close()

    def publish(self, snapshot: Snapshot) -> None:
        """Keep what concerns this process of `snapshot` and make it what scrapes see."""
        self._cache.publish(self.mine(snapshot))

    def mine(self, snapshot: Snapshot) -> Snapshot:
        """`snapshot` cut down to this process's GPUs and its own per-process series."""
        pid = self._pid()
        processes = tuple(p for p in snapshot.processes if p.pid == pid)
        self._used.update(p.gpu.uuid for p in processes)
        used = self._used
        return dataclasses.replace(
            snapshot,
            gpus=tuple(g for g in snapshot.gpus if g.identity.uuid in used),
            processes=processes,
            exhaustion_seconds={
                uuid: s for uuid, s in snapshot.exhaustion_seconds.items() if uuid in used
            },
            xid={key: count for key, count in snapshot.xid.items() if key[1] in used},
        )

    def ready(self) -> bool:
        """True once a first collection (successful or not) was published."""
        return self._cache.ready()

    def text(self, openmetrics: bool) -> bytes:
        """The GPU families (and this process's own metrics) without OpenMetrics' `# EOF`."""
        body, _ = self._cache.exposition(openmetrics=openmetrics, gzipped=False)
        return body.removesuffix(_EOF) if openmetrics else body
