"""Memory and activity models of simulated GPU processes.

Each workload is a pure function of simulated time (seconds since the scenario started), so a
scenario replays identically for a seed whatever the sampling times. `memory(t)` is the
process's VRAM in bytes, or None while the process is not running; `activity(t)` is the share
of the GPU it keeps busy (0-1).
"""

from __future__ import annotations

import random

MIB = 1024 * 1024
GIB = 1024 * MIB


def _jitter(key: int, step: int) -> float:
    """A cheap deterministic pseudo-random number in [0, 1) for (key, step)."""
    x = (step * 2654435761 + key * 40503 + 0x9E3779B9) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x45D9F3B) & 0xFFFFFFFF
    x ^= x >> 16
    return x / 2**32


class Workload:
    """Base class: a process that starts at `start` and keeps `base` bytes."""

    def __init__(self, name: str, base: int, start: float = 0.0, activity: float = 0.3) -> None:
        self.name = name
        self.base = base
        self.start = start
        self._activity = activity
        self.key = random.Random(name).getrandbits(24)

    def memory(self, t: float) -> int | None:
        """VRAM held at simulated time `t`, None when not running."""
        return self.base if t >= self.start else None

    def activity(self, t: float) -> float:
        """Share of the GPU's time this process keeps a kernel running."""
        if self.memory(t) is None:
            return 0.0
        return self._activity * (0.8 + 0.4 * _jitter(self.key, int(t)))


class Steady(Workload):
    """An inference server with a flat floor and small per-request activation spikes."""

    def __init__(
        self,
        name: str,
        base: int,
        spike: int = 64 * MIB,
        start: float = 0.0,
        activity: float = 0.3,
    ) -> None:
        super().__init__(name, base, start, activity)
        self.spike = spike

    def memory(self, t: float) -> int | None:
        if t < self.start:
            return None
        return self.base + int(self.spike * _jitter(self.key, int(t * 2)))


class Preallocated(Steady):
    """A server (vLLM, TensorRT-LLM) that grabs a fixed share of VRAM at start and stays flat."""

    def __init__(
        self,
        name: str,
        total: int,
        fraction: float,
        ramp: float = 3.0,
        start: float = 0.0,
        activity: float = 0.3,
    ) -> None:
        super().__init__(name, int(total * fraction), 0, start, activity)
        self.ramp = ramp

    def memory(self, t: float) -> int | None:
        if t < self.start:
            return None
        progress = min(1.0, (t - self.start) / self.ramp) if self.ramp > 0 else 1.0
        return int(self.base * (0.1 + 0.9 * progress))


class AllocatorWarmup(Steady):
    """A caching allocator (PyTorch) that grows to its high-water mark, then plateaus.

    Each second a request of random size arrives; the allocator keeps the largest block it has
    ever needed, so the floor grows in steps that get rarer and smaller, and after `warmup`
    seconds every shape (the longest prompt, the biggest batch) has been seen and growth stops.
    """

    def __init__(
        self,
        name: str,
        base: int,
        extra: int,
        warmup: float = 300.0,
        seed: int = 0,
        start: float = 0.0,
        activity: float = 0.3,
    ) -> None:
        super().__init__(name, base, 32 * MIB, start, activity)
        rng = random.Random(f"{seed}:{name}")
        self.warmup = warmup
        high = 0.0
        # Large shapes are rare: u**10 makes the expected high-water mark n/(n+10).
        self._marks: list[float] = []
        for _ in range(int(warmup) + 1):
            high = max(high, rng.random() ** 10)
            self._marks.append(high)
        self.extra = extra

    def memory(self, t: float) -> int | None:
        steady = super().memory(t)
        if steady is None:
            return None
        # No request after the warm-up needs a larger block than one seen during it.
        mark = self._marks[int(min(t - self.start, self.warmup))]
        block = 20 * MIB  # the allocator reserves whole segments
        return steady + int(self.extra * mark) // block * block


class Sawtooth(Workload):
    """Large batches around a flat floor: memory ramps up during a batch and is freed after it."""

    def __init__(
        self,
        name: str,
        base: int,
        amplitude: int,
        period: tuple[float, float] = (20.0, 45.0),
        seed: int = 0,
        start: float = 0.0,
        activity: float = 0.3,
    ) -> None:
        super().__init__(name, base, start, activity)
        self.amplitude = amplitude
        self._period = period
        self._seed = seed
        self._cycles: list[tuple[float, float, float, float]] = []  # start, length, ramp, height
        self._rng = random.Random(f"{seed}:{name}")

    def _cycle(self, t: float) -> tuple[float, float, float, float]:
        if not self._cycles:
            self._cycles.append((self.start, *self._draw()))
        while self._cycles[-1][0] + self._cycles[-1][1] <= t:
            last = self._cycles[-1]
            self._cycles.append((last[0] + last[1], *self._draw()))
        lo, hi = 0, len(self._cycles) - 1
        while lo < hi:  # the cycle holding t
            mid = (lo + hi + 1) // 2
            if self._cycles[mid][0] <= t:
                lo = mid
            else:
                hi = mid - 1
        return self._cycles[lo]

    def _draw(self) -> tuple[float, float, float]:
        length = self._rng.uniform(*self._period)
        return length, length * self._rng.uniform(0.6, 0.8), self._rng.uniform(0.8, 1.0)

    def memory(self, t: float) -> int | None:
        if t < self.start:
            return None
        start, _length, ramp, height = self._cycle(t)
        into = t - start
        if into >= ramp:
            return self.base
        return self.base + int(self.amplitude * height * into / ramp)

    def activity(self, t: float) -> float:
        if t < self.start:
            return 0.0
        start, _length, ramp, _height = self._cycle(t)
        return 0.95 if t - start < ramp else 0.05


class Leak(Steady):
    """A server that leaks `leak` bytes per inference, OOMs when the GPU is full, and restarts.

    Inferences run every `period` seconds from `leak_start` seconds into each life on; when the
    leaked memory exceeds `headroom` the process dies, is gone for `restart_delay` seconds, and
    comes back at `base`.
    """

    def __init__(
        self,
        name: str,
        base: int,
        leak: int,
        period: float,
        headroom: int,
        leak_start: float = 60.0,
        restart_delay: float = 10.0,
        start: float = 0.0,
        activity: float = 0.4,
    ) -> None:
        super().__init__(name, base, 64 * MIB, start, activity)
        self.leak, self.period, self.headroom = leak, period, headroom
        self.leak_start, self.restart_delay = leak_start, restart_delay
        # Seconds from the start of a life until it is killed: the quiet start, then the leak.
        self._life = leak_start + (headroom // leak) * period

    def memory(self, t: float) -> int | None:
        if t < self.start:
            return None
        age = (t - self.start) % (self._life + self.restart_delay)
        if age >= self._life:
            return None
        leaked = 0
        if age >= self.leak_start:
            leaked = self.leak * (int((age - self.leak_start) / self.period) + 1)
        return self.base + leaked + int(self.spike * _jitter(self.key, int(t * 2)))
