"""litellm.completion / acompletion: one span per call, the routed provider, streams, no doubles."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import litellm
import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.litellm import LiteLLMInstrumentor
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.openai import fakeapi as fake

# LiteLLM's own code trips pydantic warnings (ReadOnly TypedDicts, 2.11 deprecations) that the
# suite's filterwarnings=error would turn into failures of the plain, uninstrumented call.
pytestmark = [
    pytest.mark.filterwarnings("ignore:.*ReadOnly.*:UserWarning"),
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecatedSince211"),
    # LiteLLM's async path leaves its own event loop and sockets to the garbage collector.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]
KINDS = ["sync", "async"]
MESSAGES = [{"role": "user", "content": "Say hello."}]


def call(kind: str, api: fake.Api, model: str = "gpt-4o-mini", **kwargs: Any) -> Any:
    if kind == "sync":
        return litellm.completion(model, MESSAGES, client=fake.client(api), **kwargs)

    async def run() -> Any:
        async with fake.async_client(api) as client:
            return await litellm.acompletion(model, MESSAGES, client=client, **kwargs)

    return asyncio.run(run())


def answering(body: dict[str, Any], status: int = 200) -> fake.Api:
    return fake.fixed(lambda: fake.json_response(body, status))


@pytest.mark.parametrize("model", ["gpt-4o-mini", "openai/gpt-4o-mini"], ids=str)
@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_completion_is_one_span_of_the_routed_provider_with_its_usage_and_cost(
    kind: str,
    model: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    api = answering(fake.completion(use=fake.usage(prompt=12, completion=5)))
    result = call(kind, api, model, temperature=0.2, max_tokens=64)
    assert isinstance(result, litellm.ModelResponse) and result.choices[0].message.content
    assert len(api.requests) == 1
    (span,) = finished(span_exporter)  # LiteLLM's: the openai SDK's own wrapper stayed quiet
    attrs = dict(span.attributes or {})
    assert span.name == "chat gpt-4o-mini"
    assert attrs[sc.PROVIDER_NAME] == "openai" and attrs[sc.REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[sc.REQUEST_TEMPERATURE] == 0.2 and attrs[sc.REQUEST_MAX_TOKENS] == 64
    assert attrs[sc.RESPONSE_MODEL] == fake.RESPONSE_MODEL
    assert attrs[sc.RESPONSE_FINISH_REASONS] == ("stop",)
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (12, 5)
    assert attrs[sc.COST_USD] == pytest.approx((12 * 0.15 + 5 * 0.60) / 1e6)
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 12, 1),
        ("output", 5, 1),
    ]


@pytest.mark.parametrize(
    ("model", "provider", "routed"),
    [
        ("anthropic/claude-3-haiku-20240307", "anthropic", "claude-3-haiku-20240307"),
        ("bedrock/anthropic.claude-3-haiku-20240307-v1:0", "aws.bedrock", None),
        ("mistral/mistral-small-latest", "mistral_ai", "mistral-small-latest"),
        ("gemini/gemini-2.0-flash", "gcp.gemini", "gemini-2.0-flash"),
    ],
    ids=str,
)
def test_the_provider_is_the_one_litellm_routes_to_in_the_conventions_names(
    model: str, provider: str, routed: str | None
) -> None:
    from agentwatch.instrumentation.litellm.patch import route

    got_provider, got_model, _ = route({"model": model})
    assert got_provider == provider
    assert got_model == (routed or model.split("/", 1)[1])


def test_an_sdk_litellm_calls_itself_is_not_counted_twice(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    """A custom LiteLLM provider calling the (instrumented) openai SDK: still one span."""
    api = answering(fake.completion())

    class ViaOpenAI(litellm.CustomLLM):  # type: ignore[misc,name-defined]
        def completion(self, *args: Any, **kwargs: Any) -> Any:
            answer = fake.client(api).chat.completions.create(
                model="gpt-4o-mini",
                messages=MESSAGES,  # type: ignore[arg-type]
            )
            return litellm.ModelResponse(**answer.model_dump())

    before = list(litellm.custom_provider_map)
    litellm.custom_provider_map = [{"provider": "viaopenai", "custom_handler": ViaOpenAI()}]
    try:
        from litellm.utils import custom_llm_setup

        custom_llm_setup()  # type: ignore[no-untyped-call]
        litellm.completion("viaopenai/any", MESSAGES)
    finally:
        litellm.custom_provider_map = before
    assert len(api.requests) == 1
    (span,) = finished(span_exporter)
    assert dict(span.attributes or {})[sc.PROVIDER_NAME] == "viaopenai"


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_a_stream_stays_a_custom_stream_wrapper_and_reports_its_usage_once(
    kind: str,
    instrumented: Telemetry,
    span_exporter: InMemorySpanExporter,
    metric_reader: InMemoryMetricReader,
) -> None:
    body = fake.sse(fake.text_chunks(["Hel", "lo"], with_usage=fake.usage(9, 2)))
    api = fake.fixed(lambda: fake.sse_response(body))
    options: dict[str, Any] = {"stream": True, "stream_options": {"include_usage": True}}
    if kind == "sync":
        stream = call(kind, api, **options)
        assert isinstance(stream, litellm.CustomStreamWrapper)
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    else:

        async def run() -> str:
            client = fake.async_client(api)
            stream = await litellm.acompletion("gpt-4o-mini", MESSAGES, client=client, **options)
            assert isinstance(stream, litellm.CustomStreamWrapper)
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        text = asyncio.run(run())
    assert text == "Hello"
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[sc.REQUEST_STREAM] is True and attrs[sc.PROVIDER_NAME] == "openai"
    assert (attrs[sc.USAGE_INPUT_TOKENS], attrs[sc.USAGE_OUTPUT_TOKENS]) == (9, 2)
    assert isinstance(attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK], float)
    tokens = points(metric_reader, names.GEN_AI_TOKEN_USAGE.otel)
    assert sorted((p.attributes[sc.TOKEN_TYPE], p.sum, p.count) for p in tokens) == [
        ("input", 9, 1),
        ("output", 2, 1),
    ]


def test_a_stream_left_early_ends_once(
    instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    body = fake.sse(fake.text_chunks(["a", "b", "c", "d"]))
    stream = call("sync", fake.fixed(lambda: fake.sse_response(body)), stream=True)
    next(iter(stream))
    assert finished(span_exporter) == []
    del stream
    import gc

    gc.collect()
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.UNSET


@pytest.mark.parametrize("kind", KINDS, ids=str)
def test_an_api_error_reaches_the_caller_as_litellms_exception_with_its_status(
    kind: str, instrumented: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    body = {"error": {"message": "Rate limit", "type": "requests", "code": "rate_limit_exceeded"}}
    with pytest.raises(litellm.exceptions.RateLimitError):
        call(kind, answering(body, 429), num_retries=0)
    (span,) = finished(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert dict(span.attributes or {})[sc.ERROR_TYPE] == "429"


def test_uninstrument_restores_the_functions(telemetry: Telemetry) -> None:
    import litellm.main

    before = (litellm.completion, litellm.acompletion, litellm.main.completion)
    instrumentor = LiteLLMInstrumentor()
    instrumentor.instrument(telemetry=telemetry)
    try:
        assert litellm.completion is not before[0]
    finally:
        instrumentor.uninstrument()
    assert (litellm.completion, litellm.acompletion, litellm.main.completion) == before


def test_importing_the_instrumentor_does_not_import_litellm() -> None:
    code = (
        "import sys, agentwatch.instrumentation.litellm as l; l.LiteLLMInstrumentor(); "
        "sys.exit('litellm' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_routes_are_looked_up_once_per_model_bounded_and_failures_never_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import litellm

    from agentwatch.instrumentation.litellm import patch

    asked: list[str] = []
    real = litellm.get_llm_provider

    def counting(model: str, **kwargs: Any) -> Any:
        asked.append(model)
        return real(model, **kwargs)

    monkeypatch.setattr(litellm, "get_llm_provider", counting)
    routes = patch.Routes(limit=2)
    mistral = {"model": "mistral/mistral-small-latest"}
    first = routes.of(mistral)
    assert routes.of(dict(mistral)) == first == patch.route(mistral)
    assert asked == [mistral["model"]] * 2  # once for the routes, once for route() itself
    # Another api base is another route.
    assert routes.of({**mistral, "api_base": "http://127.0.0.1:9/v1"})[2] == "http://127.0.0.1:9/v1"
    routes.of({"model": "gemini/gemini-2.0-flash"})  # over the limit: looked up, not kept
    routes.of({"model": "gemini/gemini-2.0-flash"})
    assert asked.count("gemini/gemini-2.0-flash") == 2
    unroutable = {"model": "made-up-model-xyz"}  # LiteLLM raises: the call will raise too
    assert routes.of(unroutable) == routes.of(unroutable) == ("litellm", "made-up-model-xyz", None)
    assert asked.count("made-up-model-xyz") == 2
