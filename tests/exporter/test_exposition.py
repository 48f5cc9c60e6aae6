"""The pre-rendered exposition: golden text, caching, staleness, and promtool's verdict."""

from __future__ import annotations

import dataclasses
import gzip
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from prometheus_client.parser import text_string_to_metric_families as parse_text

from agentwatch.exporter.exposition import ExpositionCache
from agentwatch.exporter.model import (
    THROTTLE_REASONS,
    Attribution,
    GpuIdentity,
    GpuSample,
    ProcessView,
    Snapshot,
    XidCount,
)
from agentwatch.exporter.render import Renderer
from tests.helpers import require_binary

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = "AGENTWATCH_UPDATE_GOLDEN"

Key = tuple[str, tuple[tuple[str, str], ...]]
"""A series: its sample name and its sorted labels."""


@dataclass(frozen=True)
class Scrape:
    """A parsed exposition: every sample's value by series, and every family's type."""

    samples: dict[Key, float]
    types: dict[str, str]

    @classmethod
    def parse(cls, body: bytes, openmetrics: bool = False) -> Scrape:
        """Parse a text (or OpenMetrics) body; fail on a series exposed twice."""
        parse = parse_openmetrics if openmetrics else parse_text
        samples: dict[Key, float] = {}
        types: dict[str, str] = {}
        for family in parse(body.decode()):
            types[family.name] = family.type
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                assert key not in samples, f"series exposed twice: {key}"
                samples[key] = sample.value
        return cls(samples, types)

    def value(self, name: str, **labels: str) -> float | None:
        """The value of one series, None when it is absent."""
        return self.samples.get((name, tuple(sorted(labels.items()))))

    def family(self, name: str) -> dict[Key, float]:
        """Every series of the sample name `name`."""
        return {key: v for key, v in self.samples.items() if key[0] == name}

    def gpu(self, index: str | None = None) -> dict[Key, float]:
        """Every `agentwatch_gpu_*` series, or those of the GPU labelled `index`."""
        return {
            key: value
            for key, value in self.samples.items()
            if key[0].startswith("agentwatch_gpu_") and (index is None or ("gpu", index) in key[1])
        }

    def without(self, *names: str) -> dict[Key, float]:
        """Every series but those of the sample names `names`."""
        return {key: value for key, value in self.samples.items() if key[0] not in names}


# --- a deterministic snapshot -----------------------------------------------------------------

