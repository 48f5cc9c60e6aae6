"""The snapshot → samples mapping shared by `/metrics` and the OTLP push."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from agentwatch import names
from agentwatch.exporter.model import (
    THROTTLE_REASONS,
    Attribution,
    GpuIdentity,
    GpuSample,
    ProcessView,
    Snapshot,
    XidCount,
)
from agentwatch.exporter.observations import observations
from agentwatch.names import MetricSpec

GPU0 = GpuIdentity("0", "GPU-0", "NVIDIA H100", "550.54", "00000000:01:00.0", "disabled")
GPU1 = GpuIdentity("1", "GPU-1", "NVIDIA L4", "550.54", "00000000:02:00.0", "enabled")

FULL = GpuSample(
    identity=GPU0,
    memory_used_bytes=30 * 2**30,
    memory_free_bytes=50 * 2**30,
    memory_total_bytes=80 * 2**30,
    memory_reserved_bytes=2**29,
    utilization_ratio=0.75,
    memory_bandwidth_utilization_ratio=0.5,
    temperature_celsius=61.0,
    power_watts=350.5,
    power_limit_watts=700.0,
    energy_joules=123456.0,
    throttle_reasons={"sw_power_cap": True, "gpu_idle": False},
    ecc_errors={"corrected": 4, "uncorrected": 0},
)
BARE = GpuSample(identity=GPU1, up=False)


def snapshot(**changes: Any) -> Snapshot:
    """A snapshot with one fully read GPU, one bare GPU that is down, and two processes."""
    base = Snapshot(
        timestamp=1_700_000_100.0,
        simulated=False,
        gpus=(FULL, BARE),
        processes=(
            ProcessView(
                GPU0,
                pid=4242,
                name="python3",
                used_bytes=2**30,
                attribution=Attribution("vllm", "vllm-0", "serving"),
                growth_bytes_per_second=1.5e6,
            ),
            ProcessView(GPU1, pid=17, name="Xorg", used_bytes=None),
        ),
        exhaustion_seconds={"GPU-0": 1200.0, "GPU-gone": 5.0},
        xid={("0", "GPU-0", 79): XidCount(3, 1_700_000_050.5)},
        nvml_errors={("nvmlDeviceGetPowerUsage", "NotSupported"): 2},
        collect_success=True,
        collect_duration_seconds=0.012,
        last_success_timestamp=1_700_000_100.0,
    )
    return dataclasses.replace(base, **changes)


def samples(snap: Snapshot) -> dict[str, list[tuple[tuple[str, ...], float]]]:
    return {spec.prom: list(found) for spec, found in observations(snap)}


def gpu_snapshot(gpu: GpuSample) -> Snapshot:
    return snapshot(gpus=(gpu,), processes=(), exhaustion_seconds={}, xid={}, nvml_errors={})


def test_every_exporter_metric_is_yielded_once_in_order_even_when_empty() -> None:
    empty = snapshot(gpus=(), processes=(), exhaustion_seconds={}, xid={}, nvml_errors={})
    yielded = [spec for spec, _ in observations(empty)]
    assert yielded == list(names.EXPORTER_METRICS)


def test_full_snapshot_yields_exactly_these_series() -> None:
    g0, g1 = ("0", "GPU-0"), ("1", "GPU-1")
    throttled = [((*g0, r), 1.0 if r == "sw_power_cap" else 0.0) for r in THROTTLE_REASONS]
    proc = ("0", "GPU-0", "4242", "python3", "vllm", "vllm-0", "serving")
    expected = {
        "agentwatch_gpu_info": [
            (("0", "GPU-0", "NVIDIA H100", "550.54", "00000000:01:00.0", "disabled", "false"), 1.0),
            (("1", "GPU-1", "NVIDIA L4", "550.54", "00000000:02:00.0", "enabled", "false"), 1.0),
        ],
        "agentwatch_gpu_up": [(g0, 1.0), (g1, 0.0)],
        "agentwatch_gpu_memory_used_bytes": [(g0, 30.0 * 2**30)],
        "agentwatch_gpu_memory_free_bytes": [(g0, 50.0 * 2**30)],
        "agentwatch_gpu_memory_total_bytes": [(g0, 80.0 * 2**30)],
        "agentwatch_gpu_memory_reserved_bytes": [(g0, float(2**29))],
        "agentwatch_gpu_utilization_ratio": [(g0, 0.75)],
        "agentwatch_gpu_memory_bandwidth_utilization_ratio": [(g0, 0.5)],
        "agentwatch_gpu_temperature_celsius": [(g0, 61.0)],
        "agentwatch_gpu_power_watts": [(g0, 350.5)],
        "agentwatch_gpu_power_limit_watts": [(g0, 700.0)],
        "agentwatch_gpu_energy_joules_total": [(g0, 123456.0)],
        "agentwatch_gpu_throttled": throttled,
        "agentwatch_gpu_xid_errors_total": [((*g0, "79"), 3.0)],
        "agentwatch_gpu_xid_last_timestamp_seconds": [((*g0, "79"), 1_700_000_050.5)],
        "agentwatch_gpu_ecc_errors_total": [((*g0, "corrected"), 4.0), ((*g0, "uncorrected"), 0.0)],
        "agentwatch_gpu_process_memory_used_bytes": [(proc, float(2**30))],
        "agentwatch_gpu_process_memory_growth_bytes_per_second": [(proc, 1.5e6)],
        # GPU-gone is not in the snapshot: no `gpu` label to give it, so no series.
        "agentwatch_gpu_memory_exhaustion_seconds": [(g0, 1200.0)],
        "agentwatch_exporter_collect_success": [((), 1.0)],
        "agentwatch_exporter_collect_duration_seconds": [((), 0.012)],
        "agentwatch_exporter_last_success_timestamp_seconds": [((), 1_700_000_100.0)],
        "agentwatch_exporter_nvml_errors_total": [
            (("nvmlDeviceGetPowerUsage", "NotSupported"), 2.0)
        ],
    }
    assert samples(snapshot()) == expected


@pytest.mark.parametrize("spec", names.EXPORTER_METRICS, ids=lambda spec: spec.prom)
def test_label_values_match_the_spec_labels(spec: MetricSpec) -> None:
    found = samples(snapshot())[spec.prom]
    assert found, "the full snapshot has at least one series of every metric"
    for labels, value in found:
        assert len(labels) == len(spec.labels)
        assert all(isinstance(label, str) for label in labels)
        assert isinstance(value, float)


GPU_FIELDS: Sequence[tuple[str, MetricSpec]] = (
    ("memory_used_bytes", names.GPU_MEMORY_USED),
    ("memory_free_bytes", names.GPU_MEMORY_FREE),
    ("memory_total_bytes", names.GPU_MEMORY_TOTAL),
    ("memory_reserved_bytes", names.GPU_MEMORY_RESERVED),
    ("utilization_ratio", names.GPU_UTILIZATION),
    ("memory_bandwidth_utilization_ratio", names.GPU_MEMORY_BANDWIDTH_UTILIZATION),
    ("temperature_celsius", names.GPU_TEMPERATURE),
    ("power_watts", names.GPU_POWER),
    ("power_limit_watts", names.GPU_POWER_LIMIT),
    ("energy_joules", names.GPU_ENERGY),
    ("throttle_reasons", names.GPU_THROTTLED),
    ("ecc_errors", names.GPU_ECC_ERRORS),
)


@pytest.mark.parametrize(("field", "spec"), GPU_FIELDS, ids=[field for field, _ in GPU_FIELDS])
def test_an_unsupported_gpu_field_has_no_series_and_changes_nothing_else(
    field: str, spec: MetricSpec
) -> None:
    with_field = samples(gpu_snapshot(FULL))
    without = samples(gpu_snapshot(dataclasses.replace(FULL, **{field: None})))
    assert with_field[spec.prom]
    assert without[spec.prom] == []
    assert {k: v for k, v in without.items() if k != spec.prom} == {
        k: v for k, v in with_field.items() if k != spec.prom
    }


def test_a_bare_gpu_has_only_identity_and_up() -> None:
    found = {k: v for k, v in samples(gpu_snapshot(BARE)).items() if v}
    assert set(found) == {
        "agentwatch_gpu_info",
        "agentwatch_gpu_up",
        "agentwatch_exporter_collect_success",
        "agentwatch_exporter_collect_duration_seconds",
        "agentwatch_exporter_last_success_timestamp_seconds",
    }
    assert found["agentwatch_gpu_up"] == [(("1", "GPU-1"), 0.0)]


@pytest.mark.parametrize(
    ("reasons", "active"),
    [
        ({}, set()),
        ({"hw_slowdown": True}, {"hw_slowdown"}),
        ({reason: True for reason in THROTTLE_REASONS}, set(THROTTLE_REASONS)),
    ],
    ids=["none-reported", "one-active", "all-active"],
)
def test_throttled_has_one_series_per_known_reason(
    reasons: Mapping[str, bool], active: set[str]
) -> None:
    found = samples(gpu_snapshot(dataclasses.replace(BARE, throttle_reasons=reasons)))
    assert found["agentwatch_gpu_throttled"] == [
        (("1", "GPU-1", reason), 1.0 if reason in active else 0.0) for reason in THROTTLE_REASONS
    ]


def test_ecc_keeps_the_known_types_present_in_the_mapping() -> None:
    gpu = dataclasses.replace(BARE, ecc_errors={"uncorrected": 2, "parity": 9})
    found = samples(gpu_snapshot(gpu))
    assert found["agentwatch_gpu_ecc_errors_total"] == [(("1", "GPU-1", "uncorrected"), 2.0)]


def test_simulated_gpus_say_so() -> None:
    found = samples(snapshot(simulated=True))
    assert [labels[-1] for labels, _ in found["agentwatch_gpu_info"]] == ["true", "true"]


@pytest.mark.parametrize(
    ("used", "growth"),
    [(None, None), (2**20, None), (None, 0.0), (2**20, -3.5)],
    ids=["neither", "used-only", "growth-only", "both"],
)
def test_process_series_exist_only_for_known_values(used: int | None, growth: float | None) -> None:
    proc = ProcessView(GPU1, 99, "worker", used, growth_bytes_per_second=growth)
    found = samples(snapshot(processes=(proc,)))
    labels = ("1", "GPU-1", "99", "worker", "", "", "")
    used_series = [] if used is None else [(labels, float(used))]
    growth_series = [] if growth is None else [(labels, growth)]
    assert found["agentwatch_gpu_process_memory_used_bytes"] == used_series
    assert found["agentwatch_gpu_process_memory_growth_bytes_per_second"] == growth_series


@pytest.mark.parametrize(
    ("success", "stale", "value"),
    [(True, False, 1.0), (False, False, 0.0), (True, True, 0.0), (False, True, 0.0)],
    ids=["ok", "failed", "stale", "failed-and-stale"],
)
def test_collect_success_is_zero_when_failed_or_stale(
    success: bool, stale: bool, value: float
) -> None:
    found = samples(snapshot(collect_success=success, stale=stale))
    assert found["agentwatch_exporter_collect_success"] == [((), value)]


def test_last_success_is_absent_before_any_success() -> None:
    found = samples(snapshot(last_success_timestamp=None, collect_success=False))
    assert found["agentwatch_exporter_last_success_timestamp_seconds"] == []
    assert found["agentwatch_exporter_collect_success"] == [((), 0.0)]


def test_no_exhaustion_prediction_means_no_series() -> None:
    assert (
        samples(snapshot(exhaustion_seconds={}))["agentwatch_gpu_memory_exhaustion_seconds"] == []
    )
