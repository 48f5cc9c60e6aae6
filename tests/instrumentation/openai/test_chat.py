"""Chat Completions without streaming: one CLIENT span per call, the conventions' attributes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import openai
import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import BaseModel

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.openai import fakeapi as fake
from tests.instrumentation.openai.conftest import metric

KINDS = ["sync", "async"]


def create(kind: str, handler: fake.Handler, azure: bool = False, **kwargs: Any) -> Any:
    """`chat.completions.create(**kwargs)` on a sync or async client."""
    kwargs = {"model": fake.MODEL, "messages": fake.MESSAGES, **kwargs}
    if kind == "sync":
        with fake.client(handler, azure=azure) as c:
            return c.chat.completions.create(**kwargs)

    async def run() -> Any:
        async with fake.async_client(handler, azure=azure) as c:
            return await c.chat.completions.create(**kwargs)

    return asyncio.run(run())


def two_choices() -> dict[str, Any]:
    first = {"index": 0, "message": {"role": "assistant", "content": "{}"}, "finish_reason": "stop"}
    second = {**first, "index": 1, "finish_reason": "length"}
    return fake.completion(choices=[first, second])


def test_a_completion_is_one_client_span_with_exactly_the_conventions_attributes(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    result = create(
        "sync",
        fake.fixed(lambda: fake.json_response(two_choices())),
        max_completion_tokens=64,
        temperature=0.2,
        top_p=1,
        frequency_penalty=0.5,
        presence_penalty=-0.5,
        stop=["END", "STOP"],
        seed=7,
        n=2,
        response_format={"type": "json_object"},
        service_tier="default",
    )
    assert isinstance(result, openai.types.chat.ChatCompletion)
    (span,) = finished(span_exporter)
    assert span.name == "chat gpt-4o-mini"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    cost = instrumented.prices.cost(
        "openai", fake.RESPONSE_MODEL, input_tokens=12, output_tokens=5, cached_input_tokens=0
    )
    assert cost is not None
    assert dict(span.attributes or {}) == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: "gpt-4o-mini",
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
        sc.REQUEST_MAX_TOKENS: 64,
        sc.REQUEST_TEMPERATURE: 0.2,
        sc.REQUEST_TOP_P: 1.0,
        sc.REQUEST_FREQUENCY_PENALTY: 0.5,
        sc.REQUEST_PRESENCE_PENALTY: -0.5,
        sc.REQUEST_STOP_SEQUENCES: ("END", "STOP"),
        sc.REQUEST_SEED: 7,
        sc.REQUEST_CHOICE_COUNT: 2,
        sc.REQUEST_STREAM: False,
        sc.OUTPUT_TYPE: "json",
        sc.OPENAI_REQUEST_SERVICE_TIER: "default",
        sc.OPENAI_RESPONSE_SERVICE_TIER: "default",
        sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT: fake.FINGERPRINT,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.RESPONSE_ID: "chatcmpl-123",
        sc.RESPONSE_FINISH_REASONS: ("stop", "length"),
        sc.USAGE_INPUT_TOKENS: 12,
        sc.USAGE_OUTPUT_TOKENS: 5,
        sc.USAGE_CACHE_READ_INPUT_TOKENS: 0,
        sc.USAGE_REASONING_OUTPUT_TOKENS: 0,
        sc.COST_USD: cost,
        # JSON asked for and both choices parse ("{}"), but the second hit its token limit.
        sc.RESPONSE_FLAGS: ("truncated",),
    }
    assert isinstance(dict(span.attributes or {})[sc.REQUEST_TOP_P], float)


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_duration_and_tokens_are_recorded_once_with_the_conventions_buckets(
    kind: str, instrumented: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    create(kind, fake.fixed(lambda: fake.json_response(fake.completion())))
    base = {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "openai",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
    }
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert dict(duration.attributes) == base and duration.count == 1
    assert tuple(duration.explicit_bounds) == names.DURATION_BUCKETS
    assert metric(metric_reader, names.GEN_AI_OPERATION_DURATION.otel).unit == "s"
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 12, 1),
        ("output", 5, 1),
    ]
    for point in tokens:
        assert dict(point.attributes) == {**base, sc.TOKEN_TYPE: point.attributes[sc.TOKEN_TYPE]}
        assert tuple(point.explicit_bounds) == names.TOKEN_BUCKETS
    assert metric(metric_reader, names.GEN_AI_TOKEN_USAGE.otel).unit == "{token}"
    assert points(metric_reader, names.GEN_AI_TIME_TO_FIRST_CHUNK.otel) == []


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"stop": "END"}, {sc.REQUEST_STOP_SEQUENCES: ("END",)}),
        ({"n": 1}, {}),
        ({"service_tier": "auto"}, {}),
        ({"max_tokens": 10}, {sc.REQUEST_MAX_TOKENS: 10}),
        ({"max_tokens": 10, "max_completion_tokens": 20}, {sc.REQUEST_MAX_TOKENS: 20}),
        ({"response_format": {"type": "text"}}, {sc.OUTPUT_TYPE: "text"}),
        ({"temperature": openai.NOT_GIVEN}, {}),
        ({"temperature": openai.omit, "seed": None}, {}),
    ],
    ids=[
        "stop-string",
        "n-1",
        "tier-auto",
        "max-tokens",
        "max-completion-wins",
        "text",
        "nog",
        "omit",
    ],
)
def test_request_parameters_become_attributes_only_when_the_conventions_say_so(
    kwargs: dict[str, Any],
    expected: dict[str, Any],
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
) -> None:
    create("sync", fake.fixed(lambda: fake.json_response(fake.completion())), **kwargs)
    (span,) = finished(span_exporter)
    optional = {
        sc.REQUEST_STOP_SEQUENCES,
        sc.REQUEST_CHOICE_COUNT,
        sc.OPENAI_REQUEST_SERVICE_TIER,
        sc.REQUEST_MAX_TOKENS,
        sc.OUTPUT_TYPE,
        sc.REQUEST_TEMPERATURE,
        sc.REQUEST_SEED,
    }
    attrs = dict(span.attributes or {})
    assert {k: v for k, v in attrs.items() if k in optional} == expected


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_tool_calls_give_their_names_and_usage_details_their_tokens(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    calls = [fake.tool_call("get_weather"), fake.tool_call("get_time", "{}", 1)]
    body = fake.completion(
        None,
        tool_calls=calls,
        finish_reason="tool_calls",
        use=fake.usage(prompt=2000, completion=300, cached=1024, reasoning=256),
    )
    result = create(kind, fake.fixed(lambda: fake.json_response(body)))
    assert [c.function.name for c in result.choices[0].message.tool_calls] == [
        "get_weather",
        "get_time",
    ]
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("tool_calls",)
    assert attrs[sc.USAGE_INPUT_TOKENS] == 2000  # includes the cached ones, as OpenAI reports
    assert attrs[sc.USAGE_CACHE_READ_INPUT_TOKENS] == 1024
    assert attrs[sc.USAGE_REASONING_OUTPUT_TOKENS] == 256
    assert attrs[sc.USAGE_OUTPUT_TOKENS] == 300
    assert sc.INPUT_MESSAGES not in attrs and sc.OUTPUT_MESSAGES not in attrs


def test_content_is_recorded_in_the_conventions_shapes_only_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather of a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    history = [
        *fake.MESSAGES,
        {"role": "assistant", "content": None, "tool_calls": [fake.tool_call("get_weather")]},
        {"role": "tool", "tool_call_id": "call_0", "content": "rainy, 57F"},
        {"role": "user", "content": [{"type": "text", "text": "And tomorrow?"}]},
    ]
    body = fake.completion(
        None, tool_calls=[fake.tool_call("get_weather")], finish_reason="tool_calls"
    )
    create("sync", fake.fixed(lambda: fake.json_response(body)), messages=history, tools=tools)
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert json.loads(str(attrs[sc.INPUT_MESSAGES])) == [
        {"role": "system", "parts": [{"type": "text", "content": "You are terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]},
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_0",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "id": "call_0", "response": "rainy, 57F"}],
        },
        {"role": "user", "parts": [{"type": "text", "content": "And tomorrow?"}]},
    ]
    assert json.loads(str(attrs[sc.TOOL_DEFINITIONS])) == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        }
    ]
    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "call_0",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
            "finish_reason": "tool_calls",
        }
    ]


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_azure_clients_are_the_azure_provider_named_by_deployment_and_response(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = fake.fixed(lambda: fake.json_response(fake.completion(model="gpt-4o-2024-11-20")))
    create(kind, api, azure=True, model="my-gpt4o-deployment")
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "chat my-gpt4o-deployment"
    assert attrs[sc.PROVIDER_NAME] == "azure.ai.openai"
    assert attrs[sc.REQUEST_MODEL] == "my-gpt4o-deployment"
    assert attrs[sc.RESPONSE_MODEL] == "gpt-4o-2024-11-20"
    assert (attrs[sc.SERVER_ADDRESS], attrs[sc.SERVER_PORT]) == ("fake.openai.azure.com", 443)
    assert api.requests[0]["_path"] == "/openai/deployments/my-gpt4o-deployment/chat/completions"


def test_an_azure_client_bound_to_a_deployment_names_that_deployment(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = fake.fixed(lambda: fake.json_response(fake.completion()))
    with fake.client(api, azure=True, azure_deployment="prod-mini") as c:
        c.chat.completions.create(model="ignored-by-azure", messages=fake.MESSAGES)
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.REQUEST_MODEL] == "prod-mini"


def status_error(status: int) -> httpx2.Response:
    error = {"message": "nope", "type": "server_error", "param": None, "code": None}
    return fake.json_response({"error": error}, status)


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, openai.BadRequestError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
    ids=["400", "429", "500"],
)
def test_an_http_error_reaches_the_caller_unchanged_and_its_status_is_the_error_type(
    kind: str,
    status: int,
    error: type[Exception],
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    sent: list[httpx2.Response] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        sent.append(status_error(status))
        return sent[-1]

    with pytest.raises(error) as caught:
        create(kind, answer)
    assert caught.value.response is sent[0]  # type: ignore[attr-defined]  # the SDK's own error
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == str(status)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.attributes[sc.ERROR_TYPE] == str(status)
    assert points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel) == []


@pytest.mark.parametrize("kind", KINDS, ids=str)
@pytest.mark.parametrize(
    ("cause", "error"),
    [
        (httpx2.ReadTimeout("timed out"), openai.APITimeoutError),
        (httpx2.ConnectError("refused"), openai.APIConnectionError),
    ],
    ids=["timeout", "connection"],
)
def test_transport_failures_are_their_sdk_class_names(
    kind: str,
    cause: Exception,
    error: type[Exception],
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
) -> None:
    def answer(request: httpx2.Request) -> httpx2.Response:
        raise cause

    with pytest.raises(error) as caught:
        create(kind, answer)
    assert type(caught.value) is error and caught.value.__cause__ is cause
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == error.__name__


def test_the_span_is_current_during_the_request_and_nested_in_the_callers(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    seen: list[trace.Span] = []

    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(trace.get_current_span())
        return fake.json_response(fake.completion())

    with instrumented.tracer.start_as_current_span("agent step") as parent:
        create("sync", answer)
    assert trace.get_current_span() is trace.INVALID_SPAN
    chat, step = finished(span_exporter)
    assert seen[0].get_span_context().span_id == chat.context.span_id
    assert chat.parent is not None and chat.parent.span_id == parent.get_span_context().span_id
    assert step.name == "agent step"


class Weather(BaseModel):
    city: str
    rainy: bool


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_parse_is_one_span_and_its_output_type_json(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    body = fake.completion('{"city": "Paris", "rainy": true}')
    handler = fake.fixed(lambda: fake.json_response(body))
    kwargs: dict[str, Any] = {
        "model": fake.MODEL,
        "messages": fake.MESSAGES,
        "response_format": Weather,
    }
    if kind == "sync":
        with fake.client(handler) as c:
            parsed = c.chat.completions.parse(**kwargs)
    else:

        async def run() -> Any:
            async with fake.async_client(handler) as c:
                return await c.chat.completions.parse(**kwargs)

        parsed = asyncio.run(run())
    assert parsed.choices[0].message.parsed == Weather(city="Paris", rainy=True)
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.OUTPUT_TYPE] == "json" and attrs[sc.USAGE_OUTPUT_TOKENS] == 5


def test_a_raw_response_call_is_one_span_with_the_request_attributes(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    handler = fake.fixed(lambda: fake.json_response(fake.completion()))
    with fake.client(handler) as c:
        raw = c.chat.completions.with_raw_response.create(model=fake.MODEL, messages=fake.MESSAGES)
        assert raw.parse().choices[0].message.content == "Hello!"
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.REQUEST_MODEL] == fake.MODEL and sc.USAGE_INPUT_TOKENS not in attrs
