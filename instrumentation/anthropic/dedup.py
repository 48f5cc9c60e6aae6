"""One GenAI span per call: mark the calls agentwatch traces, and quiet the SDK's span inside them.

anthropic 2.x starts its own CLIENT span for each API call (`anthropic._tracing`,
`start_api_call_span`) whenever the client has a tracer: a `tracer_provider` in its
`open_telemetry` option, or the global one, unless `ANTHROPIC_OPEN_TELEMETRY=false`. That span
is also what the SDK writes into the request's `traceparent`. Inside a call agentwatch traces,
the wrapper here answers the SDK with a non-recording stand-in that carries agentwatch's span
context instead of a span of its own: the SDK records nothing, and the request still goes out
with a `traceparent` (now naming agentwatch's span), exactly as the SDK's propagation settings
say. Calls agentwatch does not trace (`models.list`, batches, ...) keep the SDK's span.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace

from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.wrappers import Marker

MARKER = Marker("anthropic_traced_call")
"""Set inside a traced call: nested wrapped methods and the SDK's own span stay quiet."""
inside = MARKER.inside
marked = MARKER.run
marked_async = MARKER.run_async


def quiet_sdk_span(telemetry: Telemetry) -> Wrapper:
    """A wrapper for `anthropic._base_client.start_api_call_span`."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not MARKER.inside():
            return wrapped(*args, **kwargs)
        # agentwatch's span is current here (call_sync attached it): hand the SDK its context.
        context = trace.get_current_span().get_span_context()
        return trace.NonRecordingSpan(context) if context.is_valid else None

    return wrapper
