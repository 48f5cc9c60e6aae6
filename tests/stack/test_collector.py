"""The collector configuration, checked structurally (no collector binary installs here): every
component a pipeline names is defined, the processors are in the order that protects memory,
and the Prometheus exporter is set up for the names, labels and exemplars the stack queries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "compose" / "otel-collector" / "config.yaml"
# Component types of otel/opentelemetry-collector-contrib this configuration may use.
KNOWN = {
    "receivers": {"otlp"},
    "processors": {"memory_limiter", "batch"},
    "exporters": {"prometheus", "otlp", "otlphttp", "debug"},
    "extensions": {"health_check"},
}


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    content: dict[str, Any] = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return content


def test_every_component_a_pipeline_names_is_defined_and_known(config: dict[str, Any]) -> None:
    pipelines = config["service"]["pipelines"]
    assert set(pipelines) == {"metrics", "traces"}
    for kind in ("receivers", "processors", "exporters"):
        for name in config[kind]:
            assert name.split("/")[0] in KNOWN[kind], f"{kind}: {name}"
        used = {n for pipeline in pipelines.values() for n in pipeline.get(kind, [])}
        assert used <= set(config[kind]), f"undefined {kind}: {used - set(config[kind])}"
        assert set(config[kind]) <= used, f"unused {kind}: {set(config[kind]) - used}"
    for name in config["service"]["extensions"]:
        assert name in config["extensions"]


def test_memory_limiter_first_and_batch_last(config: dict[str, Any]) -> None:
    for name, pipeline in config["service"]["pipelines"].items():
        assert pipeline["processors"][0] == "memory_limiter", name
        assert pipeline["processors"][-1] == "batch", name


def test_otlp_in_over_grpc_and_http(config: dict[str, Any]) -> None:
    protocols = config["receivers"]["otlp"]["protocols"]
    assert protocols["grpc"]["endpoint"].endswith(":4317")
    assert protocols["http"]["endpoint"].endswith(":4318")
    for pipeline in config["service"]["pipelines"].values():
        assert pipeline["receivers"] == ["otlp"]


def test_metrics_go_to_prometheus_with_the_translation_the_rules_query(
    config: dict[str, Any],
) -> None:
    assert config["service"]["pipelines"]["metrics"]["exporters"] == ["prometheus"]
    prometheus = config["exporters"]["prometheus"]
    # Suffixes on (the default): gen_ai_client_operation_duration_seconds_bucket, *_total.
    assert prometheus.get("add_metric_suffixes", True) is True
    assert prometheus.get("translation_strategy", "UnderscoreEscapingWithSuffixes") == (
        "UnderscoreEscapingWithSuffixes"
    )
    assert "namespace" not in prometheus  # no prefix on the names
    assert prometheus["enable_open_metrics"] is True  # exemplars
    # The correlation rules join on k8s_namespace_name / k8s_pod_name, resource attributes.
    assert prometheus["resource_to_telemetry_conversion"]["enabled"] is True
    scrape = yaml.safe_load((REPO / "compose" / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    port = prometheus["endpoint"].rsplit(":", 1)[1]
    assert jobs["otel-collector"]["static_configs"][0]["targets"] == [f"otel-collector:{port}"]
    correlation = (REPO / "alerts" / "correlation.rules.yml").read_text(encoding="utf-8")
    assert "k8s_namespace_name" in correlation


def test_traces_go_to_tempo(config: dict[str, Any]) -> None:
    (exporter,) = config["service"]["pipelines"]["traces"]["exporters"]
    assert exporter.split("/")[0] == "otlp"
    assert config["exporters"][exporter]["endpoint"] == "tempo:4317"
    tempo = yaml.safe_load((REPO / "compose" / "tempo" / "tempo.yaml").read_text())
    grpc = tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"]
    assert grpc.endswith(":4317")


def test_grafana_links_exemplars_to_the_trace_store() -> None:
    path = REPO / "compose" / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
    sources = {s["uid"]: s for s in yaml.safe_load(path.read_text())["datasources"]}
    (link,) = sources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    assert link == {"name": "trace_id", "datasourceUid": "tempo"}
    assert sources["tempo"]["type"] == "tempo"
    assert sources["prometheus"]["isDefault"] is True
    assert sum(bool(s.get("isDefault")) for s in sources.values()) == 1


def test_grafana_provisions_the_committed_dashboards() -> None:
    path = REPO / "compose" / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
    (provider,) = yaml.safe_load(path.read_text())["providers"]
    compose = yaml.safe_load((REPO / "compose" / "compose.yaml").read_text())
    mount = f"../dashboards/json:{provider['options']['path']}:ro"
    assert mount in compose["services"]["grafana"]["volumes"]
    assert list((REPO / "dashboards" / "json").glob("*.json"))
