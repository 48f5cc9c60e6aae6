"""Anthropic client instrumentation: GenAI spans and metrics for the `anthropic` SDK.

Wraps the SDK's own resource methods (not its HTTP layer), sync and async, stable and beta:
`messages.create` (with and without `stream=True`), `messages.parse`, `messages.stream` (the
`MessageStreamManager` helper) and `messages.count_tokens`. Streams stay the SDK's stream
objects: `create(stream=True)` gives the SDK `Stream`/`AsyncStream` seen through a proxy,
`stream()` gives the SDK's own `MessageStream` whose raw stream is proxied.

Tokens: `gen_ai.usage.input_tokens` is Anthropic's `input_tokens` plus the cache reads and
writes, as the conventions for Anthropic say (see `responses`); cost is priced from those.
`count_tokens` is operation `count_tokens` (the conventions have none for it): its span and
duration are recorded, its answer goes on `anthropic.message.count_tokens.input_tokens`, and
it records no token usage and no cost, because it generates nothing.

One span per call: anthropic 2.x traces its API calls itself when a tracer provider is around.
Inside a call agentwatch traces, `anthropic._base_client.start_api_call_span` is wrapped to
hand the SDK a non-recording stand-in carrying agentwatch's span context: the SDK records no
span, and still sends the `traceparent` it would have sent (naming agentwatch's span) under
its own propagation settings. Calls agentwatch does not trace keep the SDK's span; nothing of
the client or the environment is changed, and `uninstrument()` unwraps it with the rest.

Known limits: `with_raw_response` / `with_streaming_response` calls get a span with the request
attributes only; a stream left before its `message_delta` reports the output count of
`message_start` (the API's running count then); 1-hour cache writes are priced at the 5-minute
rate; `error.type` is the HTTP status for `anthropic.APIStatusError` (529 when overloaded) and
the exception class name otherwise (`APITimeoutError`, `APIConnectionError`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.anthropic.package import _instruments
from agentwatch.instrumentation.base import ClientInstrumentor, Target

# `resources.messages` became a package (`...messages.messages`) in 0.37; the beta namespace
# did the same, and prompt caching had its own beta resource for a while.
_MESSAGES = (
    "anthropic.resources.messages.messages",
    "anthropic.resources.messages",
    "anthropic.resources.beta.messages.messages",
    "anthropic.resources.beta.messages",
    "anthropic.resources.beta.prompt_caching.messages",
)
_SDK_SPAN = "anthropic._base_client"


class AnthropicInstrumentor(ClientInstrumentor):
    """Instruments the `anthropic` SDK; `instrument(telemetry=...)`."""

    _instruments = _instruments
    module = "anthropic"

    def targets(self) -> Iterator[Target]:
        """The methods to wrap; a class found under two module paths is wrapped once."""
        from agentwatch.instrumentation.anthropic import dedup, patch

        yield _SDK_SPAN, "start_api_call_span", dedup.quiet_sdk_span
        for module in _MESSAGES:
            yield module, "Messages.create", patch.messages_create
            yield module, "AsyncMessages.create", patch.async_messages_create
            yield module, "Messages.parse", patch.messages_create
            yield module, "AsyncMessages.parse", patch.async_messages_create
            yield module, "Messages.stream", patch.stream_manager
            yield module, "AsyncMessages.stream", patch.async_stream_manager
            yield module, "Messages.count_tokens", patch.count_tokens
            yield module, "AsyncMessages.count_tokens", patch.async_count_tokens


__all__ = ["AnthropicInstrumentor"]
