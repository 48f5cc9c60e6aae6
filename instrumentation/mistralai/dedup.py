"""One GenAI span per call: quiet the SDK's own span inside the calls agentwatch traces.

mistralai 2.x and later trace their API calls themselves (`TracingHook` calls
`mistralai.extra.observability.otel.get_traced_request_and_span`) whenever a real tracer
provider is configured, and write that span's context into the request's `traceparent`.
Inside a call agentwatch traces (agentwatch's span is current then), the wrapper here makes
no SDK span and injects the current context instead, as the SDK's own code does for its
span: the request still carries a `traceparent`, naming agentwatch's span. Calls agentwatch
does not trace keep the SDK's span.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import propagate

from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.wrappers import Marker

MARKER = Marker("mistralai_traced_call")
"""Set inside a traced call: nested wrapped methods and the SDK's own span stay quiet."""


def quiet_sdk_span(telemetry: Telemetry) -> Wrapper:
    """A wrapper for the hook's `get_traced_request_and_span(tracing_enabled, ..., request)`."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        request = kwargs.get("request")
        if not MARKER.inside() or request is None or not kwargs.get("tracing_enabled"):
            return wrapped(*args, **kwargs)
        try:
            propagate.inject(request.headers)
        except Exception as exc:  # a broken propagator: the request goes on without it
            telemetry.error("mistralai.propagate", exc)
        return request, kwargs.get("span")

    return wrapper
