"""Chat v2 `chat`, sync and async: one CLIENT span per call, the conventions' attributes."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import cohere
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.cohere import CohereInstrumentor
from agentwatch.instrumentation.cohere import responses as rs
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.cohere import fakeapi as fake
from tests.instrumentation.conftest import finished, points

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
    """`client.chat(**kwargs)` on `ClientV2` or `AsyncClientV2`."""
    kwargs = {**fake.CALL, **kwargs}
    if kind == "sync":
        return fake.client(handler).chat(**kwargs)
    return asyncio.run(fake.async_client(handler).chat(**kwargs))


def answering(body: dict[str, Any], status: int = 200) -> fake.Api:
    return fake.fixed(lambda: fake.json_response(body, status))


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_chat_is_one_client_span_with_exactly_the_conventions_attributes(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    use = fake.usage(billed=(100, 20), model=(310, 20))
    result = call(
        kind,
        answering(fake.response(use=use)),
        temperature=0.3,
        p=0.75,
        k=40,
        max_tokens=256,
        stop_sequences=["END"],
        seed=7,
    )
    assert isinstance(result, cohere.V2ChatResponse) and result.message.content[0].text == "Hello!"
    (span,) = finished(span_exporter)
    assert span.name == "chat command-a-03-2025"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    attributes = dict(span.attributes or {})
    # Billed: 100 in at $2.50, 20 out at $10 (per million); the template's 210 are not billed.
    assert attributes.pop(sc.COST_USD) == pytest.approx((100 * 2.50 + 20 * 10.00) / 1e6)
    assert attributes == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "cohere",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
        sc.REQUEST_MAX_TOKENS: 256,
        sc.REQUEST_TEMPERATURE: 0.3,
        sc.REQUEST_TOP_P: 0.75,
        sc.REQUEST_TOP_K: 40.0,
        sc.REQUEST_STOP_SEQUENCES: ("END",),
        sc.REQUEST_SEED: 7,
        sc.REQUEST_STREAM: False,
        sc.RESPONSE_ID: "resp-123",
        sc.RESPONSE_FINISH_REASONS: ("stop",),
        sc.USAGE_INPUT_TOKENS: 100,
        sc.USAGE_OUTPUT_TOKENS: 20,
        rs.MODEL_INPUT_TOKENS: 310,
    }


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_duration_and_billed_tokens_are_recorded_once(
    kind: str, instrumented: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    call(kind, answering(fake.response(use=fake.usage(billed=(10, 5)))))
    base = {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "cohere",
        sc.REQUEST_MODEL: fake.MODEL,
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


def test_without_billed_units_the_models_own_counts_are_the_usage(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.response(use=fake.usage(billed=None, model=(210, 7)))))
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.USAGE_INPUT_TOKENS] == 210 and attributes[sc.USAGE_OUTPUT_TOKENS] == 7
    assert rs.MODEL_INPUT_TOKENS not in attributes


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("COMPLETE", "stop"),
        ("STOP_SEQUENCE", "stop"),
        ("MAX_TOKENS", "length"),
        ("TOOL_CALL", "tool_call"),
        ("ERROR", "error"),
        ("TIMEOUT", "timeout"),
    ],
    ids=str,
)
def test_finish_reasons_become_the_conventions_values(
    reason: str, expected: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.response(finish_reason=reason)))
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
        fake.tool_call("get_weather", '{"town": "Paris"}', "c2"),
        fake.tool_call("book_flight", "{}", "c3"),
    ]
    body = fake.response(None, finish_reason="TOOL_CALL", tool_calls=calls)
    call(kind, answering(body), tools=[WEATHER])
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.TOOL_CALL_NAMES] == ("get_weather", "get_weather", "book_flight")
    assert attributes[sc.HALLUCINATED_TOOL_CALLS] == 2
    reasons = {
        dict(e.attributes or {})[sc.TOOL_CALL_ID]: dict(e.attributes or {})[sc.TOOL_CALL_REASON]
        for e in span.events
    }
    assert reasons == {"c2": "schema_violation", "c3": "unknown_tool"}
    assert sc.RESPONSE_FLAGS not in attributes
    (counted,) = points(metric_reader, names.LLM_TOOL_CALLS.otel)
    assert counted.value == 3


def test_tools_given_as_sdk_models_are_checked_too(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    tool = cohere.ToolV2.model_validate(WEATHER)
    body = fake.response(None, tool_calls=[fake.tool_call("get_time", "{}")])
    call("sync", answering(body), tools=[tool])
    (span,) = finished(span_exporter)
    (event,) = span.events
    assert dict(event.attributes or {})[sc.TOOL_CALL_REASON] == "unknown_tool"


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, cohere.BadRequestError),
        (429, cohere.TooManyRequestsError),
        (500, cohere.InternalServerError),
    ],
    ids=str,
)
def test_an_error_response_is_an_error_span_and_the_sdk_exception_unchanged(
    kind: str,
    status: int,
    exception: type[Exception],
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    with pytest.raises(exception) as raised:
        call(kind, answering({"message": "nope"}, status))
    assert raised.value.status_code == status  # type: ignore[attr-defined]
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == str(status)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.attributes[sc.ERROR_TYPE] == str(status)


def test_nothing_of_the_content_is_recorded_by_default(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.response()), tools=[WEATHER])
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
        cohere.UserChatMessageV2(content="Weather in Paris?"),
        {"role": "assistant", "tool_calls": [fake.tool_call("get_weather", '{"city": "Paris"}')]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    call("sync", answering(fake.response("Sunny.")), messages=messages, tools=[WEATHER])
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    weather_call = {"type": "tool_call", "id": "call_1", "name": "get_weather"}
    assert json.loads(str(attributes[sc.INPUT_MESSAGES])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "assistant", "parts": [{**weather_call, "arguments": {"city": "Paris"}}]},
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_1", "response": "sunny"}],
        },
    ]
    (definition,) = json.loads(str(attributes[sc.TOOL_DEFINITIONS]))
    assert definition["name"] == "get_weather"
    assert definition["parameters"] == WEATHER["function"]["parameters"]  # type: ignore[index]
    assert json.loads(str(attributes[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "Sunny."}],
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

    monkeypatch.setattr(rs, "read_chat", broken)
    with caplog.at_level(logging.CRITICAL, "agentwatch"):
        result = call(kind, answering(fake.response()))
    assert result.message.content[0].text == "Hello!"
    assert len(finished(span_exporter)) == 1
    (error,) = points(metric_reader, names.INSTRUMENTATION_ERRORS.otel)
    assert error.value == 1


def test_a_malformed_body_the_unchecked_sdk_accepts_records_nothing_wrong(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    # The SDK builds responses without validation: wrong types reach the reader as they came.
    body = fake.response()
    body["usage"] = {"billed_units": {"input_tokens": "many", "output_tokens": 2.5}}
    body["message"]["content"] = "not a list"
    body["message"]["tool_calls"] = {"id": 1}
    body["finish_reason"] = 7

    def seen(result: Any) -> tuple[Any, ...]:
        message, usage = result.message, result.usage
        return (result.finish_reason, message.content, message.tool_calls, usage.billed_units)

    expected = seen(call("sync", answering(body)))  # the plain SDK's answer
    assert expected[:3] == (7, "not a list", {"id": 1})
    instrumentor = CohereInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        assert seen(call("sync", answering(body))) == expected
    finally:
        instrumentor.uninstrument()
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    for key in (sc.USAGE_INPUT_TOKENS, sc.USAGE_OUTPUT_TOKENS, sc.RESPONSE_FINISH_REASONS):
        assert key not in attributes
    assert attributes[sc.RESPONSE_FLAGS] == ("empty",)
    assert points(metric_reader, names.INSTRUMENTATION_ERRORS.otel) == []


def test_json_output_that_does_not_parse_is_flagged(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.response("{oops")), response_format={"type": "json_object"})
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.OUTPUT_TYPE] == "json"
    assert attributes[sc.RESPONSE_FLAGS] == ("invalid_json",)


def test_the_v1_chat_of_the_combined_client_is_not_traced(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    v1 = {"text": "Hi", "generation_id": "g", "finish_reason": "COMPLETE", "chat_history": []}
    http = fake.httpx.Client(transport=fake.httpx.MockTransport(answering(v1)))
    client = cohere.Client(api_key="k", base_url=fake.BASE_URL, httpx_client=http)
    assert client.chat(message="Hi").text == "Hi"
    assert finished(span_exporter) == []


@pytest.mark.parametrize("method", ["chat", "chat_stream"], ids=str)
def test_a_client_built_before_instrumenting_is_traced_too(
    method: str, telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    # `ClientV2.__init__` binds `chat` and `chat_stream` into per-instance wrappers: only the
    # raw client's methods, looked up at each call, are seen by a client built earlier.
    items = fake.events(["Hi"])
    early = fake.client(
        fake.Api(
            lambda body: (
                fake.sse_response(fake.sse(items))
                if body.get("stream")
                else fake.json_response(fake.response())
            )
        )
    )
    instrumentor = CohereInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        result = getattr(early, method)(**fake.CALL)
        if method == "chat_stream":
            assert [e.type for e in result][-1] == "message-end"
    finally:
        instrumentor.uninstrument()
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.REQUEST_STREAM] is (method == "chat_stream")


class WithoutRawClients(CohereInstrumentor):
    _instance = None  # BaseInstrumentor is a singleton per class

    def _raw_clients(self) -> bool:
        return False  # as in a release from before `cohere.v2.raw_client`


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_without_raw_clients_the_public_methods_are_traced(
    kind: str, telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = fake.Api(
        lambda body: (
            fake.sse_response(fake.sse(fake.events(["Hi", "!"])))
            if body.get("stream")
            else fake.json_response(fake.response())
        )
    )
    instrumentor = WithoutRawClients()
    instrumentor.instrument(telemetry=telemetry)
    try:
        if kind == "sync":
            fake.client(api).chat(**fake.CALL)
            list(fake.client(api).chat_stream(**fake.CALL))
        else:

            async def run() -> None:
                client = fake.async_client(api)
                await client.chat(**fake.CALL)
                async for _ in client.chat_stream(**fake.CALL):
                    pass

            asyncio.run(run())
    finally:
        instrumentor.uninstrument()
    plain, stream = finished(span_exporter)
    assert dict(plain.attributes or {})[sc.USAGE_INPUT_TOKENS] == 12
    attributes = dict(stream.attributes or {})
    assert attributes[sc.REQUEST_STREAM] is True and attributes[sc.USAGE_OUTPUT_TOKENS] == 15
