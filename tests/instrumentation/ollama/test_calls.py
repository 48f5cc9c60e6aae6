"""chat, generate and embed without streaming: one CLIENT span each, the conventions' data."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import ollama
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.ollama import responses
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.ollama import fakeapi as fake

KINDS = ["sync", "async"]


def call(kind: str, handler: fake.Handler, method: str, *args: Any, **kwargs: Any) -> Any:
    """`client.<method>(*args, **kwargs)` on a sync or async client."""
    if kind == "sync":
        with fake.client(handler) as c:
            return getattr(c, method)(*args, **kwargs)

    async def run() -> Any:
        async with fake.async_client(handler) as c:
            return await getattr(c, method)(*args, **kwargs)

    return asyncio.run(run())


def answering(body: dict[str, Any], status: int = 200) -> fake.Api:
    return fake.fixed(lambda: fake.json_response(body, status))


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_chat_is_one_client_span_with_exactly_the_conventions_attributes(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    options: dict[str, Any] = {
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "num_predict": 64,
        "seed": 7,
    }
    options |= {"stop": ["END"], "presence_penalty": 0.5, "frequency_penalty": 0.25}
    api = answering(fake.chat())
    # The model and the messages positionally, as ollama's own examples pass them.
    result = call(kind, api, "chat", fake.MODEL, fake.MESSAGES, options=options, format="json")
    assert isinstance(result, ollama.ChatResponse) and result.message.content == "Hello!"
    assert api.requests[0]["_path"] == "/api/chat"
    (span,) = finished(span_exporter)
    assert span.name == "chat llama3.2"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "ollama",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: fake.PORT,
        sc.REQUEST_MAX_TOKENS: 64,
        sc.REQUEST_TEMPERATURE: 0.2,
        sc.REQUEST_TOP_P: 0.9,
        sc.REQUEST_TOP_K: 40.0,
        sc.REQUEST_SEED: 7,
        sc.REQUEST_STOP_SEQUENCES: ("END",),
        sc.REQUEST_PRESENCE_PENALTY: 0.5,
        sc.REQUEST_FREQUENCY_PENALTY: 0.25,
        sc.REQUEST_STREAM: False,
        sc.OUTPUT_TYPE: "json",
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.RESPONSE_FINISH_REASONS: ("stop",),
        sc.USAGE_INPUT_TOKENS: 26,
        sc.USAGE_OUTPUT_TOKENS: 5,
        # "Hello!" is no JSON although the request asked for it: the quality signal says so.
        sc.RESPONSE_FLAGS: ("invalid_json",),
    }


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_duration_and_tokens_are_recorded_once_with_the_conventions_buckets(
    kind: str, instrumented: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    call(kind, answering(fake.chat(use=fake.counts(prompt=11, output=3))), "chat", fake.MODEL)
    base = {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "ollama",
        sc.REQUEST_MODEL: fake.MODEL,
        sc.RESPONSE_MODEL: fake.RESPONSE_MODEL,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: fake.PORT,
    }
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert dict(duration.attributes) == base and duration.count == 1
    assert tuple(duration.explicit_bounds) == names.DURATION_BUCKETS
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 11, 1),
        ("output", 3, 1),
    ]
    for point in tokens:
        assert tuple(point.explicit_bounds) == names.TOKEN_BUCKETS
    # A local model has no list price: no cost is made up.
    assert points(metric_reader, names.LLM_COST.otel) == []


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_generate_is_a_text_completion_with_its_tokens(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    api = answering(fake.generate("Hi there", done_reason="length"))
    result = call(kind, api, "generate", fake.MODEL, "Say hello.", system="Be terse.")
    assert isinstance(result, ollama.GenerateResponse) and result.response == "Hi there"
    assert api.requests[0]["_path"] == "/api/generate"
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "text_completion llama3.2"
    assert attrs[sc.OPERATION_NAME] == "text_completion"
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("length",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (26, 5)
    assert sc.INPUT_MESSAGES not in attrs and sc.SYSTEM_INSTRUCTIONS not in attrs
    assert sc.OUTPUT_MESSAGES not in attrs


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_embed_records_input_tokens_and_no_output(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    body = {
        "model": "all-minilm",
        "embeddings": [[0.01, -0.02, 0.03], [0.04, 0.05, -0.06]],
        "total_duration": 14143917,
        "load_duration": 1019500,
        "prompt_eval_count": 8,
    }
    result = call(kind, answering(body), "embed", "all-minilm", ["a", "b"], dimensions=3)
    assert len(result.embeddings) == 2
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == "embeddings all-minilm"
    assert attrs[sc.OPERATION_NAME] == "embeddings"
    assert attrs[sc.EMBEDDINGS_DIMENSION_COUNT] == 3
    assert attrs[sc.USAGE_INPUT_TOKENS] == 8 and sc.USAGE_OUTPUT_TOKENS not in attrs
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert [(p.attributes[sc.TOKEN_TYPE], p.sum) for p in tokens] == [("input", 8)]


def test_a_response_served_from_the_prompt_cache_has_no_input_count(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.chat(use=fake.counts(prompt=None, output=4))), "chat", fake.MODEL)
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert sc.USAGE_INPUT_TOKENS not in attrs and attrs[sc.USAGE_OUTPUT_TOKENS] == 4


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_tool_calls_are_named_and_checked_against_the_offered_tools(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    calls = [fake.tool_call("get_weather"), fake.tool_call("get_time", {})]
    body = fake.chat("", tool_calls=calls)
    result = call(kind, answering(body), "chat", fake.MODEL, fake.MESSAGES, tools=TOOLS)
    assert [c.function.name for c in result.message.tool_calls] == ["get_weather", "get_time"]
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attrs[sc.HALLUCINATED_TOOL_CALLS] == 1  # get_time was never offered
    (event,) = span.events
    assert event.name == sc.EVENT_HALLUCINATED_TOOL_CALL
    assert dict(event.attributes or {})[sc.TOOL_NAME] == "get_time"
    (hallucinated,) = points(metric_reader, names.LLM_HALLUCINATED_TOOL_CALLS.otel)
    assert hallucinated.value == 1
    assert sc.TOOL_DEFINITIONS not in attrs and sc.OUTPUT_MESSAGES not in attrs


def test_a_python_function_offered_as_a_tool_is_known_by_its_name(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    def get_weather(city: str) -> str:
        """Weather of a city.

        Args:
          city: The city
        """
        return "rainy"

    body = fake.chat("", tool_calls=[fake.tool_call("get_weather")])
    call("sync", answering(body), "chat", fake.MODEL, fake.MESSAGES, tools=[get_weather])
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather",)
    assert attrs[sc.HALLUCINATED_TOOL_CALLS] == 0


def test_content_is_recorded_in_the_conventions_shapes_only_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    history = [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "", "tool_calls": [fake.tool_call("get_weather")]},
        {"role": "tool", "content": "rainy", "tool_name": "get_weather"},
    ]
    body = fake.chat("It is rainy.")
    call("sync", answering(body), "chat", fake.MODEL, history, tools=TOOLS)
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert json.loads(str(attrs[sc.INPUT_MESSAGES])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be terse."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "name": "get_weather", "arguments": {"city": "Paris"}}],
        },
        {
            "role": "tool",
            "parts": [{"type": "tool_call_response", "response": "rainy", "name": "get_weather"}],
        },
    ]
    assert json.loads(str(attrs[sc.TOOL_DEFINITIONS])) == [
        {
            "type": "function",
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": TOOLS[0]["function"]["parameters"],  # type: ignore[index]
        }
    ]
    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "It is rainy."}],
            "finish_reason": "stop",
        }
    ]


def test_generate_content_is_the_prompt_and_the_system_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    call("sync", answering(fake.generate("Hi")), "generate", fake.MODEL, "Say hi.", system="Terse.")
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert json.loads(str(attrs[sc.SYSTEM_INSTRUCTIONS])) == [{"type": "text", "content": "Terse."}]
    assert json.loads(str(attrs[sc.INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hi."}]}
    ]
    output = json.loads(str(attrs[sc.OUTPUT_MESSAGES]))
    assert output[0]["parts"] == [{"type": "text", "content": "Hi"}]


@pytest.mark.parametrize("status", [400, 404, 500], ids=str)
@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_an_api_error_reaches_the_caller_and_ends_the_span_with_its_status(
    kind: str,
    status: int,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    api = fake.fixed(lambda: fake.error("model 'llama3.2' not found", status))
    with pytest.raises(ollama.ResponseError) as raised:
        call(kind, api, "chat", fake.MODEL, fake.MESSAGES)
    assert raised.value.status_code == status
    assert raised.value.error == "model 'llama3.2' not found"
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == str(status)
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.attributes[sc.ERROR_TYPE] == str(status)
    assert points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel) == []


def test_an_unreachable_server_is_the_sdks_connection_error(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused")

    with pytest.raises(ConnectionError, match="Failed to connect to Ollama"):
        call("sync", refuse, "chat", fake.MODEL, fake.MESSAGES)
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "ConnectionError"


def test_a_reader_failure_is_counted_and_the_call_returns_unchanged(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(inv: Any, response: Any) -> None:
        raise KeyError("surprise")

    monkeypatch.setattr(responses, "read_chat", broken)
    from agentwatch.instrumentation.ollama import patch

    monkeypatch.setattr(patch, "finish_chat", patch._finisher(responses.read_chat))
    instrumented_again = patch.chat(instrumented)
    with fake.client(answering(fake.chat())) as c:
        original = type(c).chat.__wrapped__.__get__(c)  # the SDK's own method
        result = instrumented_again(original, c, (fake.MODEL, fake.MESSAGES), {})
    assert isinstance(result, ollama.ChatResponse) and result.message.content == "Hello!"
    (error,) = points(metric_reader, names.INSTRUMENTATION_ERRORS.otel)
    assert dict(error.attributes) == {sc.INSTRUMENTATION: "ollama.chat", sc.ERROR: "KeyError"}
    (span,) = finished(span_exporter)  # ended once, with what the request said
    assert dict(span.attributes or {})[sc.REQUEST_MODEL] == fake.MODEL


def test_a_response_with_unexpected_types_is_read_as_absent_and_returned_as_sent(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    # ollama's models accept extra fields and missing optional ones; values the SDK keeps
    # but agentwatch cannot use (a numeric done_reason would fail its validation) are left out.
    body = {"model": fake.RESPONSE_MODEL, "message": {"role": "assistant"}, "done": True}
    body["extra"] = {"nested": [1, 2]}
    result = call("sync", answering(body), "chat", fake.MODEL, fake.MESSAGES)
    assert result.message.content is None
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert sc.USAGE_INPUT_TOKENS not in attrs and sc.RESPONSE_FINISH_REASONS not in attrs
    assert attrs[sc.RESPONSE_FLAGS] == ("empty",)