T = 1_700_000_000.0
GPU0 = GpuIdentity(
    "0",
    "GPU-5f1c6a3e-0d2b-4c8e-9a7f-1b2c3d4e5f60",
    "NVIDIA H100 80GB HBM3",
    "550.54.15",
    "00000000:01:00.0",
    "enabled",
)
MIG = GpuIdentity(
    "0/1",
    "MIG-0a1b2c3d-4e5f-5a6b-8c7d-9e0f1a2b3c4d",
    "NVIDIA H100 80GB HBM3 MIG 3g.40gb",
    "550.54.15",
    "00000000:01:00.0",
    "instance",
)
FULL = GpuSample(
    identity=GPU0,
    memory_used_bytes=30 * 2**30,
    memory_free_bytes=49 * 2**30 + 2**29,
    memory_total_bytes=80 * 2**30,
    memory_reserved_bytes=2**29,
    utilization_ratio=0.75,
    memory_bandwidth_utilization_ratio=0.375,
    temperature_celsius=61.0,
    power_watts=350.5,
    power_limit_watts=700.0,
    energy_joules=123456.789,
    throttle_reasons={
        reason: reason in ("sw_power_cap", "hw_slowdown") for reason in THROTTLE_REASONS
    },
    ecc_errors={"corrected": 4, "uncorrected": 0},
)
PARTIAL = GpuSample(  # a MIG device: memory only, and no reserved memory from memory info v1
    identity=MIG,
    memory_used_bytes=12 * 2**30,
    memory_free_bytes=28 * 2**30,
    memory_total_bytes=40 * 2**30,
)
SNAPSHOT = Snapshot(
    timestamp=T,
    simulated=False,
    gpus=(FULL, PARTIAL),
    processes=(
        ProcessView(
            GPU0,
            pid=4242,
            name="python3",
            used_bytes=20 * 2**30,
            attribution=Attribution("3f2a9c", "vllm-0", "serving"),
            growth_bytes_per_second=1_572_864.0,
        ),
        ProcessView(
            GPU0, pid=1002, name="Xorg", used_bytes=256 * 2**20, growth_bytes_per_second=0.0
        ),
        ProcessView(
            MIG,
            pid=5151,
            name="triton",
            used_bytes=None,  # NVML could not tell: no memory series, but still a growth one
            attribution=Attribution("7b7e01", "triton-1", "inference"),
            growth_bytes_per_second=0.0,
        ),
        ProcessView(MIG, pid=5152, name="worker", used_bytes=2**30),  # too young to judge
    ),
    exhaustion_seconds={MIG.uuid: 18_204.444},
    xid={
        ("0", GPU0.uuid, 79): XidCount(2, T - 90.5),
        ("0/1", MIG.uuid, 31): XidCount(1, T - 12.25),
    },
    nvml_errors={
        ("nvmlDeviceGetUtilizationRates", "not_supported"): 1,
        ("nvmlDeviceGetPowerUsage", "timeout"): 3,
    },
    collect_success=True,
    collect_duration_seconds=0.0125,
    last_success_timestamp=T,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def render(snapshot: Snapshot, openmetrics: bool = False) -> bytes:
    cache = ExpositionCache(60.0, clock=Clock(snapshot.timestamp), process_metrics=False)
    cache.publish(snapshot)
    return cache.exposition(openmetrics=openmetrics, gzipped=False)[0]


# --- golden files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "openmetrics"),
    [("exposition.prom", False), ("exposition.openmetrics", True)],
    ids=["text", "openmetrics"],
)
def test_the_exposition_matches_its_golden_file(name: str, openmetrics: bool) -> None:
    body = render(SNAPSHOT, openmetrics)
    golden = GOLDEN / name
    if os.environ.get(UPDATE_GOLDEN) == "1":
        golden.write_bytes(body)
        pytest.fail(f"{golden} rewritten: review the diff, then run again without {UPDATE_GOLDEN}")
    assert golden.exists(), f"no {golden}: run once with {UPDATE_GOLDEN}=1"
    assert body == golden.read_bytes(), f"run with {UPDATE_GOLDEN}=1 and review the diff"


def test_the_golden_snapshot_leaves_unread_fields_and_unjudged_processes_absent() -> None:
    got = Scrape.parse(render(SNAPSHOT))
    mig = (("gpu", "0/1"), ("uuid", MIG.uuid))
    assert got.value("agentwatch_gpu_memory_used_bytes", gpu="0/1", uuid=MIG.uuid) == 12 * 2**30
    for name in (
        "agentwatch_gpu_memory_reserved_bytes",
        "agentwatch_gpu_utilization_ratio",
        "agentwatch_gpu_power_watts",
        "agentwatch_gpu_energy_joules_total",
        "agentwatch_gpu_throttled",
        "agentwatch_gpu_ecc_errors_total",
    ):
        assert not [key for key in got.family(name) if set(mig) <= set(key[1])], name
    used = {dict(k[1])["pid"] for k in got.family("agentwatch_gpu_process_memory_used_bytes")}
    growth = got.family("agentwatch_gpu_process_memory_growth_bytes_per_second")
    assert used == {"4242", "1002", "5152"}
    assert {dict(k[1])["pid"]: v for k, v in growth.items()} == {
        "4242": 1_572_864.0,
        "1002": 0.0,
        "5151": 0.0,
    }
    assert got.family("agentwatch_gpu_memory_exhaustion_seconds") == {
        ("agentwatch_gpu_memory_exhaustion_seconds", mig): 18_204.444
    }
    assert got.types["agentwatch_gpu_energy_joules"] == "counter"
    assert got.types["agentwatch_exporter_nvml_errors"] == "counter"
    assert got.types["agentwatch_gpu_info"] == "gauge"


