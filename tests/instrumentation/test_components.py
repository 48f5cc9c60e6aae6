"""Component versions: declared once, exported as resource attributes and `component.info`."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider

import agentwatch
from agentwatch import names
from agentwatch.instrumentation import components, providers, setup
from agentwatch.instrumentation import semconv as sc
from tests.instrumentation.conftest import points
from tests.otlp_receiver import OtlpReceiver, flatten_metrics, resource_attributes

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = {"model": "gpt-4o-2024-08-06", "prompt_template": "v12", "vector_db": "qdrant-1.9.2"}


@pytest.fixture
def undo() -> Iterator[None]:
    yield
    agentwatch.uninstrument()


def info(reader: InMemoryMetricReader) -> dict[str, str]:
    """component -> version, as the gauge says (each 1)."""
    found = points(reader, names.COMPONENT_INFO.otel)
    assert all(p.value == 1 for p in found)
    return {p.attributes[sc.COMPONENT_NAME]: p.attributes[sc.COMPONENT_VERSION] for p in found}


def test_the_environment_declares_versions_and_arguments_win(
    caplog: pytest.LogCaptureFixture,
) -> None:
    env = {
        "OTEL_RESOURCE_ATTRIBUTES": "service.version=1.0,"
        "agentwatch.component.agent.version=2.3.1,"
        "agentwatch.component.model.version=gpt-4o%2Bft,"  # percent-encoded, as the spec says
        "agentwatch.component.Bad Name.version=1"
    }
    with caplog.at_level(logging.WARNING, "agentwatch.instrumentation"):
        found = components.declared({"model": "gpt-4o-mini"}, env)
    assert found == {"agent": "2.3.1", "model": "gpt-4o-mini"}
    assert components.from_environment(env)["model"] == "gpt-4o+ft"
    assert "Bad Name" in caplog.text
    assert components.resource_attributes({"agent": "2.3.1"}) == {
        "agentwatch.component.agent.version": "2.3.1"
    }


@pytest.mark.parametrize(
    "bad",
    [{"Model": "x"}, {"model": ""}, {"model": 3}, {"model": "v" * 200}, {"": "1"}],
    ids=["upper-case", "empty-version", "not-a-string", "too-long", "empty-name"],
)
def test_bad_components_are_refused_and_nothing_is_instrumented(
    bad: dict[str, Any], undo: None
) -> None:
    with pytest.raises(ValueError, match="component"):
        agentwatch.instrument(
            tracer_provider=TracerProvider(), meter_provider=MeterProvider(), components=bad
        )
    assert setup._state is None


def test_instrument_declares_the_gauge_on_the_given_provider(
    undo: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "agentwatch.component.agent.version=2.3.1")
    reader = InMemoryMetricReader()
    agentwatch.instrument(
        tracer_provider=TracerProvider(),
        meter_provider=MeterProvider(metric_readers=[reader]),
        components=VERSIONS,
    )
    assert info(reader) == {**VERSIONS, "agent": "2.3.1"}


def test_a_second_instrument_on_the_same_provider_observes_its_own_versions(
    undo: None,
) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    agentwatch.instrument(
        tracer_provider=TracerProvider(), meter_provider=provider, components={"agent": "1"}
    )
    agentwatch.uninstrument()
    agentwatch.instrument(
        tracer_provider=TracerProvider(), meter_provider=provider, components={"agent": "2"}
    )
    assert info(reader) == {"agent": "2"}


def test_providers_agentwatch_builds_carry_the_versions_as_resource_attributes() -> None:
    built = providers.install_from_env(
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"},
        metric_readers=(InMemoryMetricReader(),),
        resource_attributes=components.resource_attributes(VERSIONS),
    )
    try:
        resource = dict(built.meter_provider._sdk_config.resource.attributes)
    finally:
        built.close()
    assert resource["agentwatch.component.vector_db.version"] == "qdrant-1.9.2"
    assert resource["agentwatch.component.prompt_template.version"] == "v12"


APP = """
import agentwatch
agentwatch.instrument(components={"prompt_template": "v12", "vector_db": "qdrant-1.9.2"})
agentwatch.uninstrument()
"""


def test_versions_arrive_over_otlp_as_resource_and_gauge() -> None:
    with OtlpReceiver() as receiver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            PYTHONPATH=str(ROOT),
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_TRACES_EXPORTER="none",
            OTEL_METRIC_EXPORT_INTERVAL="3600000",
            OTEL_SERVICE_NAME="support-agent",
            OTEL_RESOURCE_ATTRIBUTES="agentwatch.component.agent.version=2.3.1",
        )
        done = subprocess.run(
            [sys.executable, "-c", APP],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        requests = receiver.metrics_requests()  # exported by uninstrument()'s flush
        assert requests, done.stderr
        resource = resource_attributes(requests[0])
        assert resource["service.name"] == "support-agent"
        assert resource["agentwatch.component.agent.version"] == "2.3.1"
        assert resource["agentwatch.component.vector_db.version"] == "qdrant-1.9.2"
        series = {
            (dict(attrs)[sc.COMPONENT_NAME], dict(attrs)[sc.COMPONENT_VERSION]): value
            for (name, attrs), value in flatten_metrics(requests).items()
            if name == "agentwatch.component.info"
        }
        assert series == {
            ("agent", "2.3.1"): 1,
            ("prompt_template", "v12"): 1,
            ("vector_db", "qdrant-1.9.2"): 1,
        }
