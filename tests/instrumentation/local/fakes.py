"""Stand-ins for the driver and for torch's CUDA statistics, and a scripted probe.

`FakeNvml` has the `pynvml` calls `NvmlProcessMemory` makes, with `pynvml`'s shapes: process
entries with `pid` and `usedGpuMemory` (None when the driver does not report it) and an
`NVMLError` carrying `value`. `FakeTorch` is `sys.modules["torch"]` as far as the probe reads it.
`ScriptedProbe` answers the readings a test sets, so a leak or a cache is exactly what it says.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

MB = 1024 * 1024


class NVMLError(Exception):
    """`pynvml.NVMLError`: `value` is the NVML return code."""

    def __init__(self, value: int) -> None:
        super().__init__(f"NVML error {value}")
        self.value = value


@dataclass
class ProcessInfo:
    pid: int
    usedGpuMemory: int | None  # noqa: N815 - pynvml's name


@dataclass
class FakeNvml:
    """A host of GPUs, each listing processes; counts the calls made."""

    processes: list[list[ProcessInfo]] = field(default_factory=list)
    init_error: int | None = None
    list_error: int | None = None
    has_v3: bool = True
    v3_missing_in_driver: bool = False
    calls: list[str] = field(default_factory=list)
    NVMLError: type[NVMLError] = NVMLError

    def nvmlInit(self) -> None:  # noqa: N802 - pynvml's names
        self.calls.append("nvmlInit")
        if self.init_error is not None:
            raise NVMLError(self.init_error)

    def nvmlShutdown(self) -> None:  # noqa: N802
        self.calls.append("nvmlShutdown")

    def nvmlDeviceGetCount(self) -> int:  # noqa: N802
        return len(self.processes)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:  # noqa: N802
        return index

    def __getattr__(self, name: str) -> Callable[[int], list[ProcessInfo]]:
        # The process calls: _v3 only where the fake's pynvml has it.
        if name == "nvmlDeviceGetComputeRunningProcesses_v3" and not self.has_v3:
            raise AttributeError(name)
        if name.startswith("nvmlDeviceGetComputeRunningProcesses"):

            def listing(handle: int) -> list[ProcessInfo]:
                self.calls.append(name)
                if name.endswith("_v3") and self.v3_missing_in_driver:
                    raise NVMLError(13)  # NVML_ERROR_FUNCTION_NOT_FOUND
                if self.list_error is not None:
                    raise NVMLError(self.list_error)
                return self.processes[handle]

            return listing
        raise AttributeError(name)


class FakeCuda:
    """`torch.cuda` as the probe reads it: per-device allocator statistics."""

    def __init__(self, initialized: bool, devices: list[tuple[int, int]]) -> None:
        self.initialized = initialized
        self.devices = devices  # (allocated, reserved) per device
        self.stats_calls = 0

    def is_initialized(self) -> bool:
        return self.initialized

    def device_count(self) -> int:
        return len(self.devices)

    def memory_stats(self, device: int) -> dict[str, int]:
        self.stats_calls += 1
        allocated, reserved = self.devices[device]
        return {"allocated_bytes.all.current": allocated, "reserved_bytes.all.current": reserved}


class FakeTorch:
    def __init__(self, cuda: FakeCuda) -> None:
        self.cuda = cuda


class ScriptedProbe:
    """Readings in which each call moves the figures by `per_call`: a leak or a cache, by
    construction. Reads alternate: a call's "before" gives the current figures, its "after" the
    figures moved by `per_call`, which the next call starts from."""

    def __init__(self, start: dict[str, int], per_call: dict[str, int]) -> None:
        self.now = dict(start)
        self.per_call = per_call
        self.reads: list[bool] = []

    def read(self, nvml: bool) -> dict[str, int]:
        if len(self.reads) % 2:  # an "after": the call's effect happened
            for key, step in self.per_call.items():
                self.now[key] += step
        self.reads.append(nvml)
        return {k: v for k, v in self.now.items() if nvml or k != "nvml"}


START = {"nvml": 2000 * MB, "torch_allocated": 500 * MB, "torch_reserved": 1000 * MB}


def leak(per_call: int = 300 * MB) -> ScriptedProbe:
    """Live tensors kept: allocated, reserved and the driver's figure all grow each call."""
    return ScriptedProbe(
        START, {"nvml": per_call, "torch_allocated": per_call, "torch_reserved": per_call}
    )


def cache(per_call: int = 64 * MB) -> ScriptedProbe:
    """The caching allocator keeping blocks: reserved (and the driver) grow, allocated flat."""
    return ScriptedProbe(
        START, {"nvml": per_call, "torch_allocated": 0, "torch_reserved": per_call}
    )
