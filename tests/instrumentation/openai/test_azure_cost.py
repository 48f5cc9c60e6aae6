"""Azure OpenAI calls are priced only by a user's table: deployment types price differently."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.pricing import PriceTable
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.openai import fakeapi as fake

USER_FILE = """
currency: USD
providers:
  azure.ai.openai:
    gpt-4o-mini:
      input: 0.165
      cached_input: 0.083
      output: 0.66
      source: "our Azure data-zone agreement, 2026-12-01"
"""


def azure_call(prices: PriceTable) -> tuple[InMemorySpanExporter, InMemoryMetricReader]:
    exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry = Telemetry(
        tracer_provider,
        MeterProvider(metric_readers=[reader]),
        prices=prices,
        content=ContentPolicy(),
    )
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        body = fake.completion(use=fake.usage(prompt=1000, completion=500, cached=200))
        with fake.client(fake.fixed(lambda: fake.json_response(body)), azure=True) as c:
            c.chat.completions.create(model="my-deployment", messages=fake.MESSAGES)
    finally:
        instrumentor.uninstrument()
    return exporter, reader


def test_azure_gets_no_cost_from_the_shipped_table() -> None:
    exporter, reader = azure_call(PriceTable.load(user_file=None))
    (span,) = finished(exporter)
    assert span.attributes is not None and sc.PROVIDER_NAME in span.attributes
    assert span.attributes[sc.PROVIDER_NAME] == sc.PROVIDER_AZURE_OPENAI
    assert sc.COST_USD not in span.attributes
    assert points(reader, names.LLM_COST.otel) == []


def test_a_user_table_prices_azure_by_the_response_model(tmp_path: Path) -> None:
    path = tmp_path / "prices.yaml"
    path.write_text(USER_FILE)
    exporter, reader = azure_call(PriceTable.load(user_file=path))
    (span,) = finished(exporter)
    assert span.attributes is not None
    # The response names gpt-4o-mini-2024-07-18: the snapshot resolves to the user's entry.
    expected = (800 * 0.165 + 200 * 0.083 + 500 * 0.66) / 1_000_000
    assert span.attributes[sc.COST_USD] == expected
    (point,) = points(reader, names.LLM_COST.otel)
    assert point.value == expected
    assert point.attributes[sc.PROVIDER_NAME] == sc.PROVIDER_AZURE_OPENAI
