"""The quality signals on real SDK calls: hallucinated tool calls and response flags, counted.

Each case goes through the real `openai` or `anthropic` SDK against the fake APIs (their JSON and
SSE formats), instrumented, and reads the span and the metric points the call left.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.anthropic import AnthropicInstrumentor
from agentwatch.instrumentation.openai import OpenAIInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.anthropic import fakeapi as claude
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.openai import fakeapi as gpt

WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"],
    "additionalProperties": False,
}
OPENAI_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}]
ANTHROPIC_TOOLS = [
    {"name": "get_weather", "description": "Weather", "input_schema": WEATHER},
    {"type": "web_search_20250305", "name": "web_search"},
]


@pytest.fixture
def both(telemetry: Telemetry) -> Iterator[Telemetry]:
    """Both SDKs instrumented on one telemetry."""
    instrumentors = (OpenAIInstrumentor(), AnthropicInstrumentor())
    for instrumentor in instrumentors:
        instrumentor.instrument(telemetry=telemetry)
    yield telemetry
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


def counts(reader: InMemoryMetricReader, spec: names.MetricSpec, key: str | None = None) -> Any:
    """The metric's points: their total, or a total per value of attribute `key`."""
    found = points(reader, spec.otel)
    if key is None:
        return sum(p.value for p in found)
    return {p.attributes[key]: p.value for p in found}


def the_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = finished(exporter)
    return span


def hallucinations(span: ReadableSpan) -> list[dict[str, Any]]:
    return [
        dict(e.attributes or {}) for e in span.events if e.name == sc.EVENT_HALLUCINATED_TOOL_CALL
    ]


def openai_call(body: dict[str, Any], **kwargs: Any) -> Any:
    with gpt.client(gpt.fixed(lambda: gpt.json_response(body))) as c:
        return c.chat.completions.create(model=gpt.MODEL, messages=gpt.MESSAGES, **kwargs)


# --- OpenAI --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "reason", "detail"),
    [
        (gpt.tool_call("get_wether"), "unknown_tool", None),
        (gpt.tool_call("get_weather", '{"city": "Paris"'), "invalid_json", "Expecting"),
        (gpt.tool_call("get_weather", '{"town": "Paris"}'), "schema_violation", "/: "),
        (
            gpt.tool_call("get_weather", '{"city": "Oslo", "days": "3"}'),
            "schema_violation",
            "/days",
        ),
    ],
    ids=["unknown", "bad-json", "missing-required", "wrong-type"],
)
def test_a_hallucinated_openai_tool_call_is_an_event_an_attribute_and_a_count(
    call: dict[str, Any],
    reason: str,
    detail: str | None,
    both: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    body = gpt.completion(None, tool_calls=[call, gpt.tool_call("get_weather", n=1)])
    result = openai_call(body, tools=OPENAI_TOOLS)
    assert result.choices[0].message.tool_calls[0].function.name == call["function"]["name"]
    span = the_span(span_exporter)
    assert span.attributes is not None
    assert span.attributes[sc.HALLUCINATED_TOOL_CALLS] == 1
    (event,) = hallucinations(span)
    assert event[sc.TOOL_NAME] == call["function"]["name"]
    assert event[sc.TOOL_CALL_ID] == "call_0" and event[sc.TOOL_CALL_REASON] == reason
    if detail is not None:
        assert detail in event[sc.TOOL_CALL_DETAIL] and "Paris" not in event[sc.TOOL_CALL_DETAIL]
    assert counts(metric_reader, names.LLM_TOOL_CALLS) == 2
    assert counts(metric_reader, names.LLM_HALLUCINATED_TOOL_CALLS, sc.TOOL_CALL_REASON) == {
        reason: 1
    }
    (point,) = points(metric_reader, names.LLM_HALLUCINATED_TOOL_CALLS.otel)
    assert dict(point.attributes) == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: gpt.MODEL,
        sc.TOOL_CALL_REASON: reason,
    }


