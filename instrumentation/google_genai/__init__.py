"""google-genai client instrumentation: GenAI spans and metrics for the `google-genai` SDK.

Wraps the SDK's own resource methods (not its HTTP layer), sync and async (`client.models` and
`client.aio.models`): `generate_content`, `generate_content_stream` and `embed_content`.
`client.chats` sends through `models.generate_content` and is traced with it. The provider is
`gcp.vertex_ai` for a Vertex AI client (`Client(vertexai=True, ...)`), else `gcp.gemini`; the
operation is `generate_content` (the conventions' name for this API), `embeddings` for
`embed_content`. Streams stay the SDK's generators, seen through a proxy.

Tokens come from `usage_metadata` (see `responses`): input is `prompt_token_count` (cached
tokens included) plus `tool_use_prompt_token_count`, output is `candidates_token_count` plus
`thoughts_token_count` (reasoning, counted as output by the conventions and billed so), with
the cache reads and the reasoning tokens on their own attributes. Function-call parts are the
response's tool calls, checked against the request's `config.tools` function declarations.

Known limits: with automatic function calling (Python functions in `config.tools`) one call
makes several requests, and its usage is that of the last response (the one returned); a
stream's request is sent on its first iteration, outside the span's context, so HTTP client
spans do not nest under it. `error.type` is the HTTP status (the `code` of the SDK's
`APIError`).
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.base import ClientInstrumentor, Target
from agentwatch.instrumentation.google_genai.package import _instruments

_MODELS = "google.genai.models"


class GoogleGenAIInstrumentor(ClientInstrumentor):
    """Instruments the `google-genai` SDK; `instrument(telemetry=...)`."""

    _instruments = _instruments
    module = "google.genai"

    def targets(self) -> Iterator[Target]:
        """The methods to wrap."""
        from agentwatch.instrumentation.google_genai import patch

        yield _MODELS, "Models.generate_content", patch.generate_content
        yield _MODELS, "AsyncModels.generate_content", patch.async_generate_content
        yield _MODELS, "Models.generate_content_stream", patch.generate_content_stream
        yield _MODELS, "AsyncModels.generate_content_stream", patch.async_generate_content_stream
        yield _MODELS, "Models.embed_content", patch.embed_content
        yield _MODELS, "AsyncModels.embed_content", patch.async_embed_content


__all__ = ["GoogleGenAIInstrumentor"]
