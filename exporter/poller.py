"""The collection loop: read the backend, attribute processes, analyse leaks, publish snapshots.

It runs in one background thread at a fixed rate. Whatever goes wrong inside a cycle (a lost
GPU, a missing driver, a bug in a backend) is counted and shows as `collect_success 0`; the
loop itself never dies, and what earlier cycles learnt (GPU identities, XID counts, error
counts) is kept.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

from agentwatch.exporter.leak import LeakAnalyzer
from agentwatch.exporter.model import (
    Attributor,
    BackendUnavailableError,
    GpuBackend,
    GpuIdentity,
    GpuSample,
    HostSample,
    NvmlErrorRecord,
    ProcessView,
    Snapshot,
    XidCount,
)

log = logging.getLogger(__name__)


class Poller:
    """Turns backend samples into published `Snapshot`s, once per `interval_seconds`."""

    def __init__(
        self,
        backend: GpuBackend,
        attributor: Attributor,
        publish: Callable[[Snapshot], None],
        interval_seconds: float = 1.0,
        analyzer: LeakAnalyzer | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("interval must be positive")
        self._backend = backend
        self._attributor = attributor
        self._publish = publish
        self.interval = interval_seconds
        self._analyzer = analyzer or LeakAnalyzer()
        self._clock = clock
        self._monotonic = monotonic
        self._identities: dict[str, GpuIdentity] = {}  # by uuid, from every GPU ever seen
        self._errors: Counter[tuple[str, str]] = Counter()
        self._xid: dict[tuple[str, str, int], XidCount] = {}
        self._last_success: float | None = None
        self._exhaustion: dict[str, float] = {}
        self._reported_lost: set[str] = set()
        self._was_failing = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> Snapshot:
        """Run one collection cycle, publish its snapshot and return it."""
        started = time.perf_counter()
        sample, failure = self._read()
        for record in sample.errors:
            self._errors[(record.call, record.error)] += 1
        for gpu in sample.gpus:
            if gpu.up:
                self._remember(gpu.identity)
        gpus = self._with_lost_gpus(sample.gpus, failure is not None)
        self._count_xids(sample, gpus)
        processes = self._processes(sample, gpus)
        success = failure is None and sample.complete
        if success:
            self._last_success = sample.timestamp
        self._log_transition(success, failure, sample.errors)
        snapshot = Snapshot(
            timestamp=sample.timestamp,
            simulated=self._backend.simulated,
            gpus=gpus,
            processes=processes,
            exhaustion_seconds=self._exhaustion,
            xid=dict(self._xid),
            nvml_errors=dict(self._errors),
            collect_success=success,
            collect_duration_seconds=time.perf_counter() - started,
            last_success_timestamp=self._last_success,
            errors_this_cycle=sample.errors,
        )
        self._publish(snapshot)
        return snapshot

    def _read(self) -> tuple[HostSample, str | None]:
        try:
            return self._backend.sample(), None
        except BackendUnavailableError as exc:
            failure, errors = str(exc), exc.errors
        except Exception as exc:  # a backend bug must not stop the exporter
            log.exception("GPU backend failed unexpectedly")
            failure = f"{type(exc).__name__}: {exc}"
            errors = (NvmlErrorRecord("sample", "exception"),)
        empty = HostSample(self._clock(), self._monotonic(), (), False, errors)
        return empty, failure

    def _remember(self, identity: GpuIdentity) -> None:
        placeholder = self._identities.get("")
        if identity.uuid and placeholder is not None and placeholder.index == identity.index:
            # Remembered while its uuid could not be read: the same GPU, not a lost one.
            del self._identities[""]
        self._identities[identity.uuid] = identity

    def _with_lost_gpus(self, gpus: tuple[GpuSample, ...], failed: bool) -> tuple[GpuSample, ...]:
        """Add every GPU seen before but missing now, as down: a lost GPU never just vanishes."""
        present = {gpu.identity.uuid for gpu in gpus}
        missing = [
            GpuSample(identity, up=False)
            for uuid, identity in self._identities.items()
            if uuid not in present
        ]
        lost = {g.identity.uuid for g in missing}
        if lost - self._reported_lost and not failed:
            log.warning("GPU(s) %s no longer answer", ", ".join(sorted(lost - self._reported_lost)))
        self._reported_lost = lost
        return gpus + tuple(missing) if missing else gpus

    def _count_xids(self, sample: HostSample, gpus: tuple[GpuSample, ...]) -> None:
        index = {gpu.identity.uuid: gpu.identity.index for gpu in gpus}
        for event in sample.xid_events:
            key = (index.get(event.uuid, ""), event.uuid, event.xid)
            previous = self._xid.get(key)
            count = previous.count + 1 if previous else 1
            self._xid[key] = XidCount(count, event.timestamp)
            log.warning("XID %d on GPU %s", event.xid, event.uuid)

    def _processes(
        self, sample: HostSample, gpus: tuple[GpuSample, ...]
    ) -> tuple[ProcessView, ...]:
        live = [(gpu, proc) for gpu in gpus if gpu.up for proc in gpu.processes]
        verdicts = self._analyzer.update(
            sample.monotonic,
            (
                (gpu.identity.uuid, gpu.memory_used_bytes, gpu.memory_free_bytes)
                for gpu in gpus
                if gpu.up
            ),
            (
                (gpu.identity.uuid, proc.pid, proc.used_bytes)
                for gpu, proc in live
                if proc.used_bytes is not None
            ),
        )
        self._exhaustion = verdicts.exhaustion_seconds
        growth = verdicts.process_growth
        attribute = self._attributor.attribute
        views = tuple(
            ProcessView(
                gpu=gpu.identity,
                pid=proc.pid,
                name=proc.name,
                used_bytes=proc.used_bytes,
                attribution=attribute(proc.pid),
                growth_bytes_per_second=growth.get((gpu.identity.uuid, proc.pid)),
            )
            for gpu, proc in live
        )
        self._attributor.forget({proc.pid for _gpu, proc in live})
        return views

    def _log_transition(
        self, success: bool, failure: str | None, errors: tuple[NvmlErrorRecord, ...]
    ) -> None:
        # Log a failure when it starts and when it ends, not every second while it lasts.
        if not success and not self._was_failing:
            detail = failure or ", ".join(f"{e.call}: {e.error}" for e in errors) or "incomplete"
            log.error("GPU collection failed: %s (will retry every cycle)", detail)
        elif success and self._was_failing:
            log.warning("GPU collection recovered")
        self._was_failing = not success

    def start(self) -> None:
        """Run cycles in a daemon thread until `stop()`."""
        self._thread = threading.Thread(target=self._loop, name="agentwatch-poller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop and wait for the cycle in flight (bounded: NVML may hang)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        next_tick = self._monotonic()
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # publishing or analysis bug: keep the loop alive
                log.exception("collection cycle failed")
            # Fixed rate; a cycle that overran skips the ticks it missed instead of bursting.
            next_tick += self.interval
            now = self._monotonic()
            if next_tick < now:
                next_tick = now + self.interval - (now - next_tick) % self.interval
            self._stop.wait(max(0.0, next_tick - now))
