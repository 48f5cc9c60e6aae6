"""The NVML backend: every GPU, MIG device and GPU process, read through `pynvml`.

This is the only module of agentwatch that imports `pynvml`, and it does so lazily, on the first
`sample()`; the helper modules receive the module object. Every NVML call goes through
`NvmlCaller.call`, which turns an `NVMLError` into an `NvmlErrorRecord` and a `None` field, so a
failing call costs one field, never the read:

- a per-field error (not_supported, no_permission, timeout, ...) leaves that field `None`;
  not_supported and function_not_found are remembered per device until the next re-init, so a
  consumer GPU is asked (and counts an error) once, not every cycle;
- a lifecycle error on a device (gpu_is_lost, reset_required, driver_not_loaded, ...; unknown on a
  handle fetch) marks that device down, keeps its last known identity and the other devices'
  data, and schedules `nvmlShutdown` + `nvmlInit` for the next cycle, backed off while the GPU
  stays lost (an `nvmlInit` on a large host is not cheap);
- `nvmlInit` or `nvmlDeviceGetCount` failing raises `BackendUnavailableError`; the next
  `sample()` tries again.

Handles, identities and the MIG layout are read once per NVML init. A MIG-enabled GPU reports its
own fields and no processes; each of its MIG devices (index `PARENT/GPU_INSTANCE_ID`) reports its
memory and the processes NVML lists on the MIG device handle. NVML gives per-instance process data
only there: on the parent handle it returns an aggregate, and only to privileged callers.

Not thread-safe: call `sample()` and `close()` from one thread (the XID watcher is separate).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentwatch.exporter.model import (
    BackendUnavailableError,
    GpuIdentity,
    GpuSample,
    HostSample,
    XidEvent,
)
from agentwatch.exporter.nvml_calls import Device, DeviceLost, NvmlCaller
from agentwatch.exporter.nvml_errors import NOT_FOUND
from agentwatch.exporter.nvml_fields import FieldReader
from agentwatch.exporter.nvml_xid import XidWatcher

log = logging.getLogger(__name__)

_BACKOFF_MIN_S, _BACKOFF_MAX_S = 1.0, 60.0
"""Delay between re-inits while a GPU stays lost (the first re-init is on the next cycle)."""
_MIG_HANDLE = "nvmlDeviceGetMigDeviceHandleByIndex"


class NvmlBackend:
    """Read every GPU through NVML; errors become records and `None` fields, never a crash."""

    def __init__(
        self,
        nvml: Any | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        xid_watch: bool = True,
        proc_root: str | os.PathLike[str] = "/proc",
    ) -> None:
        self._module: Any = nvml
        self._clock = clock
        self._monotonic = monotonic
        self._xid_watch = xid_watch
        self._proc = Path(proc_root)
        self._nvml: NvmlCaller | None = None
        self._fields: FieldReader | None = None
        self._initialized = False
        self._devices: list[Device] = []
        self._vanished: tuple[GpuSample, ...] = ()
        self._driver: str | None = None
        self._known: dict[str, GpuIdentity] = {}
        """Last identity read per index, across re-inits: what a lost GPU is reported as."""
        self._watcher: XidWatcher | None = None
        self._pending_xids: list[XidEvent] = []
        self._reinit_due: float | None = None
        self._backoff = 0.0
        self._now = 0.0
        self._cut = False

    @property
    def simulated(self) -> bool:
        """Always False: the data comes from the driver."""
        return False

    def sample(self) -> HostSample:
        """Read every GPU once; raises `BackendUnavailableError` when NVML cannot start."""
        nvml, fields = self._resolve()
        self._now, wall = self._monotonic(), self._clock()
        nvml.begin_cycle()
        self._cut = False
        if self._watcher is not None and self._watcher.lost:
            self._schedule_reinit()
        if self._reinit_due is not None and self._now >= self._reinit_due:
            log.info("re-initialising NVML after a lifecycle error")
            self._shutdown(nvml)
            self._backoff = min(max(_BACKOFF_MIN_S, 2 * self._backoff), _BACKOFF_MAX_S)
        if not self._initialized:
            self._init(nvml)
        if self._driver is None:
            get_driver = nvml.nv.nvmlSystemGetDriverVersion
            self._driver = nvml.call(None, "nvmlSystemGetDriverVersion", get_driver)
            if self._driver is None and nvml.skipped(None, "nvmlSystemGetDriverVersion"):
                self._driver = ""  # it will not answer before a re-init: stop asking
        gpus: list[GpuSample] = []
        for dev in self._devices:
            gpus.extend(self._read(nvml, fields, dev))
        gpus.extend(self._vanished)
        fields.end_cycle()
        if nvml.system_lost:
            self._cut = True
            self._schedule_reinit()
        if self._reinit_due is None:
            self._backoff = 0.0
        self._start_watcher(nvml)
        xids = self._take_xids(nvml)  # first: it moves the watcher's errors into nvml.errors
        return HostSample(
            timestamp=wall,
            monotonic=self._now,
            gpus=tuple(gpus),
            complete=not self._cut,
            errors=tuple(nvml.errors),
            xid_events=xids,
        )

    def close(self) -> None:
        """Stop the XID watcher and shut NVML down; safe to call twice."""
        if self._nvml is not None:
            self._nvml.begin_cycle()
            self._shutdown(self._nvml)
            for record in self._nvml.errors:
                log.debug("NVML error while closing: %s %s", record.call, record.error)

    # --- lifecycle ---------------------------------------------------------------------------

    def _resolve(self) -> tuple[NvmlCaller, FieldReader]:
        if self._nvml is None or self._fields is None:
            if self._module is None:
                try:
                    import pynvml
                except ImportError as exc:
                    raise BackendUnavailableError(f"the pynvml module is missing: {exc}") from None
                self._module = pynvml
            self._nvml = NvmlCaller(self._module)
            self._fields = FieldReader(self._nvml, self._proc)
        return self._nvml, self._fields

    def _init(self, nvml: NvmlCaller) -> None:
        try:
            nvml.nv.nvmlInit()
        except nvml.error_type as exc:
            record = nvml.record("nvmlInit", exc)
            raise BackendUnavailableError(
                f"NVML did not initialise: {exc} ({record.error})", errors=tuple(nvml.errors)
            ) from None
        self._initialized = True
        nvml.forget_skips()
        self._driver = None
        count = nvml.call(None, "nvmlDeviceGetCount", nvml.nv.nvmlDeviceGetCount)
        if count is None:
            self._reinit_due = self._now  # start over on the next call, as after a failed init
            raise BackendUnavailableError("NVML could not count the GPUs", tuple(nvml.errors))
        self._devices = [Device(str(i)) for i in range(count)]
        # A GPU that fell off the bus may be missing from the count after a re-init: keep it
        # visible as down rather than let its series vanish.
        self._vanished = tuple(
            GpuSample(identity, up=False)
            for index, identity in self._known.items()
            if "/" not in index and int(index) >= count
        )

    def _shutdown(self, nvml: NvmlCaller) -> None:
        if self._watcher is not None:
            if not self._watcher.stop():
                log.warning("the XID watcher is still waiting inside NVML; shutting down anyway")
            events, errors = self._watcher.drain()
            self._pending_xids.extend(events)
            nvml.errors.extend(errors)
            self._watcher = None
        if self._initialized:
            self._initialized = False
            try:
                nvml.nv.nvmlShutdown()
            except nvml.error_type as exc:
                nvml.record("nvmlShutdown", exc)
        self._devices = []
        self._reinit_due = None

    def _schedule_reinit(self) -> None:
        if self._reinit_due is None:
            self._reinit_due = self._now + self._backoff

    def _start_watcher(self, nvml: NvmlCaller) -> None:
        if not self._xid_watch or self._watcher is not None or not self._initialized:
            return
        handles = [d.handle for d in self._devices if d.handle is not None and not d.lost]
        if handles:
            self._watcher = XidWatcher(nvml.nv, handles, self._clock)
            self._watcher.start()

    def _take_xids(self, nvml: NvmlCaller) -> tuple[XidEvent, ...]:
        if self._watcher is not None:
            events, errors = self._watcher.drain()
            self._pending_xids.extend(events)
            nvml.errors.extend(errors)
        xids, self._pending_xids = tuple(self._pending_xids), []
        return xids

    # --- devices -----------------------------------------------------------------------------

    def _read(self, nvml: NvmlCaller, fields: FieldReader, dev: Device) -> list[GpuSample]:
        """Read a physical GPU and its MIG devices; all of them are down if one is lost."""
        if dev.lost:
            self._cut = True
            return self._down(dev)
        try:
            if dev.handle is None:
                get_handle = nvml.nv.nvmlDeviceGetHandleByIndex
                dev.handle = nvml.call(
                    dev, "nvmlDeviceGetHandleByIndex", get_handle, int(dev.index)
                )
                if dev.handle is None:
                    self._cut = True
                    return self._down(dev)
            if dev.partial:
                self._identify(nvml, dev)
            if not dev.migs_bound and self._identity(dev).mig_mode == "enabled":
                self._bind_migs(nvml, dev)
            samples = [fields.physical(dev, self._identity(dev))]
            for mig in dev.migs:
                if mig.partial:
                    self._identify(nvml, mig)
                samples.append(fields.mig(mig, self._identity(mig)))
            return samples
        except DeviceLost as lost:
            log.warning("GPU %s is gone (%s failed); NVML will be re-initialised", dev.index, lost)
            dev.lost = True
            self._cut = True
            self._schedule_reinit()
            return self._down(dev)

    def _down(self, dev: Device) -> list[GpuSample]:
        samples = [GpuSample(self._identity(dev), up=False)]
        samples.extend(GpuSample(self._identity(mig), up=False) for mig in dev.migs)
        return samples

    def _identity(self, dev: Device) -> GpuIdentity:
        if dev.identity is not None:
            return dev.identity
        known = self._known.get(dev.index)
        if known is not None:
            return known
        return GpuIdentity(dev.index, "", "", self._driver or "", "", "")

    def _identify(self, nvml: NvmlCaller, dev: Device) -> None:
        """Read the identity, keeping the last known value of each field that fails."""
        nv, h, old = nvml.nv, dev.handle, self._identity(dev)
        dev.partial = self._driver is None
        uuid = self._got(dev, "nvmlDeviceGetUUID", nvml, nv.nvmlDeviceGetUUID, old.uuid)
        name = self._got(dev, "nvmlDeviceGetName", nvml, nv.nvmlDeviceGetName, old.name)
        if dev.parent is not None:
            pci_bus_id, mig_mode = self._identity(dev.parent).pci_bus_id, "instance"
        else:
            pci = nvml.call(dev, "nvmlDeviceGetPciInfo", nv.nvmlDeviceGetPciInfo, h)
            pci_bus_id = self._kept(dev, "nvmlDeviceGetPciInfo", pci and pci.busId, old.pci_bus_id)
            mode = nvml.call(dev, "nvmlDeviceGetMigMode", nv.nvmlDeviceGetMigMode, h)
            if mode is not None:
                mode = "enabled" if mode[0] == nv.NVML_DEVICE_MIG_ENABLE else "disabled"
            elif "nvmlDeviceGetMigMode" in dev.skip:
                mode = ""  # not supported is an answer: this GPU has no MIG
            mig_mode = self._kept(dev, "nvmlDeviceGetMigMode", mode, old.mig_mode)
        driver = self._driver if self._driver is not None else old.driver_version
        dev.identity = GpuIdentity(dev.index, uuid, name, driver, pci_bus_id, mig_mode)
        self._known[dev.index] = dev.identity

    def _got(
        self, dev: Device, call: str, nvml: NvmlCaller, fn: Callable[..., Any], old: str
    ) -> str:
        return self._kept(dev, call, nvml.call(dev, call, fn, dev.handle), old)

    @staticmethod
    def _kept(dev: Device, call: str, value: Any, old: str) -> str:
        if value is None:
            dev.partial = dev.partial or call not in dev.skip
            return old
        return str(value)

    def _bind_migs(self, nvml: NvmlCaller, dev: Device) -> None:
        nv, h = nvml.nv, dev.handle
        dev.migs = []
        count = nvml.call(
            dev, "nvmlDeviceGetMaxMigDeviceCount", nv.nvmlDeviceGetMaxMigDeviceCount, h
        )
        dev.migs_bound = count is not None
        for slot in range(count or 0):
            if _MIG_HANDLE in dev.skip:
                break
            try:
                mig_handle = nv.nvmlDeviceGetMigDeviceHandleByIndex(h, slot)
            except nvml.error_type as exc:
                code = int(exc.value)
                if code != NOT_FOUND:  # NOT_FOUND is an empty slot, not an error
                    nvml.fail(dev, _MIG_HANDLE, code)
                    dev.migs_bound = False
                continue
            mig = Device("", handle=mig_handle, parent=dev)
            get_gi = nv.nvmlDeviceGetGpuInstanceId
            gi = nvml.call(mig, "nvmlDeviceGetGpuInstanceId", get_gi, mig_handle)
            if gi is None:
                dev.migs_bound = False
                continue
            mig.index = f"{dev.index}/{gi}"
            self._identify(nvml, mig)
            dev.migs.append(mig)