def test_calls_the_request_allows_are_counted_and_not_flagged(
    both: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    body = gpt.completion(None, tool_calls=[gpt.tool_call("get_weather")])
    openai_call(body, tools=OPENAI_TOOLS)
    span = the_span(span_exporter)
    assert span.attributes is not None and span.attributes[sc.HALLUCINATED_TOOL_CALLS] == 0
    assert sc.RESPONSE_FLAGS not in span.attributes and hallucinations(span) == []
    assert counts(metric_reader, names.LLM_TOOL_CALLS) == 1
    assert points(metric_reader, names.LLM_HALLUCINATED_TOOL_CALLS.otel) == []


def test_without_tools_offered_nothing_is_judged(
    both: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    openai_call(gpt.completion(None, tool_calls=[gpt.tool_call("anything")]))
    span = the_span(span_exporter)
    assert span.attributes is not None and sc.HALLUCINATED_TOOL_CALLS not in span.attributes
    assert points(metric_reader, names.LLM_TOOL_CALLS.otel) == []


def test_a_streamed_tool_call_is_checked_whole_once_it_has_ended(
    both: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    def call_delta(arguments: str, first: bool = False) -> dict[str, Any]:
        call: dict[str, Any] = {"index": 0, "function": {"arguments": arguments}}
        if first:
            call.update(id="call_7", type="function")
            call["function"]["name"] = "get_weather"
        return {"tool_calls": [call]}

    chunks = [
        gpt.chunk({"role": "assistant", "content": None}),
        gpt.chunk(call_delta("", first=True)),
        gpt.chunk(call_delta('{"city": ')),
        gpt.chunk(call_delta('"Paris", "when": "now"}')),  # `when` is not in the schema
        gpt.chunk({}, finish_reason="tool_calls"),
    ]
    with gpt.client(gpt.fixed(lambda: gpt.sse_response(gpt.sse(chunks)))) as c:
        stream = c.chat.completions.create(
            model=gpt.MODEL, messages=gpt.MESSAGES, tools=OPENAI_TOOLS, stream=True
        )
        got = [chunk for chunk in stream]
    assert len(got) == len(chunks)
    (event,) = hallucinations(the_span(span_exporter))
    assert event[sc.TOOL_CALL_REASON] == "schema_violation"
    assert event[sc.TOOL_CALL_ID] == "call_7"
    assert "additionalProperties" in event[sc.TOOL_CALL_DETAIL]
    assert counts(metric_reader, names.LLM_TOOL_CALLS) == 1


@pytest.mark.parametrize(
    ("body", "kwargs", "flags"),
    [
        (
            gpt.completion("Sure! Here it is: {}"),
            {"response_format": {"type": "json_object"}},
            ("invalid_json",),
        ),
        (gpt.completion('{"ok": true}'), {"response_format": {"type": "json_object"}}, ()),
        (gpt.completion(""), {}, ("empty",)),
        (gpt.completion("The answer is", finish_reason="length"), {}, ("truncated",)),
        (gpt.completion(None, finish_reason="content_filter"), {}, ("content_filter", "empty")),
    ],
    ids=["invalid-json", "valid-json", "empty", "truncated", "filtered"],
)
def test_response_flags_are_on_the_span_and_counted(
    body: dict[str, Any],
    kwargs: dict[str, Any],
    flags: tuple[str, ...],
    both: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    openai_call(body, **kwargs)
    attrs = dict(the_span(span_exporter).attributes or {})
    assert attrs.get(sc.RESPONSE_FLAGS, ()) == flags
    assert counts(metric_reader, names.LLM_RESPONSE_FLAGS, sc.RESPONSE_FLAG) == dict.fromkeys(
        flags, 1
    )


def test_a_refusal_is_flagged(both: Telemetry, span_exporter: InMemorySpanExporter) -> None:
    body = gpt.completion(None)
    body["choices"][0]["message"]["refusal"] = "I can't help with that."
    openai_call(body)
    assert dict(the_span(span_exporter).attributes or {})[sc.RESPONSE_FLAGS] == ("refusal",)


def test_a_failed_call_is_not_judged(
    both: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    with (
        gpt.client(gpt.fixed(lambda: gpt.json_response({"error": {}}, 500))) as c,
        pytest.raises(Exception, match="500"),
    ):
        c.chat.completions.create(model=gpt.MODEL, messages=gpt.MESSAGES, tools=OPENAI_TOOLS)
    assert sc.RESPONSE_FLAGS not in dict(the_span(span_exporter).attributes or {})
    assert points(metric_reader, names.LLM_RESPONSE_FLAGS.otel) == []


# --- Anthropic -----------------------------------------------------------------------------------


def anthropic_call(body: dict[str, Any], **kwargs: Any) -> Any:
    with claude.client(claude.fixed(lambda: claude.json_response(body))) as c:
        return c.messages.create(**{**claude.CALL, **kwargs})


def test_anthropic_tool_use_is_checked_and_server_tools_are_not(
    both: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    server_call = {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search"}
    server_call["input"] = {"query": "weather"}
    content = [
        claude.tool_use("get_weather", {"city": "Paris"}),
        claude.tool_use("book_flight", {"to": "Paris"}, n=1),
        server_call,
    ]
    anthropic_call(claude.message(content, stop_reason="tool_use"), tools=ANTHROPIC_TOOLS)
    span = the_span(span_exporter)
    (event,) = hallucinations(span)
    assert (event[sc.TOOL_NAME], event[sc.TOOL_CALL_REASON]) == ("book_flight", "unknown_tool")
    assert event[sc.TOOL_CALL_ID] == "toolu_1"
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather", "book_flight", "web_search")
    assert counts(metric_reader, names.LLM_TOOL_CALLS) == 2  # the server tool is not judged


def test_an_anthropic_stream_checks_the_tool_input_it_assembled(
    both: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    items = claude.events(
        ["Let me check."], stop_reason="tool_use", tool=("get_weather", ['{"ci', 'ty": 7}'])
    )
    with claude.client(claude.fixed(lambda: claude.sse_response(claude.sse(items)))) as c:
        with c.messages.stream(**{**claude.CALL, "tools": ANTHROPIC_TOOLS}) as stream:
            final = stream.get_final_message()
    assert final.content[1].input == {"city": 7}
    (event,) = hallucinations(the_span(span_exporter))
    assert event[sc.TOOL_CALL_REASON] == "schema_violation"
    assert event[sc.TOOL_CALL_DETAIL].startswith("/city: type")


def test_anthropic_truncation_and_empty_text_are_flagged(
    both: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    anthropic_call(claude.message([claude.text("The first step is")], stop_reason="max_tokens"))
    anthropic_call(claude.message([], stop_reason="end_turn"))
    first, second = finished(span_exporter)
    assert dict(first.attributes or {})[sc.RESPONSE_FLAGS] == ("truncated",)
    assert dict(second.attributes or {})[sc.RESPONSE_FLAGS] == ("empty",)


def test_a_streamed_anthropic_text_is_not_empty(
    both: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    items = claude.events(["Hel", "lo"])
    with claude.client(claude.fixed(lambda: claude.sse_response(claude.sse(items)))) as c:
        for _ in c.messages.create(**{**claude.CALL, "stream": True}):
            pass
    assert sc.RESPONSE_FLAGS not in dict(the_span(span_exporter).attributes or {})


def test_the_signals_arrive_over_otlp_with_the_documented_names() -> None:
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from agentwatch.instrumentation.content import ContentPolicy
    from tests.otlp_receiver import OtlpReceiver, attributes, flatten_metrics, spans

    with OtlpReceiver() as receiver:
        tracer_provider = TracerProvider()
        tracer_provider.add_span_processor(
            SimpleSpanProcessor(OTLPSpanExporter(endpoint=receiver.url("traces"), timeout=5))
        )
        exporter = OTLPMetricExporter(endpoint=receiver.url("metrics"), timeout=5)
        reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
        meter_provider = MeterProvider(metric_readers=[reader])
        telemetry = Telemetry(tracer_provider, meter_provider, content=ContentPolicy())
        instrumentor = OpenAIInstrumentor()
        instrumentor.instrument(telemetry=telemetry)
        try:
            body = gpt.completion("", tool_calls=[gpt.tool_call("get_wether")])
            openai_call(body, tools=OPENAI_TOOLS)
            assert meter_provider.force_flush(timeout_millis=5000)
        finally:
            instrumentor.uninstrument()
            tracer_provider.shutdown()
            meter_provider.shutdown()
        (span,) = spans(receiver.trace_requests())
        (event,) = span.events
        assert event.name == "agentwatch.tool_call.hallucinated"
        assert attributes(event.attributes)["agentwatch.tool_call.reason"] == "unknown_tool"
        assert attributes(span.attributes)["agentwatch.response.hallucinated_tool_calls"] == 1
        series = {
            (name, dict(attrs).get(key)): value
            for (name, attrs), value in flatten_metrics(receiver.metrics_requests()).items()
            for key in ("agentwatch.tool_call.reason", "agentwatch.response.flag")
            if name.startswith("agentwatch.llm.")
        }
        assert series[("agentwatch.llm.hallucinated_tool_calls", "unknown_tool")] == 1
        assert series[("agentwatch.llm.tool_calls", None)] == 1
