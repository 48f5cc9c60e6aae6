# mypy: disable-error-code="import-untyped"
"""Converse and ConverseStream: one CLIENT span per call, usage with the cache counts, streams."""

from __future__ import annotations

import gc
import json
from typing import Any

import botocore.exceptions
import pytest
from botocore.eventstream import EventStream
from botocore.stub import Stubber
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from urllib3.exceptions import ProtocolError

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.bedrock import fakeapi as fake
from tests.instrumentation.conftest import finished, points

TOOLS = {
    "tools": [
        {
            "toolSpec": {
                "name": "get_weather",
                "description": "Weather of a city",
                "inputSchema": {
                    "json": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    }
                },
            }
        }
    ]
}


def converse(response: dict[str, Any], **params: Any) -> Any:
    client = fake.client()
    with Stubber(client) as stub:
        stub.add_response("converse", response)
        result = client.converse(modelId=fake.CLAUDE, messages=fake.MESSAGES, **params)
        stub.assert_no_pending_responses()
    return result


def test_converse_is_one_client_span_with_exactly_the_conventions_attributes(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    config = {"maxTokens": 256, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]}
    result = converse(
        fake.converse(use=fake.usage(100, 20, read=1000, write=50)),
        inferenceConfig=config,
        additionalModelRequestFields={"top_k": 40},
    )
    assert result["output"]["message"]["content"] == [{"text": "Hello!"}]
    (span,) = finished(span_exporter)
    assert span.name == f"chat {fake.CLAUDE}"
    assert span.kind is SpanKind.CLIENT and span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        sc.OPERATION_NAME: "chat",
        sc.PROVIDER_NAME: "aws.bedrock",
        sc.REQUEST_MODEL: fake.CLAUDE,
        sc.SERVER_ADDRESS: fake.HOST,
        sc.SERVER_PORT: 443,
        sc.REQUEST_MAX_TOKENS: 256,
        sc.REQUEST_TEMPERATURE: 0.2,
        sc.REQUEST_TOP_P: 0.9,
        sc.REQUEST_TOP_K: 40.0,
        sc.REQUEST_STOP_SEQUENCES: ("END",),
        sc.REQUEST_STREAM: False,
        sc.RESPONSE_FINISH_REASONS: ("stop",),
        # inputTokens excludes the cache: the conventions' input counts every input token.
        sc.USAGE_INPUT_TOKENS: 1150,
        sc.USAGE_OUTPUT_TOKENS: 20,
        sc.USAGE_CACHE_READ_INPUT_TOKENS: 1000,
        sc.USAGE_CACHE_CREATION_INPUT_TOKENS: 50,
    }


def test_converse_records_the_duration_and_tokens_once(
    instrumented: Telemetry, metric_reader: InMemoryMetricReader
) -> None:
    converse(fake.converse())
    (duration,) = points(metric_reader, names.GEN_AI_OPERATION_DURATION.otel)
    assert duration.count == 1 and duration.attributes[sc.PROVIDER_NAME] == "aws.bedrock"
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 12, 1),
        ("output", 5, 1),
    ]


@pytest.mark.parametrize(
    ("stop_reason", "expected"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_call"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
    ],
    ids=str,
)
def test_stop_reasons_become_the_conventions_finish_reasons(
    stop_reason: str, expected: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    converse(fake.converse(stop_reason=stop_reason))
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert attrs[sc.RESPONSE_FINISH_REASONS] == (expected,)


def test_tool_uses_are_named_and_checked_against_the_tool_config(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    content = [
        {"text": "Let me check."},
        fake.tool_use("get_weather", {"city": "Paris"}),
        fake.tool_use("get_time", n=1),
    ]
    converse(fake.converse(content, stop_reason="tool_use"), toolConfig=TOOLS)
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather", "get_time")
    assert attrs[sc.HALLUCINATED_TOOL_CALLS] == 1
    assert [dict(e.attributes or {})[sc.TOOL_NAME] for e in span.events] == ["get_time"]
    assert sc.TOOL_DEFINITIONS not in attrs and sc.INPUT_MESSAGES not in attrs


def test_content_is_recorded_in_the_conventions_shapes_only_when_opted_in(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    content = [fake.tool_use("get_weather", {"city": "Paris"})]
    converse(
        fake.converse(content, stop_reason="tool_use"),
        system=[{"text": "Be terse."}],
        toolConfig=TOOLS,
    )
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert json.loads(str(attrs[sc.SYSTEM_INSTRUCTIONS])) == [
        {"type": "text", "content": "Be terse."}
    ]
    assert json.loads(str(attrs[sc.INPUT_MESSAGES])) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say hello."}]}
    ]
    assert json.loads(str(attrs[sc.TOOL_DEFINITIONS]))[0]["name"] == "get_weather"
    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES])) == [
        {
            "role": "assistant",
            "parts": [
                {
                    "type": "tool_call",
                    "id": "tooluse_0",
                    "name": "get_weather",
                    "arguments": {"city": "Paris"},
                }
            ],
            "finish_reason": "tool_call",
        }
    ]


