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


Route = tuple[str, str | None, str | None]
"""(provider, model as sent to it, api base)."""
MAX_ROUTES = 256
"""Routes a wrapper remembers (a model name is open-ended); past this, others are looked up."""


def _asked(request: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    """(model, `custom_llm_provider`, api base) of a request: what its route depends on."""
    base = as_str(request.get("api_base")) or as_str(request.get("base_url"))
    return as_str(request.get("model")) or "", as_str(request.get("custom_llm_provider")), base


def _lookup(model: str, custom: str | None, base: str | None) -> tuple[Route, bool]:
    """(the route, whether LiteLLM found it) from `litellm.get_llm_provider`."""
    import litellm

    try:
        routed, provider, _, api_base = litellm.get_llm_provider(
            model, custom_llm_provider=custom, api_base=base
        )
    except Exception:  # LiteLLM cannot route it either: the call will raise the same
        return (custom or "litellm", model or None, base), False
    name = as_str(provider) or "litellm"
    found = (PROVIDERS.get(name, name), as_str(routed) or model or None, as_str(api_base) or base)
    return found, True


def route(request: Mapping[str, Any]) -> Route:
    """(provider, model as sent to it, api base) that LiteLLM routes `request` to."""
    return _lookup(*_asked(request))[0]


class Routes:
    """`route()` remembered per (model, `custom_llm_provider`, api base), one per wrapper.

    `litellm.get_llm_provider` parses the model name against LiteLLM's provider lists on every
    call: about half the CPU this instrumentation added to a call. Its answer for the same
    request is the same, so each wrapper remembers up to `MAX_ROUTES` of them (a request
    LiteLLM cannot route is not remembered: the call raises anyway). Known limit: a change to
    LiteLLM's routing configuration after a model was first called (a provider list extended,
    `USE_LITELLM_PROXY` set) shows on that model's spans after `uninstrument()` and
    `instrument()` again, which build new wrappers.
    """

    def __init__(self, limit: int = MAX_ROUTES) -> None:
        self._known: dict[tuple[str, str | None, str | None], Route] = {}
        self._limit = limit

    def of(self, request: Mapping[str, Any]) -> Route:
        """The route of `request`."""
        asked = _asked(request)
        known = self._known.get(asked)
        if known is not None:
            return known
        found, routed = _lookup(*asked)
        if routed and len(self._known) < self._limit:
            self._known[asked] = found  # one dict store: safe from several threads
        return found


def _server(base: str | None) -> tuple[str | None, int | None]:
    if not base:
        return None, None
    try:
        parts = urlsplit(base)
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    except ValueError:
        return None, None
    return parts.hostname, port


def start(
    telemetry: Telemetry, request: Mapping[str, Any], routes: Routes | None = None
) -> Invocation:
    """The invocation of a completion request (`routes`: the wrapper's remembered routes)."""
    provider, model, base = routes.of(request) if routes is not None else route(request)
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
    routes = Routes()

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if MARKER.inside():
            return wrapped(*args, **kwargs)
        request = {**dict(zip(PARAMS, args, strict=False)), **kwargs}
        return call_sync(
            telemetry,
            WHERE,
            lambda: start(telemetry, request, routes),
            lambda: MARKER.run(lambda: gateway.run(lambda: wrapped(*args, **kwargs))),
            lambda inv, result: finish(inv, result, False),
        )

    return wrapper


def acompletion(telemetry: Telemetry) -> Wrapper:
    """`litellm.acompletion`."""
    routes = Routes()

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
            lambda: start(telemetry, request, routes),
            lambda: MARKER.run_async(call),
            lambda inv, result: finish(inv, result, True),
        )

    return wrapper
