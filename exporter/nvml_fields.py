"""The per-cycle reads of one bound device: memory, utilisation, power, ECC, processes.

Units are converted here (percent to ratio, mW to W, mJ to J); a field whose call failed stays
`None`. Process names are looked up once per process lifetime, not every cycle.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from agentwatch.exporter.model import THROTTLE_REASONS, GpuIdentity, GpuSample, ProcessSample
from agentwatch.exporter.nvml_calls import MEM_V2, Device, NvmlCaller

_REASON_BITS: tuple[tuple[str, int], ...] = tuple(
    (reason, 1 << bit) for bit, reason in enumerate(THROTTLE_REASONS)
)
_NOT_AVAILABLE = 2**64 - 1
"""NVML_VALUE_NOT_AVAILABLE as an unsigned long long (pynvml already maps it to None)."""
_REASONS_NEW = "nvmlDeviceGetCurrentClocksEventReasons"
_REASONS_OLD = "nvmlDeviceGetCurrentClocksThrottleReasons"
_PROCESS_CALLS = (
    ("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"),
    ("nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v2"),
)

_Memory = tuple[int | None, int | None, int | None, int | None]


class FieldReader:
    """Reads the fields of bound devices through an `NvmlCaller`."""

    def __init__(self, caller: NvmlCaller, proc_root: Path) -> None:
        nv = caller.nv
        self._caller = caller
        self._nv = nv
        self._proc = proc_root
        # Looked up once: older pynvml releases lack the newer functions.
        version = getattr(nv, "nvmlMemory_v2", None)
        self._mem_v2 = (
            None
            if version is None
            else functools.partial(nv.nvmlDeviceGetMemoryInfo, version=version)
        )
        self._reasons_new = getattr(nv, _REASONS_NEW, None)
        self._process_calls = tuple(
            (new, getattr(nv, new, None), old, getattr(nv, old)) for new, old in _PROCESS_CALLS
        )
        self._ecc_kinds = (
            ("corrected", nv.NVML_MEMORY_ERROR_TYPE_CORRECTED),
            ("uncorrected", nv.NVML_MEMORY_ERROR_TYPE_UNCORRECTED),
        )
        self._names: dict[int, str] = {}
        self._seen_names: dict[int, str] = {}

    def end_cycle(self) -> None:
        """Forget the names of processes not seen this cycle."""
        self._names, self._seen_names = self._seen_names, {}

    def physical(self, dev: Device, identity: GpuIdentity) -> GpuSample:
        """Read every field of a physical GPU."""
        nv, h, call = self._nv, dev.handle, self._caller.call
        util = call(dev, "nvmlDeviceGetUtilizationRates", nv.nvmlDeviceGetUtilizationRates, h)
        temp = call(
            dev, "nvmlDeviceGetTemperature", nv.nvmlDeviceGetTemperature, h, nv.NVML_TEMPERATURE_GPU
        )
        power = call(dev, "nvmlDeviceGetPowerUsage", nv.nvmlDeviceGetPowerUsage, h)
        limit = call(dev, "nvmlDeviceGetEnforcedPowerLimit", nv.nvmlDeviceGetEnforcedPowerLimit, h)
        energy = call(
            dev, "nvmlDeviceGetTotalEnergyConsumption", nv.nvmlDeviceGetTotalEnergyConsumption, h
        )
        mask = self._caller.either(
            dev,
            _REASONS_NEW,
            self._reasons_new,
            _REASONS_OLD,
            nv.nvmlDeviceGetCurrentClocksThrottleReasons,
            h,
        )
        used, free, total, reserved = self._memory(dev)
        return GpuSample(
            identity=identity,
            memory_used_bytes=used,
            memory_free_bytes=free,
            memory_total_bytes=total,
            memory_reserved_bytes=reserved,
            utilization_ratio=None if util is None else util.gpu / 100,
            memory_bandwidth_utilization_ratio=None if util is None else util.memory / 100,
            temperature_celsius=None if temp is None else float(temp),
            power_watts=None if power is None else power / 1000,
            power_limit_watts=None if limit is None else limit / 1000,
            energy_joules=None if energy is None else energy / 1000,
            throttle_reasons=None if mask is None else {r: bool(mask & b) for r, b in _REASON_BITS},
            ecc_errors=self._ecc(dev),
            # A MIG-enabled GPU lists its processes per MIG device (see nvml_backend).
            processes=() if identity.mig_mode == "enabled" else self._processes(dev),
        )

    def mig(self, dev: Device, identity: GpuIdentity) -> GpuSample:
        """Read a MIG device: memory and processes; NVML has no per-instance power or heat."""
        used, free, total, reserved = self._memory(dev)
        return GpuSample(
            identity=identity,
            memory_used_bytes=used,
            memory_free_bytes=free,
            memory_total_bytes=total,
            memory_reserved_bytes=reserved,
            processes=self._processes(dev),
        )

    def _memory(self, dev: Device) -> _Memory:
        get = self._nv.nvmlDeviceGetMemoryInfo
        mem = self._caller.either(
            dev, MEM_V2, self._mem_v2, "nvmlDeviceGetMemoryInfo", get, dev.handle
        )
        if mem is None:
            return None, None, None, None
        reserved = getattr(mem, "reserved", None)  # only memory info v2 has it
        return (
            int(mem.used),
            int(mem.free),
            int(mem.total),
            None if reserved is None else int(reserved),
        )

    def _ecc(self, dev: Device) -> dict[str, int] | None:
        nv, h, label = self._nv, dev.handle, "nvmlDeviceGetTotalEccErrors"
        fn, volatile = nv.nvmlDeviceGetTotalEccErrors, nv.NVML_VOLATILE_ECC
        ecc: dict[str, int] = {}
        for name, kind in self._ecc_kinds:
            count = self._caller.call(dev, label, fn, h, kind, volatile)
            if count is not None:
                ecc[name] = int(count)
        return ecc or None  # NOT_SUPPORTED when ECC is off or absent: the series is absent

    def _processes(self, dev: Device) -> tuple[ProcessSample, ...]:
        """Merge the compute and graphics lists: one entry per pid, the larger memory wins."""
        used_by_pid: dict[int, int | None] = {}
        for new, new_fn, old, old_fn in self._process_calls:
            for info in self._caller.either(dev, new, new_fn, old, old_fn, dev.handle) or ():
                pid, used = int(info.pid), info.usedGpuMemory
                if used is not None:
                    used = None if used == _NOT_AVAILABLE else int(used)
                if pid in used_by_pid:
                    prev = used_by_pid[pid]
                    if used is None or (prev is not None and prev >= used):
                        continue
                used_by_pid[pid] = used
        return tuple(ProcessSample(pid, self._name(pid), used) for pid, used in used_by_pid.items())

    def _name(self, pid: int) -> str:
        """Name a process once while it lives (a failed lookup is not retried every cycle)."""
        name = self._seen_names.get(pid)
        if name is None:
            name = self._names.get(pid)
            if name is None:
                raw = self._caller.call(
                    None, "nvmlSystemGetProcessName", self._nv.nvmlSystemGetProcessName, pid
                )
                name = os.path.basename(str(raw)) if raw else self._comm(pid)
            self._seen_names[pid] = name
        return name

    def _comm(self, pid: int) -> str:
        try:
            return (self._proc / str(pid) / "comm").read_text(errors="replace").strip()
        except OSError:
            return ""
