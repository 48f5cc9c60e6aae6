"""Leak analysis on the simulated scenarios and on hand-made series."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from agentwatch.exporter.leak import MIB, LeakAnalyzer, LeakSettings
from agentwatch.exporter.model import HostSample
from agentwatch.exporter.sim.backend import SimBackend, load_scenario

GIB = 1024 * MIB


class FakeClock:
    """Monotonic and wall clock in one, advanced by the test."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Run:
    """What the analysis said over a scenario, per process."""

    first_flag: dict[int, float] = field(default_factory=dict)
    flagged_cycles: dict[int, int] = field(default_factory=dict)
    first_exhaustion: dict[str, float] = field(default_factory=dict)
    pids_seen: set[int] = field(default_factory=set)


def analyse(
    scenario: str, seed: int = 0, seconds: int = 900, interval: float = 1.0
) -> Iterator[tuple[float, HostSample, Run]]:
    """Drive the simulator and the analysis as the exporter does, one cycle per interval."""
    clock = FakeClock()
    start = clock.now
    backend = SimBackend(load_scenario(scenario, seed), seed=seed, clock=clock, monotonic=clock)
    analyzer = LeakAnalyzer()
    run = Run()
    for step in range(int(seconds / interval)):
        clock.now = start + step * interval
        sample = backend.sample()
        up = [gpu for gpu in sample.gpus if gpu.up]
        verdicts = analyzer.update(
            sample.monotonic,
            [(g.identity.uuid, g.memory_used_bytes, g.memory_free_bytes) for g in up],
            [(g.identity.uuid, p.pid, p.used_bytes or 0) for g in up for p in g.processes],
        )
        t = clock.now - start
        for (_uuid, pid), rate in verdicts.process_growth.items():
            run.pids_seen.add(pid)
            if rate:
                run.first_flag.setdefault(pid, t)
                run.flagged_cycles[pid] = run.flagged_cycles.get(pid, 0) + 1
        for uuid in verdicts.exhaustion_seconds:
            run.first_exhaustion.setdefault(uuid, t)
        yield t, sample, run


def final(scenario: str, seed: int = 0, seconds: int = 900) -> Run:
    result = Run()
    for _t, _sample, run in analyse(scenario, seed, seconds):
        result = run
    return result


@pytest.fixture(autouse=True)
def _quiet_simulator(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="agentwatch.exporter.sim.backend")


SEEDS = range(5)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_fast_leak_is_flagged_within_ten_seconds_at_a_one_second_interval(seed: int) -> None:
    # +180 MB per inference at one a second on an 8 GB GPU; the leak starts 90 s into the life.
    run = final("fast-leak", seed, seconds=150)
    assert 90 < run.first_flag[5200] <= 90 + 10
    assert set(run.first_exhaustion) and min(run.first_exhaustion.values()) <= 100


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_slow_leak_is_flagged_within_five_minutes(seed: int) -> None:
    run = final("leak", seed, seconds=420)  # +180 MB a minute from 60 s on
    assert 60 < run.first_flag[5100] <= 60 + 300


def test_slow_leak_stays_flagged_while_it_lasts() -> None:
    run = final("leak", 0, seconds=900)
    flagged_since = run.first_flag[5100]
    # Once flagged, every later cycle of the leaking life reports the growth.
    assert run.flagged_cycles[5100] >= 0.95 * (900 - flagged_since)


def test_reported_growth_is_the_leak_rate() -> None:
    growth: list[float] = []
    clock = FakeClock()
    backend = SimBackend(load_scenario("leak", 0), clock=clock, monotonic=clock)
    analyzer = LeakAnalyzer()
    for step in range(600):
        clock.now = 1_000.0 + step
        s = backend.sample()
        g = s.gpus[0]
        v = analyzer.update(
            s.monotonic,
            [(g.identity.uuid, g.memory_used_bytes, g.memory_free_bytes)],
            [(g.identity.uuid, p.pid, p.used_bytes) for p in g.processes if p.used_bytes],
        )
        rate = v.process_growth.get((g.identity.uuid, 5100))
        if rate:
            growth.append(rate)
    assert growth
    # 15 MiB every 5 s is 3 MiB/s; the floor slope lands within 10 % of it.
    assert all(abs(r - 3 * MIB) < 0.1 * 3 * MIB for r in growth[-100:])


