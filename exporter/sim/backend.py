"""The simulated GPU backend: NVML-shaped samples from a scenario, deterministic for a seed."""

from __future__ import annotations

import logging
import random
import time
import uuid as uuidlib
from collections.abc import Callable

from agentwatch.exporter.model import (
    THROTTLE_REASONS,
    Attribution,
    GpuIdentity,
    GpuSample,
    HostSample,
    NvmlErrorRecord,
    ProcessSample,
    XidEvent,
)
from agentwatch.exporter.sim.scenarios import RESERVED, SCENARIOS, Scenario, SimGpu

log = logging.getLogger(__name__)

_UNCORRECTABLE_XIDS = frozenset({48, 94, 95})


def load_scenario(name: str, seed: int) -> Scenario:
    """Build a scenario by name; raises ValueError naming the known ones."""
    try:
        builder = SCENARIOS[name]
    except KeyError:
        known = ", ".join(sorted(SCENARIOS))
        raise ValueError(f"unknown simulation scenario {name!r} (known: {known})") from None
    return builder(seed)


class SimBackend:
    """Serves a `Scenario` as if NVML read it; simulated time runs `speed` times faster."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int = 0,
        speed: float = 1.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError("simulation speed must be positive")
        self.scenario = scenario
        self.speed = speed
        self._clock = clock
        self._monotonic = monotonic
        self._t0 = monotonic()
        self._last_t: float | None = None
        self._last_wall: float | None = None
        rng = random.Random(f"{seed}:{scenario.name}")
        self._identities = [
            GpuIdentity(
                index=str(i),
                uuid=f"GPU-{uuidlib.UUID(int=rng.getrandbits(128), version=4)}",
                name=gpu.name,
                driver_version="simulated",
                pci_bus_id=f"00000000:{i + 1:02X}:00.0",
                mig_mode="disabled",
            )
            for i, gpu in enumerate(scenario.gpus)
        ]
        self._energy = [0.0] * len(scenario.gpus)
        self._uncorrected = [0] * len(scenario.gpus)
        self._attribution = {p.pid: p.attribution for gpu in scenario.gpus for p in gpu.processes}
        log.warning(
            "GPU backend is SIMULATED: scenario %r (%s), seed %d, speed x%g; "
            'every series carries simulated="true" on agentwatch_gpu_info',
            scenario.name,
            scenario.description,
            seed,
            speed,
        )

    @property
    def simulated(self) -> bool:
        """Always True: nothing here comes from hardware."""
        return True

    def sim_time(self) -> float:
        """Seconds of simulated time since the scenario started."""
        return (self._monotonic() - self._t0) * self.speed

    def attribution(self, pid: int) -> Attribution:
        """The container and pod the scenario gives a simulated process."""
        return self._attribution.get(pid, Attribution())

    def sample(self) -> HostSample:
        """Read the simulated host at the current simulated time."""
        mono = self._monotonic()
        wall = self._clock()
        t = (mono - self._t0) * self.speed
        prev = self._last_t
        wall_dt = 0.0 if self._last_wall is None else max(0.0, mono - self._last_wall)
        self._last_t, self._last_wall = t, mono
        gpus: list[GpuSample] = []
        errors: list[NvmlErrorRecord] = []
        events: list[XidEvent] = []
        complete = True
        for i, gpu in enumerate(self.scenario.gpus):
            identity = self._identities[i]
            for code in _events_between(gpu, prev, t):
                events.append(XidEvent(identity.uuid, code, wall))
                if code in _UNCORRECTABLE_XIDS:
                    self._uncorrected[i] += 1
            if gpu.lost_at is not None and t >= gpu.lost_at:
                gpus.append(GpuSample(identity, up=False))
                errors.append(NvmlErrorRecord("nvmlDeviceGetMemoryInfo", "gpu_is_lost"))
                complete = False
                continue
            gpus.append(self._read(i, gpu, identity, t, wall_dt))
        return HostSample(wall, mono, tuple(gpus), complete, tuple(errors), tuple(events))

    def _read(
        self, i: int, gpu: SimGpu, identity: GpuIdentity, t: float, wall_dt: float
    ) -> GpuSample:
        processes = []
        used = 0
        busy = 0.0
        for proc in gpu.processes:
            memory = proc.workload.memory(t)
            if memory is None:
                continue
            processes.append(ProcessSample(proc.pid, proc.workload.name, memory))
            used += memory
            busy += proc.workload.activity(t)
        capacity = gpu.total - RESERVED
        used = min(used, capacity)
        util = min(1.0, busy)
        power = gpu.power_limit * (0.1 + 0.85 * util)
        temperature = 32.0 + 50.0 * util
        self._energy[i] += power * wall_dt
        throttle = {
            "gpu_idle": util < 0.05,
            "sw_power_cap": power >= 0.9 * gpu.power_limit,
            "sw_thermal_slowdown": temperature >= 78.0,
        }
        return GpuSample(
            identity,
            memory_used_bytes=used,
            memory_free_bytes=capacity - used,
            memory_total_bytes=gpu.total,
            memory_reserved_bytes=RESERVED,
            utilization_ratio=round(util, 2),
            memory_bandwidth_utilization_ratio=round(0.6 * util, 2),
            temperature_celsius=round(temperature),
            power_watts=round(power, 3),
            power_limit_watts=gpu.power_limit,
            energy_joules=round(self._energy[i], 3),
            throttle_reasons={reason: throttle.get(reason, False) for reason in THROTTLE_REASONS},
            ecc_errors={"corrected": int(t / 1800), "uncorrected": self._uncorrected[i]}
            if gpu.ecc
            else None,
            processes=tuple(processes),
        )

    def close(self) -> None:
        """Nothing to release."""


def _events_between(gpu: SimGpu, prev: float | None, now: float) -> list[int]:
    """XID codes whose simulated time falls in (prev, now]."""
    if not gpu.xid_events or prev is None:
        return []
    codes = []
    for at, code in gpu.xid_events:
        if gpu.xid_repeat > 0:
            # The occurrence of a repeating event at or before `now`.
            n = int((now - at) // gpu.xid_repeat)
            at += max(n, 0) * gpu.xid_repeat
        if prev < at <= now:
            codes.append(code)
    return codes


class SimAttributor:
    """`Attributor` for simulated processes, which have no /proc entry."""

    def __init__(self, backend: SimBackend) -> None:
        self._backend = backend

    def attribute(self, pid: int) -> Attribution:
        """The scenario's attribution of `pid`."""
        return self._backend.attribution(pid)

    def forget(self, live_pids: set[int]) -> None:
        """Nothing is cached."""
