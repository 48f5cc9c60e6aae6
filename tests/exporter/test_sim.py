"""The simulated backend: deterministic, NVML-shaped, and never mistaken for real data."""

from __future__ import annotations

import logging

import pytest

from agentwatch.exporter.model import HostSample
from agentwatch.exporter.sim.backend import SimAttributor, SimBackend, load_scenario
from agentwatch.exporter.sim.scenarios import SCENARIOS


class Clock:
    def __init__(self) -> None:
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


def replay(name: str, seed: int, seconds: int, speed: float = 1.0) -> list[HostSample]:
    clock = Clock()
    backend = SimBackend(load_scenario(name, seed), seed, speed, clock=clock, monotonic=clock)
    samples = []
    for step in range(seconds):
        clock.now = 5_000.0 + step
        samples.append(backend.sample())
    return samples


@pytest.mark.parametrize("name", sorted(SCENARIOS), ids=str)
def test_every_scenario_replays_identically_for_a_seed(name: str) -> None:
    assert replay(name, 3, 120) == replay(name, 3, 120)


def test_seeds_change_identity_and_randomness() -> None:
    a, b = replay("sawtooth", 1, 200), replay("sawtooth", 2, 200)
    assert a[0].gpus[0].identity.uuid != b[0].gpus[0].identity.uuid
    memory = [[p.used_bytes for s in run for g in s.gpus for p in g.processes] for run in (a, b)]
    assert memory[0] != memory[1]


@pytest.mark.parametrize("name", sorted(SCENARIOS), ids=str)
def test_memory_adds_up_like_nvml(name: str) -> None:
    for sample in replay(name, 0, 400, speed=3.0):
        for gpu in sample.gpus:
            if not gpu.up:
                continue
            assert gpu.memory_total_bytes is not None
            assert gpu.memory_used_bytes is not None and gpu.memory_free_bytes is not None
            assert gpu.memory_reserved_bytes is not None
            assert gpu.memory_used_bytes + gpu.memory_free_bytes + gpu.memory_reserved_bytes == (
                gpu.memory_total_bytes
            )
            assert gpu.memory_free_bytes >= 0
            assert 0.0 <= (gpu.utilization_ratio or 0.0) <= 1.0
            assert gpu.identity.name.startswith("Simulated ")
            assert gpu.identity.driver_version == "simulated"


def test_speed_compresses_time() -> None:
    # The leak scenario starts leaking 60 simulated seconds in; at x30 that is 2 real seconds.
    fast = replay("leak", 0, 10, speed=30.0)
    slow = replay("leak", 0, 10, speed=1.0)

    def leaked(sample: HostSample) -> int:
        return sum(p.used_bytes or 0 for p in sample.gpus[0].processes)

    assert leaked(fast[-1]) - leaked(fast[0]) > 100 * 1024 * 1024
    assert abs(leaked(slow[-1]) - leaked(slow[0])) < 100 * 1024 * 1024


def test_gpu_lost_scenario_loses_gpu_one_after_a_minute() -> None:
    samples = replay("gpu-lost", 0, 70)
    before, after = samples[50], samples[65]
    assert before.complete and all(g.up for g in before.gpus)
    assert not after.complete
    assert [g.up for g in after.gpus] == [True, False]
    assert ("nvmlDeviceGetMemoryInfo", "gpu_is_lost") in [(e.call, e.error) for e in after.errors]
    assert after.gpus[1].memory_used_bytes is None  # a lost GPU reports no data, not zeros
    assert [e.xid for s in samples for e in s.xid_events] == [79]


def test_xid_scenario_emits_each_code_once_per_cycle_of_the_scenario() -> None:
    samples = replay("xid", 0, 520)
    codes = [e.xid for s in samples for e in s.xid_events]
    assert sorted(set(codes)) == [13, 31, 43, 48, 63, 94, 119]
    assert codes.count(13) == 3  # at 15-20 s, 255-260 s and 495-500 s
    uncorrected = [s.gpus[0].ecc_errors["uncorrected"] for s in samples if s.gpus[0].ecc_errors]
    assert uncorrected[-1] == codes.count(48) + codes.count(94)


def test_energy_is_the_integral_of_power() -> None:
    samples = replay("healthy", 0, 60)
    energy = [s.gpus[0].energy_joules or 0.0 for s in samples]
    assert energy == sorted(energy)
    power = [s.gpus[0].power_watts or 0.0 for s in samples]
    assert energy[-1] == pytest.approx(sum(power[1:]), rel=1e-3)


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match="known: .*mixed"):
        load_scenario("nope", 0)


def test_simulated_backend_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    backend = SimBackend(load_scenario("healthy", 0))
    assert backend.simulated is True
    assert "SIMULATED" in caplog.text


def test_simulated_processes_carry_pods() -> None:
    backend = SimBackend(load_scenario("mixed", 0))
    attributor = SimAttributor(backend)
    assert attributor.attribute(9300).pod == "agent-7"
    assert len(attributor.attribute(9300).container) == 64
    assert attributor.attribute(1).pod == ""


def test_node_scenario_is_eight_gpus_of_eight_processes() -> None:
    sample = replay("node", 0, 1)[0]
    assert len(sample.gpus) == 8
    assert sum(len(g.processes) for g in sample.gpus) == 64
