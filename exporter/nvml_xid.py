"""A daemon thread that waits for NVML XID events and buffers them for the next sample.

It receives the `pynvml` module from `nvml_backend` (the one module that imports it) and never
raises: NVML errors are buffered as `NvmlErrorRecord`s, and a lifecycle error sets `lost`, which
sends the backend down its re-init path.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from agentwatch.exporter.model import NvmlErrorRecord, XidEvent
from agentwatch.exporter.nvml_errors import CACHED, TIMEOUT, error_label, is_lifecycle

log = logging.getLogger(__name__)

WAIT_MS = 500
"""How long one `nvmlEventSetWait_v2` blocks: also the longest `stop()` waits for the thread."""

_ERROR_PAUSE_S = 1.0
"""Pause after an unexpected wait error, so a persistent one cannot spin the thread."""


class XidWatcher:
    """Waits for XID critical-error events on a set of device handles in a daemon thread."""

    def __init__(self, nvml: Any, handles: Sequence[Any], clock: Callable[[], float]) -> None:
        self._nv = nvml
        self._handles = tuple(handles)
        self._clock = clock
        self._lock = threading.Lock()
        self._events: list[XidEvent] = []
        self._errors: list[NvmlErrorRecord] = []
        self._stop = threading.Event()
        self._lost = False
        self._thread = threading.Thread(target=self._run, name="agentwatch-nvml-xid", daemon=True)

    @property
    def lost(self) -> bool:
        """True once a lifecycle error (GPU lost, driver gone) ended the watch."""
        return self._lost

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self, timeout: float = 2 * WAIT_MS / 1000) -> bool:
        """Ask the thread to end and wait for it; False if it is still stuck inside NVML."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def drain(self) -> tuple[tuple[XidEvent, ...], tuple[NvmlErrorRecord, ...]]:
        """Take the events and errors buffered since the last call."""
        with self._lock:
            events, errors = tuple(self._events), tuple(self._errors)
            self._events.clear()
            self._errors.clear()
        return events, errors

    def _record(self, call: str, exc: Any) -> None:
        code = int(exc.value)
        with self._lock:
            self._errors.append(NvmlErrorRecord(call, error_label(code)))
        if is_lifecycle(call, code):
            self._lost = True
            self._stop.set()

    def _run(self) -> None:
        try:
            self._watch()
        except Exception:  # a bug here must not kill the exporter, nor go unnoticed
            log.exception("XID watcher stopped by an unexpected error")

    def _watch(self) -> None:
        nv = self._nv
        try:
            event_set = nv.nvmlEventSetCreate()
        except nv.NVMLError as exc:
            self._record("nvmlEventSetCreate", exc)
            return
        try:
            if self._register(event_set):
                self._loop(event_set)
        finally:
            try:
                nv.nvmlEventSetFree(event_set)
            except nv.NVMLError as exc:
                self._record("nvmlEventSetFree", exc)

    def _register(self, event_set: Any) -> bool:
        nv = self._nv
        registered = 0
        for handle in self._handles:
            try:
                nv.nvmlDeviceRegisterEvents(handle, nv.nvmlEventTypeXidCriticalError, event_set)
                registered += 1
            except nv.NVMLError as exc:
                # NOT_SUPPORTED devices are skipped; the record is made once per watcher, i.e.
                # once per NVML init, because registration happens only here.
                self._record("nvmlDeviceRegisterEvents", exc)
                if self._lost:
                    return False
        return registered > 0

    def _loop(self, event_set: Any) -> None:
        nv = self._nv
        xid_type = nv.nvmlEventTypeXidCriticalError
        while not self._stop.is_set():
            try:
                data = nv.nvmlEventSetWait_v2(event_set, WAIT_MS)
            except nv.NVMLError as exc:
                code = int(exc.value)
                if code == TIMEOUT:
                    continue
                self._record("nvmlEventSetWait_v2", exc)
                if code in CACHED:
                    return  # this driver cannot wait for events: say so once, not every second
                self._stop.wait(_ERROR_PAUSE_S)
                continue
            if int(data.eventType) & xid_type:
                self._deliver(data)

    def _deliver(self, data: Any) -> None:
        nv = self._nv
        try:
            uuid = str(nv.nvmlDeviceGetUUID(data.device))
        except nv.NVMLError as exc:
            # Keep the event: an XID must not vanish because its GPU's uuid did not read.
            self._record("nvmlDeviceGetUUID", exc)
            uuid = ""
        event = XidEvent(uuid=uuid, xid=int(data.eventData), timestamp=self._clock())
        with self._lock:
            self._events.append(event)