# --- caching ----------------------------------------------------------------------------------


@pytest.fixture
def collects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Snapshot, bool]]]:
    """Every (snapshot, openmetrics) the renderer renders, in order."""
    rendered: list[tuple[Snapshot, bool]] = []
    original = Renderer.render

    def counting(self: Renderer, snapshot: Snapshot, openmetrics: bool) -> str:
        rendered.append((snapshot, openmetrics))
        return original(self, snapshot, openmetrics)

    monkeypatch.setattr(Renderer, "render", counting)
    yield rendered


def test_scrapes_hand_out_the_bytes_rendered_at_publish(
    collects: list[tuple[Snapshot, bool]],
) -> None:
    cache = ExpositionCache(60.0, clock=Clock(T), process_metrics=False)
    cache.publish(SNAPSHOT)
    text, om_form = (SNAPSHOT, False), (SNAPSHOT, True)
    assert collects == [text]  # the text format, rendered by the publishing thread
    first = cache.exposition(openmetrics=False, gzipped=False)
    second = cache.exposition(openmetrics=False, gzipped=False)
    assert first[0] is second[0]
    assert first[1].startswith("text/plain; version=") and first[1].endswith("charset=utf-8")
    assert collects == [text]

    zipped = cache.exposition(openmetrics=False, gzipped=True)
    assert gzip.decompress(zipped[0]) == first[0]
    assert cache.exposition(openmetrics=False, gzipped=True)[0] is zipped[0]
    assert zipped[1] == first[1]
    assert collects == [text]  # gzip compresses the cached text, it does not render again

    om = cache.exposition(openmetrics=True, gzipped=False)
    assert om[0].endswith(b"# EOF\n")
    assert om[1].startswith("application/openmetrics-text; version=1.0.0")
    assert cache.exposition(openmetrics=True, gzipped=False)[0] is om[0]
    om_zipped = cache.exposition(openmetrics=True, gzipped=True)
    assert gzip.decompress(om_zipped[0]) == om[0]
    assert collects == [text, om_form]  # OpenMetrics once, on the first scrape asking

    newer = dataclasses.replace(SNAPSHOT, timestamp=T + 1, last_success_timestamp=T + 1)
    cache.publish(newer)
    # Every form asked for lately is rendered by the publishing thread, gzip included.
    assert collects == [text, om_form, (newer, False), (newer, True)]
    calls = len(collects)
    for openmetrics in (False, True):
        for gzipped in (False, True):
            cache.exposition(openmetrics=openmetrics, gzipped=gzipped)
    assert len(collects) == calls
    again = cache.exposition(openmetrics=False, gzipped=False)[0]
    assert again is not first[0]
    assert Scrape.parse(again).value("agentwatch_exporter_last_success_timestamp_seconds") == T + 1


def test_before_the_first_publish_only_the_process_metrics_answer() -> None:
    cache = ExpositionCache(60.0, clock=Clock(T))
    assert not cache.ready()
    assert cache.latest() is None
    for openmetrics in (False, True):
        body, _ = cache.exposition(openmetrics=openmetrics, gzipped=False)
        got = Scrape.parse(body, openmetrics=openmetrics)
        assert not [key for key in got.samples if key[0].startswith("agentwatch_")]
        assert "python_info" in got.types  # the exporter's own metrics
    zipped, _ = cache.exposition(openmetrics=False, gzipped=True)
    assert b"agentwatch_" not in gzip.decompress(zipped)
    cache.publish(SNAPSHOT)
    assert cache.ready()
    body, _ = cache.exposition(openmetrics=False, gzipped=False)
    assert Scrape.parse(body).value("agentwatch_exporter_collect_success") == 1.0
    assert b"python_info" in body


