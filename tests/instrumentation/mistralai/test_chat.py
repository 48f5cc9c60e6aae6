"""Chat.complete and its async twin: one CLIENT span per call, the conventions' attributes."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from mistralai.client import errors, models
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.mistralai import responses as rs
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.mistralai import fakeapi as fake

KINDS = ["sync", "async"]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


def call(kind: str, handler: fake.Handler, **kwargs: Any) -> Any:
    """`client.chat.complete(**kwargs)` or `complete_async`."""
    kwargs = {**fake.CALL, **kwargs}
    client = fake.client(handler)
    if kind == "sync":
        return client.chat.complete(**kwargs)
    return asyncio.run(client.chat.complete_async(**kwargs))


def answering(body: dict[str, Any], status: int = 200) -> fake.Api:
    return fake.fixed(lambda: fake.json_response(body, status))


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_completion_is_one_client_span_with_exactly_the_conventions_attributes(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    use = fake.usage(prompt=1000, completion=20, cached=400)
    result = call(
        kind,
        answering(fake.completion(use=use)),
        temperature=0.2,
        top_p=0.9,
        max_tokens=256,
        stop=["END"],
        random_seed=7,
    )
    assert isinstance(result, models.ChatCompletionResponse)
    (span,) = finished(span_exporter)
    assert span.name == "chat mistral-small-latest"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    # 600 uncached at $0.10, 400 cached at $0.01, 20 out at $0.30 (per million).
    assert attributes.pop(sc.COST_USD) == pytest.approx((600 * 0.10 + 400 * 0.01 + 20 * 0.30) / 1e6)
    assert attributes == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "mistral_ai",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
        sc.REQUEST_MAX_TOKENS: 256,
        sc.REQUEST_TEMPERATURE: 0.2,
        sc.REQUEST_TOP_P: 0.9,
        sc.REQUEST_STOP_SEQUENCES: ("END",),
        sc.REQUEST_SEED: 7,
        sc.REQUEST_STREAM: False,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.RESPONSE_ID: "cmpl-123",
        sc.RESPONSE_FINISH_REASONS: ("stop",),
        sc.USAGE_INPUT_TOKENS: 1000,
        sc.USAGE_OUTPUT_TOKENS: 20,
        sc.USAGE_CACHE_READ_INPUT_TOKENS: 400,
    }


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_duration_and_tokens_are_recorded_once(
    kind: str, instrumented: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    call(kind, answering(fake.completion(use=fake.usage(prompt=10, completion=5))))
    base = {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "mistral_ai",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
    }
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert dict(duration.attributes) == base and duration.count == 1
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 10, 1),
        ("output", 5, 1),
    ]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("stop", "stop"), ("length", "length"), ("model_length", "length"), ("error", "error")],
    ids=str,
)
def test_finish_reasons_pass_through_and_model_length_is_length(
    reason: str, expected: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.completion(finish_reason=reason)))
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.RESPONSE_FINISH_REASONS] == (expected,)


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_tool_calls_are_recorded_and_checked_against_the_offered_tools(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    calls = [
        fake.tool_call("get_weather", '{"city": "Paris"}', "c1"),
        fake.tool_call("get_weather", '{"city": ', "c2"),
        fake.tool_call("book_flight", "{}", "c3"),
    ]
    body = fake.completion("", finish_reason="tool_calls", tool_calls=calls)
    call(kind, answering(body), tools=[WEATHER])
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.TOOL_CALL_NAMES] == ("get_weather", "get_weather", "book_flight")
    assert attributes[sc.HALLUCINATED_TOOL_CALLS] == 2
    events = {
        dict(e.attributes or {})[sc.TOOL_CALL_ID]: dict(e.attributes or {}) for e in span.events
    }
    assert events["c2"][sc.TOOL_CALL_REASON] == "invalid_json"
    assert events["c3"][sc.TOOL_CALL_REASON] == "unknown_tool"
    assert sc.RESPONSE_FLAGS not in attributes  # tool calls are an answer, not "empty"


def test_tools_given_as_sdk_models_are_checked_too(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    tool = models.Tool.model_validate(WEATHER)
    body = fake.completion("", tool_calls=[fake.tool_call("get_weather", '{"town": "Paris"}')])
    call("sync", answering(body), tools=[tool])
    (span,) = finished(span_exporter)
    (event,) = span.events
    assert dict(event.attributes or {})[sc.TOOL_CALL_REASON] == "schema_violation"


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize("status", [401, 429, 503], ids=str)
def test_an_error_response_is_an_error_span_and_the_sdk_exception_unchanged(
    kind: str,
    status: int,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with pytest.raises(errors.SDKError) as raised:
        call(kind, answering(fake.error("nope"), status))
    assert raised.value.status_code == status and "nope" in str(raised.value)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == str(status)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.attributes[sc.ERROR_TYPE] == str(status)


def test_nothing_of_the_content_is_recorded_by_default(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.completion()), tools=[WEATHER])
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    for key in (sc.INPUT_MESSAGES, sc.OUTPUT_MESSAGES, sc.TOOL_DEFINITIONS):
        assert key not in attributes
    assert "Hello" not in json.dumps(attributes)


def test_content_is_recorded_in_the_conventions_shapes_when_enabled(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    messages = [
        {"role": "system", "content": "Be terse."},
        models.UserMessage(content="Weather in Paris?"),
        {"role": "assistant", "content": "", "tool_calls": [fake.tool_call("get_weather", "{}")]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    thinking = {"type": "thinking", "thinking": [{"type": "text", "text": "Hmm."}]}
    body = fake.completion([thinking, {"type": "text", "text": "Sunny."}])
    call("sync", answering(body), messages=messages, tools=[WEATHER])
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert json.loads(str(attributes[sc.INPUT_MESSAGES])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "get_weather", "arguments": {}}
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}],
        },
    ]
    (definition,) = json.loads(str(attributes[sc.TOOL_DEFINITIONS]))
    assert definition["name"] == "get_weather" and definition["type"] == "function"
    assert json.loads(str(attributes[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "reasoning", "content": "Hmm."},
                {"type": "text", "content": "Sunny."},
            ],
            "finish_reason": "stop",
        }
    ]


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_reader_failure_is_counted_and_the_call_returns_unchanged(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(inv: Any, response: Any) -> None:
        raise RuntimeError("a reader bug")

    monkeypatch.setattr(rs, "read_completion", broken)
    with caplog.at_level(logging.CRITICAL, "agentwatch"):
        result = call(kind, answering(fake.completion()))
    assert result.choices[0].message.content == "Hello!"
    assert len(finished(span_exporter)) == 1
    (error,) = points(metric_reader, names.INSTRUMENTATION_ERRORS.otel)
    assert error.value == 1


def test_a_response_with_surprising_fields_is_read_without_failing(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    body = fake.completion(use={"surprise": [1]})
    body["choices"][0]["message"]["content"] = None
    result = call("sync", answering(body))
    assert result.choices[0].message.content is None
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.RESPONSE_FLAGS] == ("empty",)
    assert points(metric_reader, names.INSTRUMENTATION_ERRORS.otel) == []


def test_json_output_that_does_not_parse_is_flagged(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.completion("{oops")), response_format={"type": "json_object"})
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.OUTPUT_TYPE] == "json" and attributes[sc.RESPONSE_FLAGS] == (
        "invalid_json",
    )


def test_the_sdks_own_span_is_replaced_by_a_traceparent_naming_ours(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    from mistralai.extra.observability import configure_telemetry

    sdk_spans = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(sdk_spans))
    api = answering(fake.completion())
    client = fake.client(api)
    configure_telemetry(client, provider=provider)
    client.chat.complete(**fake.CALL)
    (span,) = finished(span_exporter)
    assert sdk_spans.get_finished_spans() == ()
    assert span.context is not None
    trace_id, span_id = f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}"
    assert api.headers[0]["traceparent"].startswith(f"00-{trace_id}-{span_id}-")


def test_undeclared_usage_fields_are_read_from_the_extras_like_getattr_does() -> None:
    with_details = models.UsageInfo.model_validate(fake.usage(cached=7))
    plain = models.UsageInfo.model_validate(fake.usage())
    for usage in (with_details, plain):
        for name in ("prompt_tokens_details", "prompt_tokens", "model_fields_set", "absent"):
            assert rs._extra(usage, name) == getattr(usage, name, None)
    assert rs._extra(with_details, "prompt_tokens_details") == {"cached_tokens": 7}
    assert rs._extra(plain, "prompt_tokens_details") is None
