"""anthropic 2.x traces its own calls: with agentwatch on, one call is still exactly one span.

The SDK is given a real SDK TracerProvider (as its `open_telemetry` option, and as the global
provider), so it would emit its own CLIENT span; the tests prove it does when agentwatch is off,
that agentwatch's span is the only one when it is on, and that the request still carries a
`traceparent`, now naming agentwatch's span.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation.anthropic import AnthropicInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.anthropic import fakeapi as fake


@pytest.fixture
def sdk_provider(
    span_exporter: InMemorySpanExporter, no_global_providers: None
) -> Iterator[TracerProvider]:
    """One SDK provider for agentwatch and the SDK alike, also set as the global one."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    trace._TRACER_PROVIDER = provider  # type: ignore[attr-defined]  # restored by the fixture
    yield provider


def traceparent_span_id(api: fake.Api, n: int = -1) -> int:
    header = api.headers[n]["traceparent"]
    return int(header.split("-")[2], 16)


def run_calls(api: fake.Api, provider: TracerProvider, how: str) -> None:
    options: dict[str, Any] = {"open_telemetry": {"tracer_provider": provider}}
    if how == "create":
        with fake.client(api, **options) as c:
            c.messages.create(**fake.CALL)
    elif how == "stream":
        with fake.client(api, **options) as c:
            for _ in c.messages.create(**fake.CALL, stream=True):
                pass
    elif how == "helper":
        with fake.client(api, **options) as c:
            with c.messages.stream(**fake.CALL) as stream:
                stream.until_done()
    elif how == "global":  # no option: the SDK takes the global provider
        with fake.client(api) as c:
            c.messages.create(**fake.CALL)
    else:

        async def run() -> None:
            async with fake.async_client(api, **options) as c:
                await c.messages.create(**fake.CALL)

        asyncio.run(run())


def answer(body: dict[str, Any]) -> Any:
    if body.get("stream"):
        return fake.sse_response(fake.sse(fake.events(["Hi"])))
    return fake.json_response(fake.message())


HOW = ["create", "stream", "helper", "global", "async"]


@pytest.mark.parametrize("how", HOW, ids=str)
def test_without_agentwatch_the_sdk_emits_its_own_span(
    how: str, sdk_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    api = fake.Api(answer)
    run_calls(api, sdk_provider, how)
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "anthropic.messages.create"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name.startswith("com.anthropic")
    assert traceparent_span_id(api) == span.context.span_id


@pytest.mark.parametrize("how", HOW, ids=str)
def test_with_agentwatch_one_call_is_exactly_one_span_and_propagates_it(
    how: str, sdk_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    telemetry = Telemetry(sdk_provider, None)
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    api = fake.Api(answer)
    try:
        with telemetry.tracer.start_as_current_span("user work") as parent:
            run_calls(api, sdk_provider, how)
    finally:
        instrumentor.uninstrument()
    spans = [s for s in span_exporter.get_finished_spans() if s.name != "user work"]
    assert [s.name for s in spans] == ["chat claude-sonnet-4-5"]
    (ours,) = spans
    assert ours.parent is not None and ours.parent.span_id == parent.get_span_context().span_id
    # The SDK still sent the trace context: agentwatch's span, in the user's trace.
    assert traceparent_span_id(api) == ours.context.span_id
    assert api.headers[-1]["traceparent"].split("-")[1] == f"{ours.context.trace_id:032x}"

    span_exporter.clear()
    run_calls(api, sdk_provider, how)  # uninstrumented again: the SDK's own span is back
    assert [s.name for s in span_exporter.get_finished_spans()] == ["anthropic.messages.create"]


def test_calls_agentwatch_does_not_trace_keep_the_sdks_span(
    sdk_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(sdk_provider, None))
    models = {"data": [], "has_more": False, "first_id": None, "last_id": None}
    api = fake.fixed(lambda: fake.json_response(models))
    try:
        with fake.client(api, open_telemetry={"tracer_provider": sdk_provider}) as c:
            c.models.list()
    finally:
        instrumentor.uninstrument()
    assert [s.name for s in span_exporter.get_finished_spans()] == ["anthropic.models.list"]


def test_a_client_with_propagation_off_sends_no_traceparent(
    sdk_provider: TracerProvider, span_exporter: InMemorySpanExporter
) -> None:
    instrumentor = AnthropicInstrumentor()
    instrumentor.instrument(telemetry=Telemetry(sdk_provider, None))
    api = fake.Api(answer)
    option = {"tracer_provider": sdk_provider, "propagation": False}
    try:
        with fake.client(api, open_telemetry=option) as c:
            c.messages.create(**fake.CALL)
    finally:
        instrumentor.uninstrument()
    assert "traceparent" not in api.headers[0]
    assert [s.name for s in span_exporter.get_finished_spans()] == ["chat claude-sonnet-4-5"]