# --- staleness --------------------------------------------------------------------------------


def test_a_snapshot_that_is_not_replaced_in_time_reports_the_collection_failed() -> None:
    clock = Clock(T)
    cache = ExpositionCache(10.0, clock=clock, process_metrics=False)
    cache.publish(SNAPSHOT)
    fresh = Scrape.parse(cache.exposition(openmetrics=False, gzipped=False)[0])
    assert fresh.value("agentwatch_exporter_collect_success") == 1.0
    latest = cache.latest()
    assert latest is SNAPSHOT and not latest.stale

    clock.now = T + 10.0  # exactly at the threshold: still fresh
    assert cache.exposition(openmetrics=False, gzipped=False)[0] == render(SNAPSHOT)
    clock.now = T + 10.5
    for openmetrics in (False, True):
        body = cache.exposition(openmetrics=openmetrics, gzipped=False)[0]
        stale = Scrape.parse(body, openmetrics=openmetrics)
        assert stale.value("agentwatch_exporter_collect_success") == 0.0
        as_fresh = Scrape.parse(render(SNAPSHOT, openmetrics), openmetrics=openmetrics)
        success = "agentwatch_exporter_collect_success"
        assert stale.without(success) == as_fresh.without(success)
    zipped = cache.exposition(openmetrics=False, gzipped=True)[0]
    assert gzip.decompress(zipped) == cache.exposition(openmetrics=False, gzipped=False)[0]
    latest = cache.latest()
    assert latest is not None and latest.stale
    assert dataclasses.replace(latest, stale=False) == SNAPSHOT
    assert cache.latest() is latest

    newer = dataclasses.replace(SNAPSHOT, timestamp=T + 11.0)
    cache.publish(newer)
    again = Scrape.parse(cache.exposition(openmetrics=False, gzipped=False)[0])
    assert again.value("agentwatch_exporter_collect_success") == 1.0
    assert cache.latest() is newer


def test_a_failed_collection_stays_failed_when_it_goes_stale() -> None:
    clock = Clock(T)
    cache = ExpositionCache(10.0, clock=clock, process_metrics=False)
    cache.publish(dataclasses.replace(SNAPSHOT, collect_success=False))
    for now in (T, T + 60.0):
        clock.now = now
        got = Scrape.parse(cache.exposition(openmetrics=False, gzipped=False)[0])
        assert got.value("agentwatch_exporter_collect_success") == 0.0


# --- promtool ---------------------------------------------------------------------------------


def promtool_check(body: bytes) -> subprocess.CompletedProcess[str]:
    promtool = require_binary("promtool")
    return subprocess.run(
        [promtool, "check", "metrics"],
        input=body.decode(),
        capture_output=True,
        text=True,
        timeout=30,
    )


def sim_exposition(scenario: str, cycles: int) -> bytes:
    from agentwatch.exporter.poller import Poller
    from agentwatch.exporter.sim.backend import SimAttributor, SimBackend, load_scenario

    mono, wall = Clock(100.0), Clock(T)
    backend = SimBackend(load_scenario(scenario, 0), clock=wall, monotonic=mono)
    cache = ExpositionCache(60.0, clock=wall, process_metrics=False)
    poller = Poller(backend, SimAttributor(backend), cache.publish, clock=wall, monotonic=mono)
    for _ in range(cycles):
        poller.run_once()
        mono.now += 1.0
        wall.now += 1.0
    return cache.exposition(openmetrics=False, gzipped=False)[0]


@pytest.mark.prometheus
@pytest.mark.parametrize("source", ["golden", "mixed"], ids=["golden", "sim-mixed-120-cycles"])
def test_promtool_finds_no_problem_in_the_exposition(source: str) -> None:
    body = render(SNAPSHOT) if source == "golden" else sim_exposition("mixed", 120)
    assert b"agentwatch_gpu_info" in body
    result = promtool_check(body)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")
