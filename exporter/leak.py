"""Leak analysis: tell a VRAM leak from pre-allocation, allocator warm-up and batch spikes.

A leak is memory whose *floor* keeps rising at a steady pace. The floor of a window segment is
its minimum, so the batch spikes of a sawtooth, which always come back down, do not move it. A
window is split into equal segments, and the floor grows like a leak when

- it rises by a real step (`min_step_bytes`) from every segment to the next: a pre-allocation
  is one step, an allocator's warm-up a few that get rarer, a leak one per inference;
- no single step holds most of the rise (`max_step_share`): a big jump is an allocator seeing a
  new largest shape, not a leak;
- the second half of the window rises about as much as the first (`evenness`): a cache warming
  up decelerates, a leak does not.

The analysis looks at a ladder of trailing windows, from `fast_window_seconds` up to
`window_seconds`. The longest window flags any steady growth above a small rate, on any GPU
size. A shorter window sees too little to tell a leak from a ramp, so it flags growth only as an
emergency: when the GPU would be full before the next longer window could confirm the leak, and
the floor has clearly left the range the process kept before (a sawtooth's next ramp does not).
A process's first `grace_seconds` get no verdict: model loading, compilation and pre-allocation
happen then, and there is no history to judge by.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True)
class LeakSettings:
    """Tunables of the leak analysis; the defaults tell all the built-in scenarios apart."""

    window_seconds: float = 240.0
    fast_window_seconds: float = 10.0
    scale_factor: float = 3.0
    segments: int = 8
    """Segments of the longest window: more segments ask a leak for more separate steps."""
    emergency_segments: int = 5
    """Segments of the shorter windows, which judge only fast growth."""
    grace_seconds: float = 60.0
    min_step_bytes: float = 8 * MIB
    """A floor rise between two segments below this is noise (CUDA context, fragmentation)."""
    min_step_share: float = 0.25
    """Every segment-to-segment rise must be at least this share of the average rise."""
    max_step_share: float = 0.5
    """No single segment-to-segment rise may hold more than this share of the window's rise."""
    evenness: float = 0.5
    """The second half of the window must rise at least this fraction of the first half."""
    envelope_margin: float = 0.5
    """An emergency needs the floor this share of the earlier range above the earlier peak."""
    min_rate_bytes_per_second: float = 64 * 1024

    def __post_init__(self) -> None:
        if not 0 < self.fast_window_seconds <= self.window_seconds:
            raise ValueError("need 0 < fast_window_seconds <= window_seconds")
        if self.scale_factor <= 1:
            raise ValueError("scale_factor must be greater than 1")
        if min(self.segments, self.emergency_segments) < 3:
            raise ValueError("segments must be at least 3")
        if self.grace_seconds < 0 or not 0 < self.evenness <= 1:
            raise ValueError("grace_seconds must be >= 0 and evenness in (0, 1]")

    def windows(self) -> tuple[float, ...]:
        """The ladder of window lengths, shortest first, ending at `window_seconds`."""
        ladder: list[float] = []
        w = self.fast_window_seconds
        while w < self.window_seconds * (1 - 1e-9):
            ladder.append(w)
            w *= self.scale_factor
        ladder.append(self.window_seconds)
        return tuple(ladder)