@pytest.mark.parametrize(
    ("code", "status"),
    [("ValidationException", 400), ("AccessDeniedException", 403), ("ThrottlingException", 429)],
    ids=str,
)
def test_a_service_error_reaches_the_caller_and_ends_the_span_with_its_exception(
    code: str,
    status: int,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    client = fake.client()
    with Stubber(client) as stub, pytest.raises(botocore.exceptions.ClientError) as raised:
        stub.add_client_error("converse", code, "nope", http_status_code=status)
        client.converse(modelId=fake.CLAUDE, messages=fake.MESSAGES)
    assert raised.value.response["Error"]["Code"] == code
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == code  # botocore's modeled class
    assert points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel) == []


def test_other_aws_calls_go_straight_to_botocore(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    import boto3

    s3 = boto3.client("s3", region_name=fake.REGION)
    with Stubber(s3) as stub:
        stub.add_response("list_buckets", {"Buckets": []})
        assert s3.list_buckets()["Buckets"] == []
    bedrock = boto3.client("bedrock", region_name=fake.REGION)  # the control plane
    with Stubber(bedrock) as stub:
        stub.add_response("list_foundation_models", {"modelSummaries": []})
        bedrock.list_foundation_models()
    assert finished(span_exporter) == []


# -- ConverseStream --------------------------------------------------------------------------


def converse_stream(data: bytes, cut: bool = False, **params: Any) -> Any:
    client = fake.client()
    fake.answer_stream(client, "ConverseStream", data, cut)
    return client.converse_stream(modelId=fake.CLAUDE, messages=fake.MESSAGES, **params)


def test_a_converse_stream_reports_its_metadata_usage_once_and_stays_an_event_stream(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    events = fake.converse_events(["Hello", ", ", "world"])
    response = converse_stream(fake.stream_bytes(events))
    stream = response["stream"]
    assert isinstance(stream, EventStream)
    got = list(stream)
    assert len(got) == len(events)
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in got if "contentBlockDelta" in e)
    assert text == "Hello, world"
    stream.close()  # after the end: nothing more
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.REQUEST_STREAM] is True
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert isinstance(attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK], float)
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 12, 1),
        ("output", 5, 1),
    ]


def test_a_streamed_tool_use_is_assembled_and_checked(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    events = fake.converse_events(["Checking."], tool=("get_weather", ['{"town":', ' "Paris"}']))
    for _ in converse_stream(fake.stream_bytes(events), toolConfig=TOOLS)["stream"]:
        pass
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.TOOL_CALL_NAMES] == ("get_weather",)
    assert attrs[sc.HALLUCINATED_TOOL_CALLS] == 1  # `town` instead of the required `city`
    assert json.loads(str(attrs[sc.OUTPUT_MESSAGES]))[0]["parts"] == [
        {"type": "text", "content": "Checking."},
        {
            "type": "tool_call",
            "id": "tooluse_1",
            "name": "get_weather",
            "arguments": {"town": "Paris"},
        },
    ]


@pytest.mark.parametrize("how", ["close", "gc"], ids=str)
def test_a_converse_stream_left_early_ends_once_with_what_it_saw(
    how: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    stream = converse_stream(fake.stream_bytes(fake.converse_events(["a", "b", "c"])))["stream"]
    for _ in zip(range(2), stream, strict=False):
        pass
    assert finished(span_exporter) == []
    if how == "close":
        stream.close()
        assert len(finished(span_exporter)) == 1
    del stream
    gc.collect()
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.status.status_code is StatusCode.UNSET
    assert sc.USAGE_INPUT_TOKENS not in attrs and sc.RESPONSE_FINISH_REASONS not in attrs


def test_an_exception_event_reaches_the_caller_and_ends_the_span_with_it(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    events = fake.converse_events(["Hel"])[:2]
    data = fake.stream_bytes(events) + fake.exception("throttlingException", "slow down")
    stream = converse_stream(data)["stream"]
    got: list[Any] = []
    with pytest.raises(botocore.exceptions.EventStreamError) as raised:
        for item in stream:
            got.append(item)
    assert len(got) == 2 and "slow down" in str(raised.value)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "EventStreamError"


def test_a_connection_cut_mid_stream_reaches_the_caller(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    data = fake.stream_bytes(fake.converse_events(["Hel"])[:2])
    with pytest.raises(ProtocolError):
        list(converse_stream(data, cut=True)["stream"])
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "ProtocolError"
