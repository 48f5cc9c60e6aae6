"""Wrapper factories for `litellm.completion` and `litellm.acompletion`: one span per call.

LiteLLM's responses are OpenAI-shaped (`ModelResponse`, streamed `ModelResponseStream`
chunks), so they are read by the OpenAI module's readers. The provider is the one LiteLLM
routes to (`litellm.get_llm_provider`), named as the conventions name it. The call runs as a
traced gateway call (`gateway.run`): an instrumented SDK that LiteLLM calls inside it records
nothing of its own, so each call is counted once. A stream (`CustomStreamWrapper`) comes back
behind a proxy that sees each chunk and ends the invocation when it ends, breaks or closes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agentwatch.instrumentation import gateway
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation, call_async, call_sync
from agentwatch.instrumentation.openai import request as openai_request
from agentwatch.instrumentation.openai import responses as openai_responses
from agentwatch.instrumentation.quality.toolcalls import openai_tools
from agentwatch.instrumentation.streams import AsyncStream, SyncStream
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_str, given
from agentwatch.instrumentation.wrappers import Marker

WHERE = "litellm.completion"
PARAMS = ("model", "messages")
MARKER = Marker("litellm_traced_call")
"""Set inside a traced call: `acompletion` runs `completion` itself, traced once."""

PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
}
"""LiteLLM's provider names -> the conventions' `gen_ai.provider.name` (others pass through)."""


def route(request: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(provider, model as sent to it, api base) that LiteLLM routes `request` to."""
    import litellm

    model = as_str(request.get("model")) or ""
    custom = as_str(request.get("custom_llm_provider"))
    base = as_str(request.get("api_base")) or as_str(request.get("base_url"))
    try:
        routed, provider, _, api_base = litellm.get_llm_provider(
            model, custom_llm_provider=custom, api_base=base
        )
    except Exception:  # LiteLLM cannot route it either: the call will raise the same
        return custom or "litellm", model or None, base
    name = as_str(provider) or "litellm"
    return PROVIDERS.get(name, name), as_str(routed) or model or None, as_str(api_base) or base


def _server(base: str | None) -> tuple[str | None, int | None]:
    if not base:
        return None, None
    try:
        parts = urlsplit(base)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None, None
    return parts.hostname, port


def start(telemetry: Telemetry, request: Mapping[str, Any]) -> Invocation:
    """The invocation of a completion request."""
    provider, model, base = route(request)
    address, port = _server(base)
    attributes = openai_request.chat_attributes(telemetry, request)
    streaming = request.get("stream") is True
    kind = openai_responses.ChatStream if streaming else Invocation
    inv = kind(telemetry, sc.OP_CHAT, provider, model, attributes, address, port)
    tools = request.get("tools")
    if given(tools) and tools:
        inv.offered_tools = openai_tools(tools)
    if attributes.get(sc.OUTPUT_TYPE) == sc.OUTPUT_TYPE_JSON:
        inv.expect_json()
    if isinstance(inv, openai_responses.ChatStream):
        inv.setup(not openai_request.asks_for_usage(request), request.get("messages"))
    return inv


def on_chunk(inv: openai_responses.ChatStream, chunk: Any) -> None:
    """One `ModelResponseStream`, read as an OpenAI chunk.

    LiteLLM's chunks have no `usage` attribute at all until the one that carries it; the
    OpenAI reader reads `usage` last, so a chunk without it has been read whole by then.
    """
    try:
        openai_responses.on_chat_chunk(inv, chunk)
    except AttributeError:
        if hasattr(chunk, "usage"):
            raise


def finish(inv: Invocation, result: Any, asynchronous: bool) -> Any:
    """Read a `ModelResponse`, or proxy a `CustomStreamWrapper`."""
    if isinstance(inv, openai_responses.ChatStream):
        # CustomStreamWrapper has both __next__ and __anext__: the call says which it is.
        proxy = AsyncStream if asynchronous else SyncStream
        return proxy(result, inv, on_chunk)  # type: ignore[arg-type]
    if hasattr(result, "choices"):
        openai_responses.read_completion(inv, result)
    inv.end()
    return result


def completion(telemetry: Telemetry) -> Wrapper:
    """`litellm.completion`."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if MARKER.inside():
            return wrapped(*args, **kwargs)
        request = {**dict(zip(PARAMS, args, strict=False)), **kwargs}
        return call_sync(
            telemetry,
            WHERE,
            lambda: start(telemetry, request),
            lambda: MARKER.run(lambda: gateway.run(lambda: wrapped(*args, **kwargs))),
            lambda inv, result: finish(inv, result, False),
        )

    return wrapper


def acompletion(telemetry: Telemetry) -> Wrapper:
    """`litellm.acompletion`."""

    async def wrapper(
        wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if MARKER.inside():
            return await wrapped(*args, **kwargs)
        request = {**dict(zip(PARAMS, args, strict=False)), **kwargs}

        async def call() -> Any:
            return await gateway.run_async(lambda: wrapped(*args, **kwargs))

        return await call_async(
            telemetry,
            WHERE,
            lambda: start(telemetry, request),
            lambda: MARKER.run_async(call),
            lambda inv, result: finish(inv, result, True),
        )

    return wrapper
