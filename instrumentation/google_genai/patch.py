"""Wrapper factories for google-genai's `Models` / `AsyncModels`: one span per call.

`generate_content_stream` is a generator function (sync) or a coroutine giving an async
generator: the wrapper gets the generator before any request is sent, and hands the caller a
proxy that sees each chunk and ends the invocation when the stream is exhausted, fails, is
closed or dropped. `chats` go through `Models.generate_content` and are traced with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.google_genai import request as rq
from agentwatch.instrumentation.google_genai import responses as rs
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.streams import observe
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_str
from agentwatch.instrumentation.wrappers import Marker, traced, traced_async

WHERE_GENERATE = "google_genai.generate_content"
WHERE_EMBED = "google_genai.embed_content"

MARKER = Marker("google_genai_traced_call")
"""Set inside a traced call: a wrapped method it calls in turn is not traced again."""


def _invocation(
    telemetry: Telemetry,
    instance: Any,
    kwargs: Mapping[str, Any],
    operation: str,
    attributes: dict[str, Any],
    kind: type[Invocation] = Invocation,
) -> Invocation:
    client = rq.api_client(instance)
    address, port = rq.server(client)
    model = as_str(kwargs.get("model"))
    return kind(telemetry, operation, rq.provider(client), model, attributes, address, port)


def _start(
    telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any], stream: bool
) -> Invocation:
    attributes = rq.generate_attributes(telemetry, kwargs, stream)
    kind = rs.GenerateStream if stream else Invocation
    inv = _invocation(telemetry, instance, kwargs, rq.OP_GENERATE_CONTENT, attributes, kind)
    tools = rq.option(kwargs.get("config"), "tools")
    if tools:
        offered = rq.offered_tools(tools)
        inv.offered_tools = offered or None
    if attributes.get(sc.OUTPUT_TYPE) == sc.OUTPUT_TYPE_JSON:
        inv.expect_json()
    if isinstance(inv, rs.GenerateStream):
        inv.setup()
    return inv


def start_generate(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of a `generate_content` request."""
    return _start(telemetry, instance, kwargs, stream=False)


def start_stream(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of a `generate_content_stream` request."""
    return _start(telemetry, instance, kwargs, stream=True)


def start_embed(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of an `embed_content` request."""
    attributes = rq.embed_attributes(kwargs)
    return _invocation(telemetry, instance, kwargs, sc.OP_EMBEDDINGS, attributes)


def _is(result: Any, name: str) -> bool:
    # By class name: importing google.genai.types here would cost every process that imports
    # the instrumentation, installed SDK or not (the wrappers only run once it is imported).
    return type(result).__name__ == name and type(result).__module__.startswith("google.genai")


def finish_generate(inv: Invocation, result: Any) -> Any:
    """Read a whole `GenerateContentResponse`."""
    if _is(result, "GenerateContentResponse"):
        rs.read_response(inv, result)
    inv.end()
    return result


def finish_stream(inv: Invocation, result: Any) -> Any:
    """Proxy the chunk generator; the invocation ends with the stream."""
    if isinstance(inv, rs.GenerateStream):
        return observe(result, inv, rs.on_chunk)  # type: ignore[arg-type]
    inv.end()
    return result


def finish_embed(inv: Invocation, result: Any) -> Any:
    """Read an `EmbedContentResponse`."""
    if _is(result, "EmbedContentResponse"):
        rs.read_embeddings(inv, result)
    inv.end()
    return result


def generate_content(telemetry: Telemetry) -> Wrapper:
    """`Models.generate_content`."""
    return traced(telemetry, WHERE_GENERATE, MARKER, start_generate, finish_generate)


def async_generate_content(telemetry: Telemetry) -> Wrapper:
    """`AsyncModels.generate_content`."""
    return traced_async(telemetry, WHERE_GENERATE, MARKER, start_generate, finish_generate)


def generate_content_stream(telemetry: Telemetry) -> Wrapper:
    """`Models.generate_content_stream` (a generator function)."""
    return traced(telemetry, WHERE_GENERATE, MARKER, start_stream, finish_stream)


def async_generate_content_stream(telemetry: Telemetry) -> Wrapper:
    """`AsyncModels.generate_content_stream` (a coroutine giving an async generator)."""
    return traced_async(telemetry, WHERE_GENERATE, MARKER, start_stream, finish_stream)


def embed_content(telemetry: Telemetry) -> Wrapper:
    """`Models.embed_content`."""
    return traced(telemetry, WHERE_EMBED, MARKER, start_embed, finish_embed)


def async_embed_content(telemetry: Telemetry) -> Wrapper:
    """`AsyncModels.embed_content`."""
    return traced_async(telemetry, WHERE_EMBED, MARKER, start_embed, finish_embed)
