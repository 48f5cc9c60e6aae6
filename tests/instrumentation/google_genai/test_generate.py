"""generate_content and embed_content: one CLIENT span per call, the conventions' attributes."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from google.genai import errors, types
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.google_genai import responses as rs
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.google_genai import fakeapi as fake

KINDS = ["sync", "async"]
WEATHER = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}


def call(kind: str, handler: fake.Handler, method: str = "generate_content", **kwargs: Any) -> Any:
    """`client.models.<method>(**kwargs)` or its `client.aio.models` twin."""
    kwargs = {**fake.CALL, **kwargs}
    client = fake.client(handler, vertexai=kwargs.pop("vertexai", False))
    if kind == "sync":
        return getattr(client.models, method)(**kwargs)
    return asyncio.run(getattr(client.aio.models, method)(**kwargs))


def answering(body: dict[str, Any], status: int = 200) -> fake.Api:
    return fake.fixed(lambda: fake.json_response(body, status))


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_call_is_one_client_span_with_exactly_the_conventions_attributes(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    use = fake.usage(prompt=1000, output=20, cached=400, thoughtsTokenCount=30)
    config = types.GenerateContentConfig(
        temperature=0.2, top_p=0.9, top_k=40, max_output_tokens=256, stop_sequences=["END"]
    )
    result = call(kind, answering(fake.response(use=use)), config=config)
    assert isinstance(result, types.GenerateContentResponse) and result.text == "Hello!"
    (span,) = finished(span_exporter)
    assert span.name == "generate_content gemini-2.5-flash"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    # 600 uncached at $0.30, 400 cached at $0.03, 20 + 30 thinking out at $2.50 (per million).
    cost = (600 * 0.30 + 400 * 0.03 + 50 * 2.50) / 1e6
    attributes = dict(span.attributes or {})
    assert attributes.pop(sc.COST_USD) == pytest.approx(cost)
    assert attributes == {
        sc.OPERATION_NAME: "generate_content",
        sc.PROVIDER_NAME: "gcp.gemini",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
        sc.REQUEST_MAX_TOKENS: 256,
        sc.REQUEST_TEMPERATURE: 0.2,
        sc.REQUEST_TOP_P: 0.9,
        sc.REQUEST_TOP_K: 40.0,
        sc.REQUEST_STOP_SEQUENCES: ("END",),
        sc.REQUEST_STREAM: False,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.RESPONSE_ID: "resp-123",
        sc.RESPONSE_FINISH_REASONS: ("stop",),
        sc.USAGE_INPUT_TOKENS: 1000,
        sc.USAGE_OUTPUT_TOKENS: 50,
        sc.USAGE_CACHE_READ_INPUT_TOKENS: 400,
        sc.USAGE_REASONING_OUTPUT_TOKENS: 30,
    }


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_duration_and_tokens_are_recorded_once(
    kind: str, instrumented: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    call(kind, answering(fake.response(use=fake.usage(prompt=10, output=5))))
    base = {
        sc.OPERATION_NAME: "generate_content",
        sc.PROVIDER_NAME: "gcp.gemini",
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
    (cost,) = points(metric_reader, names.LLM_COST.otel)
    assert cost.value == pytest.approx((10 * 0.30 + 5 * 2.50) / 1e6)


def test_a_vertex_client_is_provider_gcp_vertex_ai(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = answering(fake.response())
    call("sync", api, vertexai=True)
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.PROVIDER_NAME] == "gcp.vertex_ai"
    assert "publishers/google/models" in api.requests[0]["_path"]  # the Vertex route was taken
    assert sc.COST_USD not in attributes  # the test table prices the Gemini API only


@pytest.mark.parametrize(
    ("finish", "parts", "expected"),
    [
        ("STOP", [fake.text("Hi")], "stop"),
        ("STOP", [fake.function_call("get_weather", {"city": "Paris"})], "tool_call"),
        ("MAX_TOKENS", [fake.text("Hi")], "length"),
        ("SAFETY", [fake.text("Hi")], "content_filter"),
        ("RECITATION", [fake.text("Hi")], "content_filter"),
        ("MALFORMED_FUNCTION_CALL", [fake.text("Hi")], "malformed_function_call"),
    ],
    ids=str,
)
def test_finish_reasons_become_the_conventions_values_or_pass_through(
    finish: str,
    parts: list[Any],
    expected: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
) -> None:
    call("sync", answering(fake.response([fake.candidate(parts, finish)])))
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.RESPONSE_FINISH_REASONS] == (expected,)


def test_several_candidates_give_a_finish_reason_each_and_the_choice_count(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    candidates = [fake.candidate(finish="STOP"), fake.candidate(finish="MAX_TOKENS", index=1)]
    call("sync", answering(fake.response(candidates)), config={"candidate_count": 2})
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.RESPONSE_FINISH_REASONS] == ("stop", "length")
    assert attributes[sc.REQUEST_CHOICE_COUNT] == 2
    assert attributes[sc.RESPONSE_FLAGS] == ("truncated",)


def test_a_blocked_prompt_is_content_filter(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    body = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": fake.usage(output=0)}
    call("sync", answering(body))
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.RESPONSE_FINISH_REASONS] == ("content_filter",)
    assert attributes[sc.RESPONSE_FLAGS] == ("content_filter", "empty")


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_function_calls_are_tool_calls_checked_against_the_declarations(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    parts = [
        fake.function_call("get_weather", {"city": "Paris"}, id="call-1"),
        fake.function_call("get_weather", {"town": "Paris"}, id="call-2"),
        fake.function_call("book_flight", {}, id="call-3"),
    ]
    declarations = [
        types.FunctionDeclaration(
            name="get_weather",
            description="Weather in a city.",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"city": types.Schema(type=types.Type.STRING)},
                required=["city"],
            ),
        )
    ]
    config = types.GenerateContentConfig(
        tools=[types.Tool(function_declarations=declarations)],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    call(kind, answering(fake.response([fake.candidate(parts)])), config=config)
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.TOOL_CALL_NAMES] == ("get_weather", "get_weather", "book_flight")
    assert attributes[sc.HALLUCINATED_TOOL_CALLS] == 2
    events = {
        dict(e.attributes or {})[sc.TOOL_CALL_ID]: dict(e.attributes or {}) for e in span.events
    }
    assert events["call-2"][sc.TOOL_CALL_REASON] == "schema_violation"
    assert events["call-3"][sc.TOOL_CALL_REASON] == "unknown_tool"
    (counted,) = points(metric_reader, names.LLM_TOOL_CALLS.otel)
    assert counted.value == 3


def test_a_json_schema_declaration_in_a_dict_config_is_checked_too(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    parts = [fake.function_call("get_weather", {"city": 3})]
    tool = {"function_declarations": [{"name": "get_weather", "parameters_json_schema": WEATHER}]}
    call("sync", answering(fake.response([fake.candidate(parts)])), config={"tools": [tool]})
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.HALLUCINATED_TOOL_CALLS] == 1


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize(
    ("status", "code", "exception"),
    [(400, "INVALID_ARGUMENT", errors.ClientError), (503, "UNAVAILABLE", errors.ServerError)],
    ids=str,
)
def test_an_error_response_is_an_error_span_and_the_sdk_exception_unchanged(
    kind: str,
    status: int,
    code: str,
    exception: type[Exception],
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    api = answering(fake.error(status, code, "no such model"), status)
    with pytest.raises(exception) as raised:
        call(kind, api)
    assert raised.value.code == status  # type: ignore[attr-defined]
    assert "no such model" in str(raised.value)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    attributes = dict(span.attributes or {})
    assert attributes[sc.ERROR_TYPE] == str(status)
    assert sc.USAGE_INPUT_TOKENS not in attributes
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.attributes[sc.ERROR_TYPE] == str(status)


def test_nothing_of_the_content_is_recorded_by_default(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    config = {"system_instruction": "Be terse.", "tools": [{"function_declarations": []}]}
    call("sync", answering(fake.response()), config=config)
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    for key in (sc.INPUT_MESSAGES, sc.OUTPUT_MESSAGES, sc.SYSTEM_INSTRUCTIONS):
        assert key not in attributes
    assert "Hello" not in json.dumps(attributes) and "terse" not in json.dumps(attributes)


def test_content_is_recorded_in_the_conventions_shapes_when_enabled(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    contents = [
        types.Content(role="user", parts=[types.Part(text="Weather in Paris?")]),
        types.Content(
            role="model",
            parts=[types.Part(function_call=types.FunctionCall(name="get_weather", args={}))],
        ),
    ]
    tool = {"function_declarations": [{"name": "get_weather", "parameters_json_schema": WEATHER}]}
    config = {"system_instruction": "Be terse.", "tools": [tool]}
    parts = [fake.text("Sunny."), fake.function_call("get_weather", {"city": "Paris"})]
    call(
        "sync", answering(fake.response([fake.candidate(parts)])), contents=contents, config=config
    )
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert json.loads(str(attributes[sc.SYSTEM_INSTRUCTIONS])) == [
        {"type": "text", "content": "Be terse."}
    ]
    assert json.loads(str(attributes[sc.INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": None, "name": "get_weather", "arguments": {}}],
        },
    ]
    assert json.loads(str(attributes[sc.TOOL_DEFINITIONS])) == [
        {"type": "function", "name": "get_weather", "description": "", "parameters": WEATHER}
    ]
    call_part = {"type": "tool_call", "id": None, "name": "get_weather"}
    assert json.loads(str(attributes[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {"type": "text", "content": "Sunny."},
                {**call_part, "arguments": {"city": "Paris"}},
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_a_plain_string_prompt_is_the_users_message(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.response()), contents=["Say", "hello."])
    (span,) = finished(span_exporter)
    assert json.loads(str(dict(span.attributes or {})[sc.INPUT_MESSAGES])) == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "Say"}, {"type": "text", "content": "hello."}],
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

    monkeypatch.setattr(rs, "read_response", broken)
    with caplog.at_level(logging.CRITICAL, "agentwatch"):
        result = call(kind, answering(fake.response()))
    assert isinstance(result, types.GenerateContentResponse) and result.text == "Hello!"
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.UNSET
    (error,) = points(metric_reader, names.INSTRUMENTATION_ERRORS.otel)
    assert error.value == 1


def test_a_response_with_surprising_fields_is_read_without_failing(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    # The SDK keeps what it does not know and accepts what is missing: nothing to record.
    body = {"candidates": [{"content": {"parts": [{"unknownPart": 1}]}}], "extra": [1, 2]}
    result = call("sync", answering(body))
    assert isinstance(result, types.GenerateContentResponse)
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert sc.USAGE_INPUT_TOKENS not in attributes and sc.RESPONSE_FINISH_REASONS not in attributes
    assert attributes[sc.RESPONSE_FLAGS] == ("empty",)
    assert points(metric_reader, names.INSTRUMENTATION_ERRORS.otel) == []


def test_json_output_that_does_not_parse_is_flagged(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    body = fake.response([fake.candidate([fake.text("{not json")])])
    call("sync", answering(body), config={"response_mime_type": "application/json"})
    (span,) = finished(span_exporter)
    attributes = dict(span.attributes or {})
    assert attributes[sc.OUTPUT_TYPE] == "json"
    assert attributes[sc.RESPONSE_FLAGS] == ("invalid_json",)


def test_chats_are_traced_through_generate_content(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    client = fake.client(answering(fake.response()))
    chat = client.chats.create(model=fake.MODEL)
    assert chat.send_message("Hi").text == "Hello!"
    assert chat.send_message("Again").text == "Hello!"
    assert [s.name for s in finished(span_exporter)] == ["generate_content gemini-2.5-flash"] * 2


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_embed_content_is_an_embeddings_span(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    # The Gemini API answers `embed_content` from `batchEmbedContents`.
    body = {"embeddings": [{"values": [0.1, 0.2, 0.3]}], "usageMetadata": {"promptTokenCount": 4}}
    model = "gemini-embedding-001"
    result = call(
        kind,
        answering(body),
        "embed_content",
        model=model,
        config={"output_dimensionality": 3},
    )
    assert result.embeddings[0].values == [0.1, 0.2, 0.3]
    (span,) = finished(span_exporter)
    assert span.name == f"embeddings {model}"
    attributes = dict(span.attributes or {})
    assert attributes[sc.OPERATION_NAME] == "embeddings"
    assert attributes[sc.EMBEDDINGS_DIMENSION_COUNT] == 3
    assert attributes[sc.USAGE_INPUT_TOKENS] == 4 and sc.USAGE_OUTPUT_TOKENS not in attributes
