"""Scores, versions, retries, breaker states and fallbacks over real OTLP/HTTP, by their names."""

from __future__ import annotations

from typing import Any

import pybreaker
import pytest
import tenacity
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import agentwatch
from agentwatch.instrumentation import agent
from agentwatch.instrumentation.agent.signals import Signals
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.quality import scores
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.openai import fakeapi as gpt
from tests.otlp_receiver import (
    OtlpReceiver,
    attributes,
    flatten_metrics,
    log_records,
    metric_info,
    spans,
)


def workload(tracer: Any) -> None:
    """One request of an agent that uses every signal."""
    with gpt.client(gpt.fixed(lambda: gpt.json_response(gpt.completion("Paris.")))) as c:
        c.chat.completions.create(model=gpt.MODEL, messages=gpt.MESSAGES)
    agentwatch.record_quality("user_feedback", True, label="thumbs_up")

    breaker = pybreaker.CircuitBreaker(fail_max=1, name="vector_db")
    attempts: list[int] = []

    def search() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("reset")
        return "hits"

    def down() -> str:
        raise TimeoutError("llm")

    with tracer.start_as_current_span("request"):
        tenacity.Retrying(sleep=lambda s: None, wait=tenacity.wait_fixed(0.25))(search)
        with pytest.raises(pybreaker.CircuitBreakerError):
            breaker.call(down)
        agentwatch.fallback([("llm", down), ("rules", down)], human=lambda: "ticket")


def test_every_signal_arrives_over_otlp_with_the_documented_names() -> None:
    scores._last_call.set(None)
    with OtlpReceiver() as receiver:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.url("traces"), timeout=5))
        )
        exporter = OTLPMetricExporter(endpoint=receiver.url("metrics"), timeout=5)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        meter_provider = MeterProvider(metric_readers=[reader])
        logger_provider = LoggerProvider()
        logger_provider.add_log_record_processor(
            SimpleLogRecordProcessor(OTLPLogExporter(endpoint=receiver.url("logs"), timeout=5))
        )
        telemetry = Telemetry(tracer_provider, meter_provider, content=ContentPolicy())
        signals = Signals(telemetry, meter_provider, logger_provider)
        signals.components.declare({"prompt_template": "v12"})
        agent.install(signals)
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        try:
            workload(tracer_provider.get_tracer("app"))
            assert meter_provider.force_flush(timeout_millis=5000)
        finally:
            instrumentor.uninstrument()
            agent.uninstall()
            scores._last_call.set(None)
            for provider in (tracer_provider, meter_provider, logger_provider):
                provider.shutdown()

        chat, request = spans(receiver.trace_requests())
        (log,) = log_records(receiver.logs_requests())
        assert log.event_name == "gen_ai.evaluation.result"
        assert log.span_id == chat.span_id
        assert attributes(log.attributes) == {
            "gen_ai.evaluation.name": "user_feedback",
            "gen_ai.evaluation.score.value": 1.0,
            "gen_ai.evaluation.score.label": "thumbs_up",
            "gen_ai.response.id": attributes(chat.attributes)["gen_ai.response.id"],
        }
        assert [e.name for e in request.events] == [
            "agentwatch.retry.wait",
            "agentwatch.retry.attempt",
            "agentwatch.circuit_breaker.state_change",
            "agentwatch.fallback",
            "agentwatch.fallback",
            "agentwatch.fallback.escalated",
            "agentwatch.fallback",
        ]

        requests = receiver.metrics_requests()
        series = {
            (name, frozenset(attrs)): value
            for (name, attrs), value in flatten_metrics(requests).items()
        }

        def value(name: str, **attrs: Any) -> float:
            for (metric, labels), number in series.items():
                if metric == name and set(attrs.items()) <= labels:
                    return number
            raise AssertionError(f"{name} {attrs} not exported: {sorted(series)}")

        assert value("agentwatch.llm.quality.score.count", **{"gen_ai.request.model": gpt.MODEL})
        assert value("agentwatch.llm.evaluations", **{"gen_ai.evaluation.score.label": "thumbs_up"})
        assert value(
            "agentwatch.component.info",
            **{"agentwatch.component.name": "prompt_template"},
            **{"agentwatch.component.version": "v12"},
        )
        assert value("agentwatch.agent.retries", **{"agentwatch.retry.outcome": "success"}) == 1
        assert value("agentwatch.agent.retry.wait") == 0.25
        assert value("agentwatch.agent.circuit_breaker.state") == 2
        assert (
            value(
                "agentwatch.agent.circuit_breaker.transitions",
                **{"agentwatch.circuit_breaker.state": "open"},
            )
            == 1
        )
        assert value("agentwatch.agent.fallbacks", **{"agentwatch.fallback.path": "human"}) == 1
        assert value("agentwatch.agent.escalations") == 1
        info = metric_info(requests)
        assert info["agentwatch.llm.quality.score"].type == "histogram"
        assert info["agentwatch.agent.circuit_breaker.state"].type == "gauge"
        assert info["agentwatch.agent.retry.wait"].unit == "s"
