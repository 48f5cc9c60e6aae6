"""This process's GPU memory as the driver counts it: NVML's per-process used memory.

`NvmlProcessMemory.used(pid)` sums `usedGpuMemory` of the entries for `pid` in
`nvmlDeviceGetComputeRunningProcesses` (the `_v3` call, else `_v2`, else the plain one) over every
GPU. `pynvml` is imported, and NVML initialised, on the first call only, so importing or building
this costs nothing; without the library or the driver the first call fails quietly and every
call answers None from then on (the figure is absent, never 0 by mistake). Any failure in a read
answers None for that read, not a partial sum: a GPU missing from one of the two readings of an
inference would look like memory freed or leaked.

Known limits: MIG devices are not read (NVML lists their processes on the MIG handles only);
in a container without the host's PID namespace NVML reports host PIDs, so this process is never
found and its figure reads 0; `nvmlShutdown` is called by `close()` only (NVML counts its inits,
so the exporter's own init and shutdown in the same process are unaffected).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger("agentwatch.instrumentation")

_PROCESS_CALLS = (
    "nvmlDeviceGetComputeRunningProcesses_v3",
    "nvmlDeviceGetComputeRunningProcesses_v2",
    "nvmlDeviceGetComputeRunningProcesses",
)
_FUNCTION_NOT_FOUND = 13
"""`NVML_ERROR_FUNCTION_NOT_FOUND`: the driver is older than the call; try the older one."""
_NOT_AVAILABLE = 2**64 - 1
"""`NVML_VALUE_NOT_AVAILABLE` as an unsigned long long (pynvml maps it to None, mostly)."""


class NvmlProcessMemory:
    """Per-process GPU memory through NVML; `used(pid)` never raises."""

    def __init__(self, nvml: Any | None = None) -> None:
        self._module: Any = nvml
        self._handles: list[Any] | None = None
        self._calls: list[str] = []
        self._failed = False
        self._initialised = False
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        """False once NVML could not start: `used()` then answers None without trying."""
        return not self._failed

    def used(self, pid: int) -> int | None:
        """Bytes `pid` holds on all GPUs; None when NVML cannot tell."""
        if self._failed:
            return None
        with self._lock:  # pynvml handles are shared; one reader at a time
            handles = self._handles if self._handles is not None else self._start()
            if handles is None:
                return None
            nv = self._module
            total = 0
            try:
                for handle in handles:
                    for info in self._processes(nv, handle):
                        if int(info.pid) != pid:
                            continue
                        used = info.usedGpuMemory
                        if used is None or used == _NOT_AVAILABLE:
                            return None  # not reported (no permission, WDDM): unknown, not 0
                        total += int(used)
            except Exception as exc:  # NVMLError and anything odd in its answer
                log.debug("NVML process memory unreadable this time: %s", exc)
                return None
            return total

    def _processes(self, nv: Any, handle: Any) -> Any:
        while self._calls:
            try:
                return getattr(nv, self._calls[0])(handle)
            except nv.NVMLError as exc:
                if getattr(exc, "value", None) != _FUNCTION_NOT_FOUND or len(self._calls) == 1:
                    raise
                self._calls.pop(0)  # an older driver: the older call from now on
        return ()

    def _start(self) -> list[Any] | None:
        try:
            if self._module is None:
                import pynvml  # the first read only: a process without a GPU never loads it

                self._module = pynvml
            nv = self._module
            nv.nvmlInit()
            self._initialised = True
            count = int(nv.nvmlDeviceGetCount())
            handles = [nv.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._calls = [name for name in _PROCESS_CALLS if hasattr(nv, name)]
        except Exception as exc:  # no library, no driver, no device: the figure is absent
            log.debug("NVML unavailable, GPU memory per inference has no nvml figure: %s", exc)
            self._failed = True
            return None
        self._handles = handles
        return handles

    def close(self) -> None:
        """Shut NVML down if this started it; the next `used()` starts it again."""
        with self._lock:
            if self._initialised:
                self._initialised = False
                try:
                    self._module.nvmlShutdown()
                except Exception as exc:
                    log.debug("nvmlShutdown failed: %s", exc)
            self._handles = None
            self._failed = False
