"""Messages without streaming: one CLIENT span per call, the conventions' attributes and metrics."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anthropic
import httpx2
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.anthropic import fakeapi as fake
from tests.instrumentation.conftest import finished, points

KINDS = ["sync", "async"]


def call(kind: str, handler: fake.Handler, method: str = "create", **kwargs: Any) -> Any:
    """`messages.<method>(**kwargs)` (`beta.messages` for `beta.<method>`), sync or async."""
    kwargs = {**fake.CALL, **kwargs}
    beta, _, name = method.rpartition(".")

    def resource(c: Any) -> Any:
        return getattr(c.beta.messages if beta else c.messages, name)

    if kind == "sync":
        with fake.client(handler) as c:
            return resource(c)(**kwargs)

    async def run() -> Any:
        async with fake.async_client(handler) as c:
            return await resource(c)(**kwargs)

    return asyncio.run(run())


def answering(body: dict[str, Any], status: int = 200) -> fake.Api:
    return fake.fixed(lambda: fake.json_response(body, status))


def test_a_message_is_one_client_span_with_exactly_the_conventions_attributes(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    use = fake.usage(input=100, output=20, cache_read=1000, cache_creation=50)
    result = call(
        "sync",
        answering(fake.message(use=use)),
        stop_sequences=["END", "STOP"],
        extra_body={"temperature": 0.2, "top_p": 1, "top_k": 40},
    )
    assert isinstance(result, anthropic.types.Message)
    (span,) = finished(span_exporter)
    assert span.name == "chat claude-sonnet-4-5"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    cost = instrumented.prices.cost(
        "anthropic",
        fake.RESPONSE_MODEL,
        input_tokens=1150,
        output_tokens=20,
        cached_input_tokens=1000,
        cache_creation_input_tokens=50,
    )
    assert cost is not None
    assert dict(span.attributes or {}) == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "anthropic",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
        sc.REQUEST_MAX_TOKENS: 256,
        sc.REQUEST_TEMPERATURE: 0.2,
        sc.REQUEST_TOP_P: 1.0,
        sc.REQUEST_TOP_K: 40.0,
        sc.REQUEST_STOP_SEQUENCES: ("END", "STOP"),
        sc.REQUEST_STREAM: False,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.RESPONSE_ID: "msg_123",
        sc.RESPONSE_FINISH_REASONS: ("stop",),
        # The conventions for Anthropic: input = input_tokens + cache reads + cache writes.
        sc.USAGE_INPUT_TOKENS: 1150,
        sc.USAGE_OUTPUT_TOKENS: 20,
        sc.USAGE_CACHE_READ_INPUT_TOKENS: 1000,
        sc.USAGE_CACHE_CREATION_INPUT_TOKENS: 50,
        sc.COST_USD: cost,
    }
    # 100 uncached at $3, 1000 read at $0.30, 50 written at $3.75, 20 out at $15 (per million).
    assert cost == pytest.approx((100 * 3 + 1000 * 0.3 + 50 * 3.75 + 20 * 15) / 1e6)


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_duration_and_tokens_are_recorded_once_with_the_conventions_buckets(
    kind: str, instrumented: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    call(kind, answering(fake.message(use=fake.usage(input=10, output=5, cache_read=2))))
    base = {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "anthropic",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
    }
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert dict(duration.attributes) == base and duration.count == 1
    assert tuple(duration.explicit_bounds) == names.DURATION_BUCKETS
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 12, 1),
        ("output", 5, 1),
    ]
    for point in tokens:
        assert dict(point.attributes) == {**base, sc.TOKEN_TYPE: point.attributes[sc.TOKEN_TYPE]}
        assert tuple(point.explicit_bounds) == names.TOKEN_BUCKETS
    assert points(metric_reader, names.GEN_AI_TIME_TO_FIRST_CHUNK.otel) == []


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_call"),
        ("refusal", "content_filter"),
        ("pause_turn", "pause_turn"),
    ],
    ids=str,
)
def test_stop_reasons_become_the_conventions_finish_reasons_or_pass_through(
    stop_reason: str, expected: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.message(stop_reason=stop_reason)))
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.RESPONSE_FINISH_REASONS] == (expected,)


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_tool_use_blocks_give_their_names(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    blocks = [
        fake.text("Let me check."),
        fake.tool_use("get_weather", {"city": "Paris"}),
        fake.tool_use("get_time", n=1),
    ]
    result = call(kind, answering(fake.message(blocks, stop_reason="tool_use")))
    assert [b.name for b in result.content if b.type == "tool_use"] == ["get_weather", "get_time"]
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("tool_call",)
    assert sc.INPUT_MESSAGES not in attrs and sc.OUTPUT_MESSAGES not in attrs
    assert sc.SYSTEM_INSTRUCTIONS not in attrs and sc.TOOL_DEFINITIONS not in attrs


def test_content_is_recorded_in_the_conventions_shapes_only_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather of a city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    history = [
        *fake.MESSAGES,
        {"role": "assistant", "content": [fake.tool_use("get_weather", {"city": "Paris"})]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_0", "content": "rainy, 57F"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                },
            ],
        },
    ]
    system = [{"type": "text", "text": fake.SYSTEM}, {"type": "text", "text": "Be kind."}]
    body = fake.message([fake.tool_use("get_weather", {"city": "Lyon"}, 1)], stop_reason="tool_use")
    call("sync", answering(body), messages=history, tools=tools, system=system)
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert json.loads(str(attrs[sc.SYSTEM_INSTRUCTIONS])) == [
        {"type": "text", "content": fake.SYSTEM},
        {"type": "text", "content": "Be kind."},
    ]
    assert json.loads(str(attrs[sc.INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "toolu_0",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "user",
            "parts": [
                {"type": "tool_call_response", "id": "toolu_0", "response": "rainy, 57F"},
                {"type": "blob", "modality": "image", "mime_type": "image/png", "content": "iVBOR"},
            ],
        },
    ]
    assert json.loads(str(attrs[sc.TOOL_DEFINITIONS])) == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": tools[0]["input_schema"],
        }
    ]
    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "arguments": {"city": "Lyon"},
                }
            ],
            "finish_reason": "tool_call",
        }
    ]


def test_a_system_string_is_one_text_instruction(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.message()), system=fake.SYSTEM)
    (span,) = finished(span_exporter)
    instructions = dict(span.attributes or {})[sc.SYSTEM_INSTRUCTIONS]
    assert json.loads(str(instructions)) == [{"type": "text", "content": fake.SYSTEM}]


@pytest.mark.parametrize(
    ("status", "kind", "error"),
    [
        (400, "invalid_request_error", anthropic.BadRequestError),
        (404, "not_found_error", anthropic.NotFoundError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.InternalServerError),
    ],
    ids=["400", "404", "429", "500", "529-overloaded"],
)
@pytest.mark.parametrize("how", KINDS, ids=str)
def test_an_api_error_reaches_the_caller_and_ends_the_span_with_its_status(
    how: str,
    status: int,
    kind: str,
    error: type[Exception],
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    handler = answering(fake.error(kind, "nope"), status)
    with pytest.raises(error) as raised:
        call(how, handler)
    assert raised.value.status_code == status  # type: ignore[attr-defined]
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.ERROR
    assert attrs[sc.ERROR_TYPE] == str(status)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.attributes[sc.ERROR_TYPE] == str(status)
    assert points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel) == []


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (httpx2.ReadTimeout("timed out"), anthropic.APITimeoutError),
        (httpx2.ConnectError("refused"), anthropic.APIConnectionError),
    ],
    ids=["timeout", "connection"],
)
def test_a_transport_failure_is_named_by_its_class(
    failure: Exception,
    error: type[Exception],
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise failure

    with pytest.raises(error):
        call("sync", handler)
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == error.__qualname__


class Weather(BaseModel):
    city: str


@pytest.mark.parametrize("method", ["parse", "beta.create", "beta.parse"], ids=str)
def test_parse_and_the_beta_namespace_are_one_span_each(
    method: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    kwargs: dict[str, Any] = {"output_format": Weather} if method.endswith("parse") else {}
    body = fake.message([fake.text('{"city": "Paris"}')])
    result = call("sync", answering(body), method, **kwargs)
    if method.endswith("parse"):
        assert result.parsed_output == Weather(city="Paris")
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "chat claude-sonnet-4-5" and attrs[sc.RESPONSE_ID] == "msg_123"
    assert attrs.get(sc.OUTPUT_TYPE) == ("json" if "output_format" in kwargs else None)


@pytest.mark.parametrize("method", ["count_tokens", "beta.count_tokens"], ids=str)
@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_count_tokens_is_its_own_operation_and_records_no_usage(
    kind: str,
    method: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    api = answering({"input_tokens": 2095})
    kwargs = {"model": fake.MODEL, "messages": fake.MESSAGES}
    if kind == "sync":
        with fake.client(api) as c:
            owner = c.beta.messages if method.startswith("beta") else c.messages
            result = owner.count_tokens(**kwargs)
    else:

        async def run() -> Any:
            async with fake.async_client(api) as c:
                owner = c.beta.messages if method.startswith("beta") else c.messages
                return await owner.count_tokens(**kwargs)

        result = asyncio.run(run())
    assert result.input_tokens == 2095
    assert api.requests[0]["_path"] == "/v1/messages/count_tokens"
    (span,) = finished(span_exporter)
    assert span.name == "count_tokens claude-sonnet-4-5" and span.kind is SpanKind.CLIENT
    attrs = dict(span.attributes or {})
    assert attrs[sc.OPERATION_NAME] == "count_tokens"
    assert attrs[sc.ANTHROPIC_COUNT_TOKENS_INPUT_TOKENS] == 2095
    assert sc.USAGE_INPUT_TOKENS not in attrs and sc.COST_USD not in attrs
    assert points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel) == []
    assert points(metric_reader, names.LLM_COST.otel) == []
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.attributes[sc.OPERATION_NAME] == "count_tokens"


def test_a_raw_response_call_gets_the_request_attributes_and_the_same_response(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    with fake.client(answering(fake.message())) as c:
        raw = c.messages.with_raw_response.create(**fake.CALL)
        assert raw.parse().id == "msg_123"
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.REQUEST_MAX_TOKENS] == 256


def test_one_hour_cache_writes_are_priced_at_their_own_rate(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    use = fake.usage(input=100, output=20, cache_read=0, cache_creation=50, cache_1h=30)
    call("sync", answering(fake.message(use=use)))
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.USAGE_CACHE_CREATION_INPUT_TOKENS] == 50
    # 100 uncached at $3, 20 written for 5 minutes at $3.75, 30 for an hour at $6, 20 out at $15.
    assert attrs[sc.COST_USD] == pytest.approx((100 * 3 + 20 * 3.75 + 30 * 6 + 20 * 15) / 1e6)