@pytest.mark.parametrize(
    "scenario", ["preallocated", "allocator-plateau", "sawtooth", "healthy"], ids=str
)
@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_non_leaks_are_never_flagged(scenario: str, seed: int) -> None:
    run = final(scenario, seed, seconds=900)
    assert run.first_flag == {}
    assert run.first_exhaustion == {}
    assert run.pids_seen  # the processes were analysed, not missed


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_mixed_host_flags_only_the_leaking_process(seed: int) -> None:
    run = final("mixed", seed, seconds=600)
    assert set(run.first_flag) == {9300}
    assert run.pids_seen >= {9100, 9200, 9201, 9300, 9301, 9400}


def test_a_process_that_dies_is_forgotten_and_judged_afresh_when_it_returns() -> None:
    # The fast leak OOMs, its process is gone for 10 s, then comes back as a new life.
    clock = FakeClock()
    backend = SimBackend(load_scenario("fast-leak", 0), clock=clock, monotonic=clock)
    analyzer = LeakAnalyzer()
    states: list[tuple[bool, float | None]] = []  # (alive, verdict) each second
    for step in range(200):
        clock.now = 1_000.0 + step
        g = backend.sample().gpus[0]
        verdicts = analyzer.update(
            clock.now,
            [(g.identity.uuid, g.memory_used_bytes, g.memory_free_bytes)],
            [(g.identity.uuid, p.pid, p.used_bytes or 0) for p in g.processes],
        )
        alive = any(p.pid == 5200 for p in g.processes)
        states.append((alive, verdicts.process_growth.get((g.identity.uuid, 5200))))
    died = next(i for i, (alive, _v) in enumerate(states) if i > 0 and not alive)
    assert states[died - 1][1]  # flagged right up to its death
    assert states[died][1] is None  # no verdict, no series, while it is gone
    back = next(i for i in range(died, 200) if states[i][0])
    # A new life: no verdict during its grace minute, whatever the old life did.
    assert all(v is None for _alive, v in states[back : back + 59])


def series(values: list[float], settings: LeakSettings | None = None) -> list[float | None]:
    """Feed one process's memory, one sample a second, on a roomy 80 GiB GPU."""
    analyzer = LeakAnalyzer(settings)
    out: list[float | None] = []
    for t, value in enumerate(values):
        verdicts = analyzer.update(float(t), [("g", value, 80 * GIB - value)], [("g", 1, value)])
        out.append(verdicts.process_growth[("g", 1)])
    return out


def test_a_young_process_gets_no_verdict_then_zero() -> None:
    out = series([4 * GIB] * 120)
    assert out[:60] == [None] * 60
    assert out[60:] == [0.0] * 60


def test_a_restart_that_frees_memory_is_not_a_leak() -> None:
    values = [6 * GIB] * 300 + [2 * GIB] * 300
    assert not any(series(values))


def test_a_linear_ramp_is_flagged_and_a_step_is_not() -> None:
    ramp = [2 * GIB + t * 4 * MIB for t in range(400)]
    step = [2 * GIB] * 200 + [6 * GIB] * 200
    assert any(series(ramp))
    assert not any(series(step))


def test_tiny_drift_below_the_noise_floor_is_not_a_leak() -> None:
    drift = [2 * GIB + t * 16 * 1024 for t in range(600)]  # 16 KiB/s: fragmentation
    assert not any(series(drift))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fast_window_seconds": 0},
        {"fast_window_seconds": 500, "window_seconds": 240},
        {"scale_factor": 1.0},
        {"segments": 2},
        {"evenness": 0},
        {"grace_seconds": -1},
    ],
    ids=[
        "zero-fast-window",
        "fast-longer-than-window",
        "flat-ladder",
        "two-segments",
        "zero-evenness",
        "negative-grace",
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LeakSettings(**kwargs)  # type: ignore[arg-type]


def test_window_ladder() -> None:
    assert LeakSettings().windows() == (10.0, 30.0, 90.0, 240.0)
    assert LeakSettings(window_seconds=90).windows() == (10.0, 30.0, 90.0)
