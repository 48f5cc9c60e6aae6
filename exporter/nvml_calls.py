"""The one wrapper every NVML call goes through: an `NVMLError` becomes a record and a `None`.

It receives the `pynvml` module from `nvml_backend` (the one module that imports it). A lifecycle
error on a device raises `DeviceLost`, which the backend turns into a down GPU and a re-init.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agentwatch.exporter.model import GpuIdentity, NvmlErrorRecord
from agentwatch.exporter.nvml_errors import (
    CACHED,
    GPU_HANDLE_CALL,
    NOT_SUPPORTED,
    error_label,
    is_lifecycle,
)

MEM_V2 = "nvmlDeviceGetMemoryInfo_v2"
"""The call label of `nvmlDeviceGetMemoryInfo(handle, version=nvmlMemory_v2)`."""

_FALLBACK_ON_NOT_SUPPORTED = frozenset({MEM_V2})
"""Memory info v1 may answer where v2 is not supported, and memory is too central to lose."""


class DeviceLost(Exception):
    """A lifecycle error on a device: stop reading it and re-initialise NVML."""


@dataclass(eq=False)
class Device:
    """A physical GPU or MIG device as bound during one NVML init."""

    index: str
    handle: Any = None
    parent: Device | None = None
    identity: GpuIdentity | None = None
    partial: bool = True
    """Some identity call failed with an error that may clear: read it again next cycle."""
    skip: dict[str, int] = field(default_factory=dict)
    """Calls answered with a cached code (not supported, ...) during this init: not made again."""
    lost: bool = False
    migs: list[Device] = field(default_factory=list)
    migs_bound: bool = False


class NvmlCaller:
    """Makes the NVML calls of one backend and collects the errors of the current cycle."""

    def __init__(self, nvml: Any) -> None:
        self.nv = nvml
        self.error_type: Any = nvml.NVMLError
        """`pynvml.NVMLError`: every NVML failure is one of its subclasses."""
        self.errors: list[NvmlErrorRecord] = []
        self.system_lost = False
        """A system call (driver version, process name) met a lifecycle error this cycle."""
        self._system_skip: dict[str, int] = {}

    def begin_cycle(self) -> None:
        """Forget the previous cycle's errors."""
        self.errors = []
        self.system_lost = False

    def forget_skips(self) -> None:
        """Ask again what was not supported: called after every NVML init."""
        self._system_skip = {}

    def skipped(self, dev: Device | None, call: str) -> bool:
        """Tell whether `call` is not made again before the next init."""
        return call in (self._system_skip if dev is None else dev.skip)

    def record(self, call: str, exc: Any) -> NvmlErrorRecord:
        """Record an error caught outside `call` (init, shutdown) and return the record."""
        record = NvmlErrorRecord(call, error_label(int(exc.value)))
        self.errors.append(record)
        return record

    def call(self, dev: Device | None, call: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Return `fn(*args)`, or None after recording its `NVMLError` (see `fail`)."""
        if self.skipped(dev, call):
            return None
        try:
            return fn(*args)
        except self.error_type as exc:
            self.fail(dev, call, int(exc.value))
            return None

    def fail(self, dev: Device | None, call: str, code: int) -> None:
        """Record a failed call; raise `DeviceLost` if it is a lifecycle error on a device."""
        self.errors.append(NvmlErrorRecord(call, error_label(code)))
        if code in CACHED and call != GPU_HANDLE_CALL:  # no handle is a loss, never a skip
            (self._system_skip if dev is None else dev.skip)[call] = code
        if is_lifecycle(call, code):
            if dev is not None:
                raise DeviceLost(call)
            self.system_lost = True  # no device to mark down: the backend re-inits

    def either(
        self,
        dev: Device,
        new: str,
        new_fn: Callable[..., Any] | None,
        old: str,
        old_fn: Callable[..., Any],
        *args: Any,
    ) -> Any:
        """Call the newer API; fall back to the older one where this driver lacks the newer."""
        if new_fn is not None:
            code = dev.skip.get(new)
            if code is None:
                value = self.call(dev, new, new_fn, *args)
                code = dev.skip.get(new)
                if code is None:  # an answer, or an error that may clear by the next cycle
                    return value
            # The device lacks the feature, not the driver the API: the older API lacks it too.
            if code == NOT_SUPPORTED and new not in _FALLBACK_ON_NOT_SUPPORTED:
                return None
        return self.call(dev, old, old_fn, *args)
