"""Embeddings: one `embeddings` span, input tokens only."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.openai import fakeapi as fake

MODEL = "text-embedding-3-small"


def embed(kind: str, handler: fake.Handler, **kwargs: Any) -> Any:
    kwargs = {"model": MODEL, "input": ["a", "b"], **kwargs}
    if kind == "sync":
        with fake.client(handler) as c:
            return c.embeddings.create(**kwargs)

    async def run() -> Any:
        async with fake.async_client(handler) as c:
            return await c.embeddings.create(**kwargs)

    return asyncio.run(run())


@pytest.mark.parametrize("kind", ["sync", "async"], ids=str)
def test_embeddings_are_one_span_with_their_formats_dimensions_and_input_tokens(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    api = fake.fixed(lambda: fake.json_response(fake.embeddings()))
    result = embed(kind, api, encoding_format="float", dimensions=4)
    assert [len(d.embedding) for d in result.data] == [4, 4]
    (span,) = finished(span_exporter)
    assert span.name == "embeddings text-embedding-3-small" and span.kind is SpanKind.CLIENT
    cost = instrumented.prices.cost("openai", MODEL, input_tokens=7, output_tokens=0)
    expected = {
        sc.OPERATION_NAME: "embeddings",
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
        sc.REQUEST_ENCODING_FORMATS: ("float",),
        sc.EMBEDDINGS_DIMENSION_COUNT: 4,
        sc.RESPONSE_MODEL: MODEL,
        sc.USAGE_INPUT_TOKENS: 7,
    }
    if cost is not None:
        expected[sc.COST_USD] = cost
    assert dict(span.attributes or {}) == expected
    (point,) = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert point.attributes[sc.TOKEN_TYPE] == "input" and point.sum == 7 and point.count == 1
    assert point.attributes[sc.OPERATION_NAME] == "embeddings"


def test_unspecified_formats_are_not_reported(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    embed("sync", fake.fixed(lambda: fake.json_response(fake.embeddings())))
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert sc.REQUEST_ENCODING_FORMATS not in attrs and sc.EMBEDDINGS_DIMENSION_COUNT not in attrs
