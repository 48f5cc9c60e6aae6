# mypy: disable-error-code="import-untyped"
"""InvokeModel and its stream for Anthropic Messages and Meta Llama bodies."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from importlib.metadata import version
from typing import Any

import wrapt
from botocore.response import StreamingBody
from botocore.stub import Stubber
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from packaging.requirements import Requirement

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.bedrock import BedrockInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.bedrock import fakeapi as fake
from tests.instrumentation.conftest import finished, points


def invoke(model: str, body: bytes, answer: dict[str, Any]) -> Any:
    client = fake.client()
    data = json.dumps(answer).encode()
    with Stubber(client) as stub:
        response = {"body": StreamingBody(io.BytesIO(data), len(data)), "contentType": "json"}
        stub.add_response("invoke_model", response)
        return client.invoke_model(modelId=model, body=body)


def test_an_anthropic_body_is_a_chat_with_the_bodys_usage_and_a_still_readable_body(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    answer = fake.claude_message(cache_read_input_tokens=100, cache_creation_input_tokens=10)
    result = invoke(fake.CLAUDE, fake.claude_body(temperature=0.3, top_k=5), answer)
    assert json.loads(result["body"].read()) == answer  # the caller reads the very same bytes
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert span.name == f"chat {fake.CLAUDE}"
    assert attrs[sc.PROVIDER_NAME] == "aws.bedrock"
    assert attrs[sc.REQUEST_MAX_TOKENS] == 256 and attrs[sc.REQUEST_TEMPERATURE] == 0.3
    assert attrs[sc.REQUEST_TOP_K] == 5.0
    assert attrs[sc.RESPONSE_ID] == "msg_bdrk_01"
    assert attrs[sc.RESPONSE_MODEL] == "claude-3-haiku-20240307"
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (122, 5)
    assert attrs[sc.USAGE_CACHE_READ_INPUT_TOKENS] == 100


def test_a_llama_body_is_a_text_completion_with_its_token_counts(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    result = invoke(fake.LLAMA, fake.llama_body(), fake.llama_generation(stop_reason="length"))
    assert json.loads(result["body"].read())["generation"] == "Hello!"
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert attrs[sc.OPERATION_NAME] == "text_completion"
    assert attrs[sc.REQUEST_MAX_TOKENS] == 128 and attrs[sc.REQUEST_TOP_P] == 0.9
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("length",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (17, 3)
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum) for p in tokens) == [
        ("input", 17),
        ("output", 3),
    ]


def test_a_body_of_another_family_gets_the_model_only_and_is_left_unread(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    answer = {"embedding": [0.1, 0.2], "inputTextTokenCount": 4}
    body = json.dumps({"inputText": "hello"}).encode()
    result = invoke("amazon.titan-embed-text-v2:0", body, answer)
    assert json.loads(result["body"].read()) == answer
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert attrs[sc.REQUEST_MODEL] == "amazon.titan-embed-text-v2:0"
    assert sc.USAGE_INPUT_TOKENS not in attrs


def test_a_body_that_is_not_json_is_counted_as_an_error_and_returned_as_sent(
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    client = fake.client()
    with Stubber(client) as stub:
        body = StreamingBody(io.BytesIO(b"<html>"), 6)
        stub.add_response("invoke_model", {"body": body, "contentType": "text/html"})
        result = client.invoke_model(modelId=fake.CLAUDE, body=fake.claude_body())
    assert result["body"].read() == b"<html>"
    (error,) = points(metric_reader, names.INSTRUMENTATION_ERRORS.otel)
    assert dict(error.attributes) == {sc.INSTRUMENTATION: "bedrock", sc.ERROR: "JSONDecodeError"}
    assert len(finished(span_exporter)) == 1


def invoke_stream(model: str, body: bytes, chunks: list[dict[str, Any]]) -> Any:
    client = fake.client()
    data = fake.stream_bytes(fake.chunk_events(chunks))
    fake.answer_stream(client, "InvokeModelWithResponseStream", data)
    return client.invoke_model_with_response_stream(modelId=model, body=body)


def test_an_anthropic_stream_reports_its_usage_once(
    capturing: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    chunks = fake.claude_chunks(["Hello", "!"])
    got = list(invoke_stream(fake.CLAUDE, fake.claude_body(), chunks)["body"])
    assert len(got) == len(chunks)
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.REQUEST_STREAM] is True and attrs[sc.RESPONSE_ID] == "msg_bdrk_01"
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (12, 6)
    output = json.loads(str(attrs[sc.OUTPUT_MESSAGES]))
    assert output[0]["parts"] == [{"type": "text", "content": "Hello!"}]


def test_a_llama_stream_takes_its_running_counts(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    chunks = fake.llama_chunks(["Hel", "lo", "!"])
    list(invoke_stream(fake.LLAMA, fake.llama_body(), chunks)["body"])
    attrs = dict(finished(span_exporter)[0].attributes or {})
    assert attrs[sc.OPERATION_NAME] == "text_completion"
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (17, 3)


# -- the instrumentor ------------------------------------------------------------------------


def test_the_supported_range_includes_the_installed_botocore() -> None:
    (requirement,) = (Requirement(r) for r in BedrockInstrumentor().instrumentation_dependencies())
    assert requirement.name == "botocore" and version("botocore") in requirement.specifier


def test_uninstrument_restores_make_api_call(telemetry: Telemetry) -> None:
    from botocore.client import BaseClient

    original = BaseClient.__dict__["_make_api_call"]
    instrumentor = BedrockInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        assert isinstance(BaseClient.__dict__["_make_api_call"], wrapt.FunctionWrapper)
    finally:
        instrumentor.uninstrument()
    assert BaseClient.__dict__["_make_api_call"] is original


class ForAnotherBotocore(BedrockInstrumentor):
    _instance = None
    _instruments = ("botocore >= 99",)


def test_a_botocore_out_of_range_is_left_unpatched(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    from botocore.client import BaseClient

    original = BaseClient.__dict__["_make_api_call"]
    instrumentor = ForAnotherBotocore()
    instrumentor.instrument(telemetry=telemetry)
    try:
        assert BaseClient.__dict__["_make_api_call"] is original
        invoke(fake.LLAMA, fake.llama_body(), fake.llama_generation())
    finally:
        instrumentor.uninstrument()
    assert finished(span_exporter) == []


def test_importing_the_instrumentor_does_not_import_botocore() -> None:
    code = (
        "import sys, agentwatch.instrumentation.bedrock as b; b.BedrockInstrumentor(); "
        "sys.exit('botocore' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
    assert importlib.import_module("agentwatch.instrumentation.bedrock")
