"""The metric contract: every Prometheus name is the collector's translation of its OTel name."""

from __future__ import annotations

import re

import pytest

from agentwatch import names
from agentwatch.names import Kind, MetricSpec
from agentwatch.otel_names import prometheus_name

PROM_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
OTEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$")
UNBOUNDED_LABELS = {"prompt", "user", "user_id", "request_id", "trace_id", "span_id"}

SPECS = names.ALL_METRICS


def _ids(spec: MetricSpec) -> str:
    return spec.prom


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_prometheus_name_is_the_collector_translation_of_the_otel_name(spec: MetricSpec) -> None:
    assert prometheus_name(spec.otel, spec.unit, spec.kind) == spec.prom


def test_prometheus_names_are_unique() -> None:
    proms = [spec.prom for spec in SPECS]
    assert len(proms) == len(set(proms))


def test_otel_names_are_unique() -> None:
    otels = [spec.otel for spec in SPECS]
    assert len(otels) == len(set(otels))


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_names_are_valid(spec: MetricSpec) -> None:
    assert PROM_NAME.match(spec.prom)
    assert OTEL_NAME.match(spec.otel)
    assert spec.help


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_counters_and_only_counters_end_in_total(spec: MetricSpec) -> None:
    assert spec.prom.endswith("_total") == (spec.kind is Kind.COUNTER)


@pytest.mark.parametrize("spec", SPECS, ids=_ids)
def test_labels_are_valid_distinct_and_bounded(spec: MetricSpec) -> None:
    for label in spec.labels:
        assert LABEL_NAME.match(label), label
        assert not label.startswith("__"), label  # reserved by Prometheus
    assert len(spec.labels) == len(set(spec.labels))
    assert not UNBOUNDED_LABELS & set(spec.labels)


TRANSLATIONS: list[tuple[str, str, Kind, str]] = [
    # The GenAI semantic conventions; dashboards and alerts query these translations.
    (
        "gen_ai.client.operation.duration",
        "s",
        Kind.HISTOGRAM,
        "gen_ai_client_operation_duration_seconds",
    ),
    ("gen_ai.client.token.usage", "{token}", Kind.HISTOGRAM, "gen_ai_client_token_usage"),
    ("system.filesystem.usage", "By", Kind.GAUGE, "system_filesystem_usage_bytes"),
    ("system.io", "By", Kind.COUNTER, "system_io_bytes_total"),
    ("network_transmitted_bytes_total", "By", Kind.COUNTER, "network_transmitted_bytes_total"),
    ("system.network.dropped", "{packets}", Kind.COUNTER, "system_network_dropped_total"),
    ("system.network.packets", "packets", Kind.GAUGE, "system_network_packets"),
    ("system.cpu.utilization", "1", Kind.GAUGE, "system_cpu_utilization_ratio"),
    ("hw.fan.speed_ratio", "1", Kind.GAUGE, "hw_fan_speed_ratio"),
    ("apache.requests", "1", Kind.COUNTER, "apache_requests_total"),
    ("http.server.ratio", "1", Kind.HISTOGRAM, "http_server_ratio"),
    ("redis.latest_fork", "us", Kind.GAUGE, "redis_latest_fork_microseconds"),
    ("hw.cpu.speed_limit", "Hz", Kind.GAUGE, "hw_cpu_speed_limit_hertz"),
    ("db.latency", "ms", Kind.HISTOGRAM, "db_latency_milliseconds"),
    ("gpu.temperature", "Cel", Kind.GAUGE, "gpu_temperature_celsius"),
    ("gpu.power", "W", Kind.GAUGE, "gpu_power_watts"),
    ("gpu.energy", "J", Kind.COUNTER, "gpu_energy_joules_total"),
    ("process.network.io", "By/s", Kind.GAUGE, "process_network_io_bytes_per_second"),
    ("astro.light.speed_limit", "m/s", Kind.GAUGE, "astro_light_speed_limit_meters_per_second"),
    ("oplog.rate", "GiBy/h", Kind.GAUGE, "oplog_rate_gibibytes_per_hour"),
    ("process.asserts", "{assertions}/s", Kind.GAUGE, "process_asserts_per_second"),
    ("query.scanned_per_returned", "{s}/{r}", Kind.GAUGE, "query_scanned_per_returned"),
    ("broken.metric.speed", "km/h", Kind.GAUGE, "broken_metric_speed_km_per_hour"),
    ("cache.hit_rate", "%", Kind.GAUGE, "cache_hit_rate_percent"),
    ("disk.operation_time", "s", Kind.COUNTER, "disk_operation_time_seconds_total"),
    ("job.seconds", "s", Kind.GAUGE, "job_seconds"),
    ("test.metric.spaces", "   \t  ", Kind.GAUGE, "test_metric_spaces"),
    ("\t system.filesystem.usage ", "  By\t", Kind.GAUGE, "system_filesystem_usage_bytes"),
    ("unsupported.metric.weird", "+=.:,!* & #", Kind.GAUGE, "unsupported_metric_weird"),
    ("envoy__rule_engine", "", Kind.GAUGE, "envoy_rule_engine"),
    ("3.14 digits", "", Kind.GAUGE, "_3_14_digits"),
    (":foo::bar", "", Kind.COUNTER, "foo_bar_total"),
]
"""(OTel name, unit, kind, Prometheus name); most from the collector's normalize_name_test.go."""


@pytest.mark.parametrize(
    ("otel", "unit", "kind", "prom"),
    TRANSLATIONS,
    ids=[f"{otel.strip()} {unit.strip()} {kind.value}" for otel, unit, kind, _ in TRANSLATIONS],
)
def test_translation_rules(otel: str, unit: str, kind: Kind, prom: str) -> None:
    assert prometheus_name(otel, unit, kind) == prom
