"""OpenAI client instrumentation: GenAI spans and metrics for the `openai` SDK.

Wraps the SDK's own resource methods (not its HTTP layer), sync and async, for `OpenAI`,
`AsyncOpenAI` and the Azure clients (`gen_ai.provider.name` `azure.ai.openai`):
`chat.completions.create` / `parse` / `stream`, `responses.create` / `parse` / `stream` and
`embeddings.create`. Streams stay the SDK's stream objects (seen through a proxy).

`instrument(include_usage=True)` asks every chat stream that did not say otherwise for its usage
(`stream_options={"include_usage": True}`), so token counts are the API's rather than
agentwatch's estimate. The stream then ends with one extra chunk whose `choices` is empty and
which carries the usage: that is the SDK's documented behaviour for this option, and callers
must tolerate it (`chunk.choices[0]` fails on it). Off by default for that reason.

Known limits: `with_raw_response` / `with_streaming_response` calls get a span with the request
attributes only (the response is parsed later, by the caller); `error.type` is the HTTP status
for `openai.APIStatusError` and the exception class name otherwise (`APITimeoutError`,
`APIConnectionError`, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agentwatch.instrumentation.base import ClientInstrumentor, Target
from agentwatch.instrumentation.openai.package import _instruments

# The chat resources moved from `openai.resources.chat.completions` (a module, 1.x) to
# `...chat.completions.completions` (a package); the helpers lived under `beta` before 1.92.
_CHAT = (
    "openai.resources.chat.completions.completions",
    "openai.resources.chat.completions",
    "openai.resources.beta.chat.completions",
)
_RESPONSES = ("openai.resources.responses.responses", "openai.resources.responses")
_EMBEDDINGS = ("openai.resources.embeddings",)


class OpenAIInstrumentor(ClientInstrumentor):
    """Instruments the `openai` SDK; `instrument(telemetry=..., include_usage=False)`."""

    _instruments = _instruments
    module = "openai"
    _include_usage = False

    def _instrument(self, **kwargs: Any) -> None:
        self._include_usage = bool(kwargs.get("include_usage", False))
        super()._instrument(**kwargs)

    def targets(self) -> Iterator[Target]:
        """The methods to wrap; a class found under two module paths is wrapped once."""
        from agentwatch.instrumentation.openai import patch

        usage = self._include_usage

        def create(telemetry: Any) -> Any:
            return patch.chat_create(telemetry, usage)

        def async_create(telemetry: Any) -> Any:
            return patch.async_chat_create(telemetry, usage)

        for module in _CHAT:
            yield module, "Completions.create", create
            yield module, "AsyncCompletions.create", async_create
            yield module, "Completions.parse", patch.chat_parse
            yield module, "AsyncCompletions.parse", patch.async_chat_parse
            yield module, "Completions.stream", patch.stream_manager
            yield module, "AsyncCompletions.stream", patch.async_stream_manager
        for module in _RESPONSES:
            yield module, "Responses.create", patch.responses_create
            yield module, "AsyncResponses.create", patch.async_responses_create
            yield module, "Responses.parse", patch.responses_parse
            yield module, "AsyncResponses.parse", patch.async_responses_parse
            yield module, "Responses.stream", patch.stream_manager
            yield module, "AsyncResponses.stream", patch.async_stream_manager
        for module in _EMBEDDINGS:
            yield module, "Embeddings.create", patch.embeddings_create
            yield module, "AsyncEmbeddings.create", patch.async_embeddings_create


__all__ = ["OpenAIInstrumentor"]
