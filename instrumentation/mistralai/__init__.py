"""Mistral client instrumentation: GenAI spans and metrics for the `mistralai` SDK.

Wraps the SDK's `Chat` resource (not its HTTP layer): `complete`, `stream`, `complete_async`
and `stream_async` (`parse` and `parse_async` go through `complete` and are traced with it),
at `mistralai.client.chat` (2.x, 3.x) or `mistralai.chat` (1.x). Provider `mistral_ai`,
operation `chat`. Streams stay the SDK's `EventStream` objects, seen through a proxy.

Tokens are the API's `usage.prompt_tokens` and `usage.completion_tokens`; a stream's come with
its last event, so a stream closed early records none. Tool calls are checked against the
request's function tools (OpenAI's tool shape, which Mistral uses).

One span per call: mistralai 2.x and later trace their own calls when a tracer provider is
configured; inside a call agentwatch traces, the SDK's span is replaced by a `traceparent`
naming agentwatch's span (see `dedup`).

Known limits: `error.type` is the HTTP status for the SDK's `MistralError`s (`SDKError`,
`HTTPValidationError`) and the exception class otherwise; the 0.x `MistralClient` is not
instrumented.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.base import ClientInstrumentor, Target
from agentwatch.instrumentation.mistralai.package import _instruments

_CHAT = ("mistralai.client.chat", "mistralai.chat")
_SDK_SPAN = "mistralai.client._hooks.tracing"


class MistralInstrumentor(ClientInstrumentor):
    """Instruments the `mistralai` SDK; `instrument(telemetry=...)`."""

    _instruments = _instruments
    module = "mistralai"

    def targets(self) -> Iterator[Target]:
        """The methods to wrap; a class found under two module paths is wrapped once."""
        from agentwatch.instrumentation.mistralai import dedup, patch

        yield _SDK_SPAN, "get_traced_request_and_span", dedup.quiet_sdk_span
        for module in _CHAT:
            yield module, "Chat.complete", patch.complete
            yield module, "Chat.complete_async", patch.complete_async
            yield module, "Chat.stream", patch.stream
            yield module, "Chat.stream_async", patch.stream_async


__all__ = ["MistralInstrumentor"]
