"""Typed samples that flow from a GPU backend through the analysis to the collectors.

Backends (NVML, the simulator, test fakes) produce `HostSample`s; nothing downstream ever sees
an NVML handle. A field a device does not support is `None`, and the collectors leave its
series absent (DESIGN.md: "An unsupported field is absent, never 0").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

THROTTLE_REASONS: tuple[str, ...] = (
    "gpu_idle",
    "applications_clocks_setting",
    "sw_power_cap",
    "hw_slowdown",
    "sync_boost",
    "sw_thermal_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
    "display_clock_setting",
)
"""Clock event ("throttle") reasons in NVML's bit order, as `reason` label values."""

ECC_TYPES: tuple[str, ...] = ("corrected", "uncorrected")


@dataclass(frozen=True)
class GpuIdentity:
    """What identifies a GPU (or a MIG device) and never changes while it is attached."""

    index: str
    """The `gpu` label: NVML's index, or `PARENT/GPU_INSTANCE_ID` for a MIG device."""
    uuid: str
    name: str
    driver_version: str
    pci_bus_id: str
    mig_mode: str
    """`enabled` or `disabled` on a physical GPU, `instance` on a MIG device, `` if unknown."""


@dataclass(frozen=True)
class ProcessSample:
    """One process holding memory on one GPU."""

    pid: int
    name: str
    used_bytes: int | None
    """None when NVML cannot tell (no permission, or not available in this mode)."""


@dataclass(frozen=True)
class GpuSample:
    """One read of one GPU. `None` means "not supported or not readable": the series is absent."""

    identity: GpuIdentity
    up: bool = True
    memory_used_bytes: int | None = None
    memory_free_bytes: int | None = None
    memory_total_bytes: int | None = None
    memory_reserved_bytes: int | None = None
    utilization_ratio: float | None = None
    memory_bandwidth_utilization_ratio: float | None = None
    temperature_celsius: float | None = None
    power_watts: float | None = None
    power_limit_watts: float | None = None
    energy_joules: float | None = None
    throttle_reasons: Mapping[str, bool] | None = None
    ecc_errors: Mapping[str, int] | None = None
    processes: tuple[ProcessSample, ...] = ()


@dataclass(frozen=True)
class NvmlErrorRecord:
    """A failed NVML call, as the `call` and `error` labels of the error counter."""

    call: str
    error: str


@dataclass(frozen=True)
class XidEvent:
    """One XID error event reported by the driver."""

    uuid: str
    xid: int
    timestamp: float
    """Unix time at which the exporter received the event."""


@dataclass(frozen=True)
class HostSample:
    """Everything one collection read from the backend."""

    timestamp: float
    """Unix time of the read."""
    monotonic: float
    """Monotonic clock of the read, for rates and slopes."""
    gpus: tuple[GpuSample, ...]
    complete: bool = True
    """False when a lifecycle error (GPU lost, driver gone) cut the read short."""
    errors: tuple[NvmlErrorRecord, ...] = ()
    xid_events: tuple[XidEvent, ...] = ()


class BackendUnavailableError(Exception):
    """The backend cannot read any GPU now (driver not loaded, library missing or mismatched).

    The collection is marked failed, the GPUs seen before are marked down, and the backend is
    asked again on the next cycle.
    """

    def __init__(self, message: str, errors: tuple[NvmlErrorRecord, ...] = ()) -> None:
        super().__init__(message)
        self.errors = errors


class GpuBackend(Protocol):
    """A source of `HostSample`s: NVML, the simulator, or a test fake."""

    @property
    def simulated(self) -> bool:
        """True when the data is not read from real hardware."""
        ...

    def sample(self) -> HostSample:
        """Read every GPU once. Initialises lazily; raises `BackendUnavailableError`."""
        ...

    def close(self) -> None:
        """Release the driver and stop background threads; safe to call twice."""
        ...


@dataclass(frozen=True)
class Attribution:
    """Where a process runs: container and Kubernetes pod, empty strings when not known."""

    container: str = ""
    pod: str = ""
    namespace: str = ""


NO_ATTRIBUTION = Attribution()


class Attributor(Protocol):
    """Maps a host PID to its container and pod."""

    def attribute(self, pid: int) -> Attribution:
        """Return the attribution of `pid`; never raises."""
        ...

    def forget(self, live_pids: set[int]) -> None:
        """Drop cached entries of processes that are no longer alive."""
        ...


@dataclass(frozen=True)
class ProcessView:
    """A process as exposed: its sample, where it runs, and how its VRAM floor grows."""

    gpu: GpuIdentity
    pid: int
    name: str
    used_bytes: int | None
    attribution: Attribution = NO_ATTRIBUTION
    growth_bytes_per_second: float | None = None
    """Robust floor slope while the process grows like a leak, 0 when it does not, None
    while there is not yet enough history to judge."""


@dataclass(frozen=True)
class XidCount:
    """Running count and last-seen time of one XID code on one GPU."""

    count: int
    last_timestamp: float


@dataclass(frozen=True)
class Snapshot:
    """The latest state of the host, as every collector and scrape sees it."""

    timestamp: float
    simulated: bool
    gpus: tuple[GpuSample, ...]
    processes: tuple[ProcessView, ...]
    exhaustion_seconds: Mapping[str, float]
    """Predicted seconds to a full GPU, by GPU uuid; GPUs that are not growing are absent."""
    xid: Mapping[tuple[str, str, int], XidCount]
    """Keyed by (gpu index, uuid, xid code)."""
    nvml_errors: Mapping[tuple[str, str], int]
    """Keyed by (call, error)."""
    collect_success: bool
    collect_duration_seconds: float
    last_success_timestamp: float | None
    stale: bool = False
    errors_this_cycle: tuple[NvmlErrorRecord, ...] = field(default=())