class FloorSeries:
    """Samples of one memory series (a process, or a whole GPU) and their leak verdict."""

    __slots__ = ("_t", "_v", "_start", "first_seen")

    def __init__(self, first_seen: float) -> None:
        self._t: list[float] = []
        self._v: list[float] = []
        self._start = 0  # samples before this index are expired; compacted in batches
        self.first_seen = first_seen

    def add(self, t: float, value: float, keep_seconds: float) -> None:
        """Append a sample and expire those older than `keep_seconds`."""
        self._t.append(t)
        self._v.append(value)
        self._start = bisect_left(self._t, t - keep_seconds, self._start)
        if self._start > 256 and self._start * 2 > len(self._t):
            del self._t[: self._start]
            del self._v[: self._start]
            self._start = 0

    def growth(self, now: float, free_bytes: float | None, settings: LeakSettings) -> float | None:
        """Floor slope in bytes/s if the series grows like a leak, 0.0 if not, None if too young."""
        if now - self.first_seen < settings.grace_seconds:
            return None
        windows = settings.windows()
        rate = 0.0
        slack = 0.5 * self._spacing()  # a process seen since `now - window` covers the window
        for i, window in enumerate(windows):
            longest = i == len(windows) - 1
            # A short window judges only what came after the start-up; the longest may reach
            # into it (a load step there fails the step-share test anyway).
            since = self.first_seen + (0.0 if longest else settings.grace_seconds)
            if since > now - window + slack:
                continue
            segments = settings.segments if longest else settings.emergency_segments
            steady = self._steady_slope(now, window, segments, settings)
            if steady is None:
                continue
            slope, floor = steady
            if longest:
                if slope >= settings.min_rate_bytes_per_second:
                    rate = slope
            elif free_bytes is not None and free_bytes <= slope * windows[i + 1]:
                # The GPU would be full before the next window could confirm the leak.
                if self._left_envelope(now, window, floor, settings.envelope_margin):
                    rate = slope
        return rate

    def _spacing(self) -> float:
        n = len(self._t) - self._start
        return (self._t[-1] - self._t[self._start]) / (n - 1) if n > 1 else 0.0

    def _steady_slope(
        self, now: float, window: float, segments: int, settings: LeakSettings
    ) -> tuple[float, float] | None:
        """(slope, latest floor) if the floor rose steadily across the window, else None."""
        t, v = self._t, self._v
        seg = window / segments
        lo = bisect_left(t, now - window, self._start)
        floors: list[tuple[float, float]] = []
        for j in range(segments):
            hi = len(t) if j == segments - 1 else bisect_left(t, now - window + (j + 1) * seg, lo)
            if hi <= lo:
                return None
            m = min(v[lo:hi])
            # A floor that does not rise by a real step fails whatever follows: stop early.
            if floors and m - floors[-1][1] < settings.min_step_bytes:
                return None
            floors.append((t[v.index(m, lo, hi)], m))
            lo = hi
        rises = [b[1] - a[1] for a, b in zip(floors, floors[1:], strict=False)]
        total = floors[-1][1] - floors[0][1]
        smallest = max(settings.min_step_bytes, settings.min_step_share * total / len(rises))
        if min(rises) < smallest or max(rises) > settings.max_step_share * total:
            return None
        half = len(rises) // 2
        if sum(rises[-half:]) < settings.evenness * sum(rises[:half]):
            return None  # decelerating: a cache warming up
        # Skip the first floor: the leak may have started inside the first segment.
        dt = floors[-1][0] - floors[1][0]
        return ((floors[-1][1] - floors[1][1]) / dt, floors[-1][1]) if dt > 0 else None

    def _left_envelope(self, now: float, window: float, floor: float, margin: float) -> bool:
        """True if `floor` is clearly above the range the series kept before the window.

        A sawtooth's next ramp climbs to about where earlier ramps went; a leak's floor leaves
        the earlier range by a margin proportional to that range.
        """
        start = bisect_left(self._t, now - window, self._start)
        if start == self._start:
            return True
        before = self._v[self._start : start]
        peak = max(before)
        return floor > peak + margin * (peak - min(before))


@dataclass(frozen=True)
class LeakVerdicts:
    """Result of one analysis step."""

    process_growth: dict[tuple[str, int], float | None]
    """Floor growth by (gpu uuid, pid); see `FloorSeries.growth`."""
    exhaustion_seconds: dict[str, float]
    """Predicted seconds until full, by gpu uuid, only for GPUs whose memory grows."""


class LeakAnalyzer:
    """Keeps the floor series of every process and GPU and judges them each cycle."""

    def __init__(self, settings: LeakSettings | None = None) -> None:
        self.settings = settings or LeakSettings()
        # Keep twice the longest window: the window itself plus the envelope before it.
        self._keep = 2 * self.settings.window_seconds
        self._processes: dict[tuple[str, int], FloorSeries] = {}
        self._gpus: dict[str, FloorSeries] = {}

    def update(
        self,
        now: float,
        gpus: Iterable[tuple[str, float | None, float | None]],
        processes: Iterable[tuple[str, int, float]],
    ) -> LeakVerdicts:
        """Add one cycle of samples and return the verdicts.

        `gpus` yields (uuid, used bytes, free bytes) for each GPU that answered; `processes`
        yields (gpu uuid, pid, used bytes). Series absent from this cycle are forgotten, so a
        process that exited, or a pid that is reused, starts afresh.
        """
        settings = self.settings
        free_by_gpu: dict[str, float | None] = {}
        gpu_rate: dict[str, float] = {}
        seen_gpus: set[str] = set()
        for uuid, used, free in gpus:
            free_by_gpu[uuid] = free
            if used is None:
                continue
            seen_gpus.add(uuid)
            series = self._gpus.get(uuid)
            if series is None:
                series = self._gpus[uuid] = FloorSeries(now)
            series.add(now, used, self._keep)
            # The whole GPU sums independent workloads (a sawtooth plus an allocator's jump can
            # look like a fast leak), so it gets only the longest window; emergencies are judged
            # per process.
            gpu_rate[uuid] = series.growth(now, None, settings) or 0.0
        growth: dict[tuple[str, int], float | None] = {}
        process_rate: dict[str, float] = {}
        for uuid, pid, used in processes:
            key = (uuid, pid)
            pseries = self._processes.get(key)
            if pseries is None:
                pseries = self._processes[key] = FloorSeries(now)
            pseries.add(now, used, self._keep)
            rate = pseries.growth(now, free_by_gpu.get(uuid), settings)
            growth[key] = rate
            if rate:
                process_rate[uuid] = process_rate.get(uuid, 0.0) + rate
        for pkey in self._processes.keys() - growth.keys():
            del self._processes[pkey]
        for gkey in self._gpus.keys() - seen_gpus:
            del self._gpus[gkey]
        exhaustion: dict[str, float] = {}
        for uuid, free in free_by_gpu.items():
            rate = max(gpu_rate.get(uuid, 0.0), process_rate.get(uuid, 0.0))
            if rate > 0 and free is not None:
                exhaustion[uuid] = max(free, 0.0) / rate
        return LeakVerdicts(growth, exhaustion)
