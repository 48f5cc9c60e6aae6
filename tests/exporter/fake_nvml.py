"""A fake `pynvml` module: configurable GPUs and MIG devices, and an error at any call site.

Errors are the real `pynvml.NVMLError` subclasses (`pynvml.NVMLError(code)` picks the class),
and every constant is the real one, so the backend cannot tell the fake from the module except
by the devices it reports. A call named in `inject` raises until its `times` run out; `calls`
counts every call by its label (`nvmlDeviceGetMemoryInfo_v2` for the versioned memory call).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pynvml

GIB = 1024**3
MIB = 1024**2


@dataclass
class FakeProcess:
    """A process as NVML lists it; `used=None` is NVML_VALUE_NOT_AVAILABLE."""

    pid: int
    used: int | None


@dataclass
class FakeMig:
    """A MIG device in one slot of its parent."""

    gpu_instance_id: int
    uuid: str
    name: str = "NVIDIA A100-SXM4-40GB MIG 3g.20gb"
    memory_total: int = 20 * GIB
    memory_used: int = 2 * GIB
    memory_reserved: int = 64 * MIB
    compute: list[FakeProcess] = field(default_factory=list)


@dataclass
class FakeGpu:
    """A physical GPU; `None` in an optional field makes its call raise NOT_SUPPORTED."""

    uuid: str
    name: str = "NVIDIA H100 80GB HBM3"
    pci_bus_id: str = "00000000:01:00.0"
    memory_total: int = 80 * GIB
    memory_used: int = 10 * GIB
    memory_reserved: int = 512 * MIB
    util_gpu: int = 50
    util_memory: int = 25
    temperature: int = 61
    power_mw: int = 250_500
    power_limit_mw: int = 700_000
    energy_mj: int = 123_456_789
    throttle: int = 0
    ecc_corrected: int | None = 0
    ecc_uncorrected: int | None = 0
    mig_mode: int | None = pynvml.NVML_DEVICE_MIG_DISABLE
    mig_slots: list[FakeMig | None] = field(default_factory=list)
    compute: list[FakeProcess] = field(default_factory=list)
    graphics: list[FakeProcess] = field(default_factory=list)


@dataclass(frozen=True)
class FakeHandle:
    """A device handle: `"0"` for GPU 0, `"0/3"` for its MIG device of GPU instance 3."""

    key: str


@dataclass
class FakeEventSet:
    """An event set; `freed` once `nvmlEventSetFree` was called on it."""

    registered: list[FakeHandle] = field(default_factory=list)
    freed: bool = False


@dataclass
class _Injection:
    call: str
    code: int
    device: str | None
    times: int | None


class FakeNvml:
    """Stands in for the `pynvml` module (pass it as `NvmlBackend(nvml=...)`)."""

    NVMLError = pynvml.NVMLError

    def __init__(
        self,
        gpus: list[FakeGpu],
        process_names: dict[int, str] | None = None,
        driver_version: str = "550.54.15",
    ) -> None:
        self.gpus = gpus
        self.process_names = dict(process_names or {})
        self.driver_version = driver_version
        self.calls: Counter[str] = Counter()
        self.initialized = False
        self.event_sets: list[FakeEventSet] = []
        self._injections: list[_Injection] = []
        self._lock = threading.Lock()
        self._xid_ready = threading.Condition()
        self._xids: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        value = getattr(pynvml, name)
        if isinstance(value, int):  # NVML_* and nvml* constants, never functions
            return value
        raise AttributeError(f"the fake NVML does not implement {name}")

    # --- test controls -----------------------------------------------------------------------

    def inject(
        self, call: str, error_code: int, device: int | str | None = None, times: int | None = None
    ) -> None:
        """Make `call` raise `error_code` (on `device` only, `times` times; `*` = any call)."""
        key = None if device is None else str(device)
        with self._lock:
            self._injections.append(_Injection(call, error_code, key, times))

    def clear(self) -> None:
        """Remove every injected error."""
        with self._lock:
            self._injections.clear()

    def queue_xid(self, device: int, xid: int) -> None:
        """Queue an XID critical-error event on GPU `device`."""
        with self._xid_ready:
            self._xids.append((str(device), xid))
            self._xid_ready.notify_all()

    # --- plumbing ----------------------------------------------------------------------------

    def _enter(self, call: str, handle: FakeHandle | None = None) -> None:
        key = None if handle is None else handle.key
        with self._lock:
            self.calls[call] += 1
            if call != "nvmlInit" and not self.initialized:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_UNINITIALIZED)
            for inj in self._injections:
                if inj.call not in (call, "*") or inj.times == 0:
                    continue
                if inj.device is not None and inj.device != key:
                    continue
                if inj.times is not None:
                    inj.times -= 1
                raise pynvml.NVMLError(inj.code)

    def _gpu(self, handle: FakeHandle) -> FakeGpu:
        return self.gpus[int(handle.key.split("/")[0])]

    def _mig(self, handle: FakeHandle) -> FakeMig | None:
        if "/" not in handle.key:
            return None
        gi = int(handle.key.split("/")[1])
        return next(m for m in self._gpu(handle).mig_slots if m and m.gpu_instance_id == gi)

    @staticmethod
    def _unsupported() -> pynvml.NVMLError:
        return pynvml.NVMLError(pynvml.NVML_ERROR_NOT_SUPPORTED)

    def _mig_enabled(self, handle: FakeHandle) -> bool:
        return "/" in handle.key or self._gpu(handle).mig_mode == pynvml.NVML_DEVICE_MIG_ENABLE

    # --- library and system ------------------------------------------------------------------

    def nvmlInit(self) -> None:
        self._enter("nvmlInit")
        self.initialized = True

    def nvmlShutdown(self) -> None:
        self._enter("nvmlShutdown")
        self.initialized = False

    def nvmlSystemGetDriverVersion(self) -> str:
        self._enter("nvmlSystemGetDriverVersion")
        return self.driver_version

    def nvmlSystemGetProcessName(self, pid: int) -> str:
        self._enter("nvmlSystemGetProcessName")
        if pid not in self.process_names:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return self.process_names[pid]

    def nvmlDeviceGetCount(self) -> int:
        self._enter("nvmlDeviceGetCount")
        return len(self.gpus)

    # --- identity ----------------------------------------------------------------------------

    def nvmlDeviceGetHandleByIndex(self, index: int) -> FakeHandle:
        self._enter("nvmlDeviceGetHandleByIndex", FakeHandle(str(index)))
        if not 0 <= index < len(self.gpus):
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return FakeHandle(str(index))

    def nvmlDeviceGetUUID(self, handle: FakeHandle) -> str:
        self._enter("nvmlDeviceGetUUID", handle)
        mig = self._mig(handle)
        return mig.uuid if mig else self._gpu(handle).uuid

    def nvmlDeviceGetName(self, handle: FakeHandle) -> str:
        self._enter("nvmlDeviceGetName", handle)
        mig = self._mig(handle)
        return mig.name if mig else self._gpu(handle).name

    def nvmlDeviceGetPciInfo(self, handle: FakeHandle) -> SimpleNamespace:
        self._enter("nvmlDeviceGetPciInfo", handle)
        return SimpleNamespace(busId=self._gpu(handle).pci_bus_id)

    def nvmlDeviceGetMigMode(self, handle: FakeHandle) -> list[int]:
        self._enter("nvmlDeviceGetMigMode", handle)
        mode = self._gpu(handle).mig_mode
        if mode is None or "/" in handle.key:
            raise self._unsupported()
        return [mode, mode]

    # --- MIG ---------------------------------------------------------------------------------

    def nvmlDeviceGetMaxMigDeviceCount(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetMaxMigDeviceCount", handle)
        return len(self._gpu(handle).mig_slots)

    def nvmlDeviceGetMigDeviceHandleByIndex(self, handle: FakeHandle, index: int) -> FakeHandle:
        self._enter("nvmlDeviceGetMigDeviceHandleByIndex", handle)
        slots = self._gpu(handle).mig_slots
        mig = slots[index] if 0 <= index < len(slots) else None
        if mig is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_NOT_FOUND)
        return FakeHandle(f"{handle.key}/{mig.gpu_instance_id}")

    def nvmlDeviceGetGpuInstanceId(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetGpuInstanceId", handle)
        mig = self._mig(handle)
        if mig is None:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return mig.gpu_instance_id

    # --- fields ------------------------------------------------------------------------------

    def nvmlDeviceGetMemoryInfo(self, handle: FakeHandle, version: int | None = None) -> Any:
        self._enter("nvmlDeviceGetMemoryInfo_v2" if version else "nvmlDeviceGetMemoryInfo", handle)
        if version and version != pynvml.nvmlMemory_v2:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
        dev: FakeGpu | FakeMig = self._mig(handle) or self._gpu(handle)
        free = dev.memory_total - dev.memory_used - dev.memory_reserved
        if version:  # v2 reports reserved memory apart from used
            return SimpleNamespace(
                total=dev.memory_total,
                reserved=dev.memory_reserved,
                free=free,
                used=dev.memory_used,
            )
        return SimpleNamespace(
            total=dev.memory_total, free=free, used=dev.memory_used + dev.memory_reserved
        )

    def nvmlDeviceGetUtilizationRates(self, handle: FakeHandle) -> SimpleNamespace:
        self._enter("nvmlDeviceGetUtilizationRates", handle)
        if self._mig_enabled(handle):
            raise self._unsupported()
        gpu = self._gpu(handle)
        return SimpleNamespace(gpu=gpu.util_gpu, memory=gpu.util_memory)

    def nvmlDeviceGetTemperature(self, handle: FakeHandle, sensor: int) -> int:
        self._enter("nvmlDeviceGetTemperature", handle)
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        return self._gpu(handle).temperature

    def nvmlDeviceGetPowerUsage(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetPowerUsage", handle)
        return self._gpu(handle).power_mw

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetEnforcedPowerLimit", handle)
        return self._gpu(handle).power_limit_mw

    def nvmlDeviceGetTotalEnergyConsumption(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetTotalEnergyConsumption", handle)
        return self._gpu(handle).energy_mj

    def nvmlDeviceGetCurrentClocksEventReasons(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetCurrentClocksEventReasons", handle)
        return self._gpu(handle).throttle

    def nvmlDeviceGetCurrentClocksThrottleReasons(self, handle: FakeHandle) -> int:
        self._enter("nvmlDeviceGetCurrentClocksThrottleReasons", handle)
        return self._gpu(handle).throttle

    def nvmlDeviceGetTotalEccErrors(self, handle: FakeHandle, error_type: int, counter: int) -> int:
        self._enter("nvmlDeviceGetTotalEccErrors", handle)
        gpu = self._gpu(handle)
        count = (
            gpu.ecc_corrected
            if error_type == pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED
            else gpu.ecc_uncorrected
        )
        if count is None or counter != pynvml.NVML_VOLATILE_ECC:
            raise self._unsupported()
        return count

    def _processes(self, call: str, handle: FakeHandle, graphics: bool) -> list[SimpleNamespace]:
        self._enter(call, handle)
        mig = self._mig(handle)
        if mig is not None:
            if graphics:  # no graphics contexts on MIG devices
                raise self._unsupported()
            listed, gi = mig.compute, mig.gpu_instance_id
        else:
            gpu = self._gpu(handle)
            listed, gi = (gpu.graphics if graphics else gpu.compute), 0xFFFFFFFF
        return [
            SimpleNamespace(pid=p.pid, usedGpuMemory=p.used, gpuInstanceId=gi, computeInstanceId=0)
            for p in listed
        ]

    def nvmlDeviceGetComputeRunningProcesses_v3(self, handle: FakeHandle) -> list[SimpleNamespace]:
        return self._processes("nvmlDeviceGetComputeRunningProcesses_v3", handle, False)

    def nvmlDeviceGetComputeRunningProcesses_v2(self, handle: FakeHandle) -> list[SimpleNamespace]:
        return self._processes("nvmlDeviceGetComputeRunningProcesses_v2", handle, False)

    def nvmlDeviceGetGraphicsRunningProcesses_v3(self, handle: FakeHandle) -> list[SimpleNamespace]:
        return self._processes("nvmlDeviceGetGraphicsRunningProcesses_v3", handle, True)

    def nvmlDeviceGetGraphicsRunningProcesses_v2(self, handle: FakeHandle) -> list[SimpleNamespace]:
        return self._processes("nvmlDeviceGetGraphicsRunningProcesses_v2", handle, True)

    # --- events ------------------------------------------------------------------------------

    def nvmlEventSetCreate(self) -> FakeEventSet:
        self._enter("nvmlEventSetCreate")
        event_set = FakeEventSet()
        self.event_sets.append(event_set)
        return event_set

    def nvmlDeviceRegisterEvents(
        self, handle: FakeHandle, event_types: int, event_set: FakeEventSet
    ) -> None:
        self._enter("nvmlDeviceRegisterEvents", handle)
        if event_types != pynvml.nvmlEventTypeXidCriticalError:
            raise pynvml.NVMLError(pynvml.NVML_ERROR_INVALID_ARGUMENT)
        event_set.registered.append(handle)

    def nvmlEventSetWait_v2(self, event_set: FakeEventSet, timeout_ms: int) -> SimpleNamespace:
        self._enter("nvmlEventSetWait_v2")
        with self._xid_ready:
            if not self._xids:
                # Shorter than the real wait, so that stopping the watcher is quick in tests.
                self._xid_ready.wait(min(timeout_ms, 20) / 1000)
            if not self._xids:
                raise pynvml.NVMLError(pynvml.NVML_ERROR_TIMEOUT)
            key, xid = self._xids.pop(0)
        return SimpleNamespace(
            device=FakeHandle(key),
            eventType=pynvml.nvmlEventTypeXidCriticalError,
            eventData=xid,
            gpuInstanceId=0xFFFFFFFF,
            computeInstanceId=0xFFFFFFFF,
        )

    def nvmlEventSetFree(self, event_set: FakeEventSet) -> None:
        self._enter("nvmlEventSetFree")
        event_set.freed = True
