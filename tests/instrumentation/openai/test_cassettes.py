"""Recorded real OpenAI traffic, replayed through the real SDK: attributes match the bodies.

The recordings are OpenLLMetry's VCR cassettes (Apache-2.0), read from the directory that
`AGENTWATCH_CASSETTES` names (its `openllmetry-openai/` folder); they are never copied into the
project. Without the variable these tests skip. Expected values are read from each recorded body
here, independently of the instrumentation's own readers.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import openai
import pytest
import yaml
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation import tokens
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished

ENV = "AGENTWATCH_CASSETTES"
ENDPOINTS = ("/chat/completions", "/responses", "/embeddings")
ASYNC = {"test_chat_async_streaming.yaml"}


def _root() -> Path | None:
    value = os.environ.get(ENV)
    return Path(value) / "openllmetry-openai" if value else None


def _cases() -> list[Any]:
    root = _root()
    if root is None or not root.is_dir():
        reason = f"{ENV} is not set (or names no directory with openllmetry-openai/)"
        return [pytest.param(None, 0, id="no-cassettes", marks=pytest.mark.skip(reason=reason))]
    cases = []
    for path in sorted(root.rglob("*.yaml")):
        interactions = yaml.safe_load(path.read_text())["interactions"]
        for n, interaction in enumerate(interactions):
            if urlsplit(interaction["request"]["uri"]).path.endswith(ENDPOINTS):
                cases.append(pytest.param(path, n, id=f"{path.stem}-{n}"))
    return cases


def _body(response: dict[str, Any]) -> bytes:
    raw = response["body"]["string"]
    data = raw if isinstance(raw, bytes) else raw.encode()
    headers = {k.lower(): v for k, v in response["headers"].items()}
    if "gzip" in " ".join(headers.get("content-encoding", [])):
        data = gzip.decompress(data)
    return data


def _events(body: bytes) -> list[dict[str, Any]]:
    events = []
    for line in body.decode().splitlines():
        if line.startswith("data:") and line[5:].strip() != "[DONE]":
            events.append(json.loads(line[5:]))
    return events


def _expected_chat(body: dict[str, Any]) -> dict[str, Any]:
    use = body.get("usage") or {}
    names = [
        call["function"]["name"]
        for choice in body["choices"]
        for call in (choice["message"].get("tool_calls") or [])
    ]
    expected = {
        sc.RESPONSE_ID: body["id"],
        sc.RESPONSE_MODEL: body["model"],
        sc.RESPONSE_FINISH_REASONS: tuple(c["finish_reason"] for c in body["choices"]),
        sc.USAGE_INPUT_TOKENS: use.get("prompt_tokens"),
        sc.USAGE_OUTPUT_TOKENS: use.get("completion_tokens"),
        sc.USAGE_CACHE_READ_INPUT_TOKENS: (use.get("prompt_tokens_details") or {}).get(
            "cached_tokens"
        ),
        sc.USAGE_REASONING_OUTPUT_TOKENS: (use.get("completion_tokens_details") or {}).get(
            "reasoning_tokens"
        ),
    }
    if names:
        expected[sc.TOOL_CALL_NAMES] = tuple(names)
    return expected


def _expected_chat_stream(chunks: list[dict[str, Any]], messages: Any) -> dict[str, Any]:
    reasons: dict[int, str] = {}
    names: list[str] = []
    text: list[str] = []
    use = None
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            if choice.get("finish_reason"):
                reasons[choice["index"]] = choice["finish_reason"]
            delta = choice.get("delta") or {}
            text.append(delta.get("content") or "")
            names += [
                c["function"]["name"]
                for c in delta.get("tool_calls") or []
                if (c.get("function") or {}).get("name")
            ]
        use = chunk.get("usage") or use
    model = next(c["model"] for c in chunks if c.get("model"))
    expected: dict[str, Any] = {
        sc.RESPONSE_ID: next(c["id"] for c in chunks if c.get("id")),
        sc.RESPONSE_MODEL: model,
        sc.RESPONSE_FINISH_REASONS: tuple(r for _, r in sorted(reasons.items())),
    }
    if names:
        expected[sc.TOOL_CALL_NAMES] = tuple(names)
    if use is not None:
        expected[sc.USAGE_INPUT_TOKENS] = use["prompt_tokens"]
        expected[sc.USAGE_OUTPUT_TOKENS] = use["completion_tokens"]
        expected[sc.USAGE_ESTIMATED] = None
    else:
        expected[sc.USAGE_OUTPUT_TOKENS] = tokens.count_text("".join(text), model).tokens
        expected[sc.USAGE_INPUT_TOKENS] = tokens.count_messages(messages, model).tokens
        expected[sc.USAGE_ESTIMATED] = True
    return expected


def _expected(path: str, request: dict[str, Any], body: bytes, status: int) -> dict[str, Any]:
    if status >= 400:
        return {sc.ERROR_TYPE: str(status)}
    if path.endswith("/embeddings"):
        data = json.loads(body)
        return {
            sc.RESPONSE_MODEL: data["model"],
            sc.USAGE_INPUT_TOKENS: data["usage"]["prompt_tokens"],
        }
    if path.endswith("/responses"):
        done = next(e for e in _events(body) if e["type"] == "response.completed")["response"]
        return {
            sc.RESPONSE_ID: done["id"],
            sc.RESPONSE_MODEL: done["model"],
            sc.USAGE_INPUT_TOKENS: done["usage"]["input_tokens"],
            sc.USAGE_OUTPUT_TOKENS: done["usage"]["output_tokens"],
        }
    if request.get("stream"):
        return _expected_chat_stream(_events(body), request["messages"])
    return _expected_chat(json.loads(body))


def _client(uri: str, handler: Any, asynchronous: bool) -> Any:
    parts = urlsplit(uri)
    http = (httpx2.AsyncClient if asynchronous else httpx2.Client)(
        transport=httpx2.MockTransport(handler)
    )
    options: dict[str, Any] = {"api_key": "test-key", "http_client": http, "max_retries": 0}
    if parts.hostname and parts.hostname.endswith(".openai.azure.com"):
        version = parse_qs(parts.query)["api-version"][0]
        endpoint = f"{parts.scheme}://{parts.netloc}"
        cls = openai.AsyncAzureOpenAI if asynchronous else openai.AzureOpenAI
        return cls(azure_endpoint=endpoint, api_version=version, **options)
    base = uri.split("?")[0]
    base = base[: -len(next(e for e in ENDPOINTS if base.endswith(e)))]
    return (openai.AsyncOpenAI if asynchronous else openai.OpenAI)(base_url=base, **options)


def _call(client: Any, path: str, request: dict[str, Any]) -> Any:
    if path.endswith("/embeddings"):
        keys = ("model", "input", "encoding_format")
        return client.embeddings.create(**{k: request[k] for k in keys if k in request})
    if path.endswith("/responses"):
        keys = ("model", "input", "stream", "instructions")
        return client.responses.create(**{k: request[k] for k in keys if k in request})
    keys = ("model", "messages", "stream", "tools", "stream_options", "reasoning_effort")
    return client.chat.completions.create(**{k: request[k] for k in keys if k in request})


@pytest.mark.parametrize(("cassette", "index"), _cases())
def test_a_recorded_exchange_gives_the_attributes_its_body_says(
    cassette: Path, index: int, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    interaction = yaml.safe_load(cassette.read_text())["interactions"][index]
    uri = interaction["request"]["uri"]
    request = json.loads(interaction["request"]["body"])
    status = interaction["response"]["status"]["code"]
    body = _body(interaction["response"])
    kind = "text/event-stream" if request.get("stream") else "application/json"

    def answer(sent: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, content=body, headers={"content-type": kind})

    path = urlsplit(uri).path
    asynchronous = cassette.name in ASYNC
    with pytest.raises(openai.APIStatusError) if status >= 400 else contextlib.nullcontext():
        if asynchronous:

            async def run() -> None:
                async with _client(uri, answer, True) as client:
                    result = await _call(client, path, request)
                    if request.get("stream"):
                        async for _ in result:
                            pass

            asyncio.run(run())
        else:
            with _client(uri, answer, False) as client:
                result = _call(client, path, request)
                if request.get("stream"):
                    for _ in result:
                        pass
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    expected = _expected(path, request, body, status)
    assert {key: attrs.get(key) for key in expected} == expected
    azure = (urlsplit(uri).hostname or "").endswith(".openai.azure.com")
    assert attrs[sc.PROVIDER_NAME] == ("azure.ai.openai" if azure else "openai")
    assert attrs[sc.REQUEST_MODEL] == request["model"]
