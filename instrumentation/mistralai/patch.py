"""Wrapper factories for mistralai's `Chat` resource: one span per call, streams kept.

`complete` returns a `ChatCompletionResponse`; `stream` sends the request and returns the
SDK's `EventStream` (`EventStreamAsync` for `stream_async`), which the caller gets behind a
proxy that sees each `CompletionEvent` and ends the invocation when the stream is exhausted,
fails, is closed (`close()`, the `with` block) or dropped. `parse` goes through `complete`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.mistralai import request as rq
from agentwatch.instrumentation.mistralai import responses as rs
from agentwatch.instrumentation.mistralai.dedup import MARKER
from agentwatch.instrumentation.streams import observe
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_str
from agentwatch.instrumentation.wrappers import traced, traced_async

WHERE_CHAT = "mistralai.chat"


def _start(
    telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any], stream: bool
) -> Invocation:
    attributes = rq.chat_attributes(telemetry, kwargs, stream)
    address, port = rq.server(instance)
    model = as_str(kwargs.get("model"))
    kind = rs.ChatStream if stream else Invocation
    inv = kind(telemetry, sc.OP_CHAT, rq.PROVIDER, model, attributes, address, port)
    tools = rq.arg(kwargs, "tools")
    if tools:
        inv.offered_tools = rq.offered_tools(tools) or None
    if attributes.get(sc.OUTPUT_TYPE) == sc.OUTPUT_TYPE_JSON:
        inv.expect_json()
    if isinstance(inv, rs.ChatStream):
        inv.setup()
    return inv


def start_complete(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of `complete` (the `stream` argument does not change what it returns)."""
    return _start(telemetry, instance, kwargs, stream=False)


def start_stream(telemetry: Telemetry, instance: Any, kwargs: Mapping[str, Any]) -> Invocation:
    """The invocation of `stream`."""
    return _start(telemetry, instance, kwargs, stream=True)


def finish_complete(inv: Invocation, result: Any) -> Any:
    """Read a whole `ChatCompletionResponse`."""
    if type(result).__name__ == "ChatCompletionResponse":
        rs.read_completion(inv, result)
    inv.end()
    return result


def finish_stream(inv: Invocation, result: Any) -> Any:
    """Proxy the SDK's event stream; the invocation ends with it."""
    if isinstance(inv, rs.ChatStream) and result is not None:
        return observe(result, inv, rs.on_event)  # type: ignore[arg-type]
    inv.end()
    return result


def complete(telemetry: Telemetry) -> Wrapper:
    """`Chat.complete`."""
    return traced(telemetry, WHERE_CHAT, MARKER, start_complete, finish_complete)


def complete_async(telemetry: Telemetry) -> Wrapper:
    """`Chat.complete_async`."""
    return traced_async(telemetry, WHERE_CHAT, MARKER, start_complete, finish_complete)


def stream(telemetry: Telemetry) -> Wrapper:
    """`Chat.stream`."""
    return traced(telemetry, WHERE_CHAT, MARKER, start_stream, finish_stream)


def stream_async(telemetry: Telemetry) -> Wrapper:
    """`Chat.stream_async`."""
    return traced_async(telemetry, WHERE_CHAT, MARKER, start_stream, finish_stream)
