"""ollama client instrumentation: GenAI spans and metrics for the `ollama` SDK.

Wraps `Client.chat` (operation `chat`), `Client.generate` (operation `text_completion`) and
`Client.embed` (operation `embeddings`), and their `AsyncClient` twins, with and without
`stream=True`. The module-level helpers (`ollama.chat`, ...) are methods of a default `Client`
bound when `ollama` is imported, before any instrumentation can run: use a `Client` of your
own (the usual way) to have the calls traced.

`gen_ai.provider.name` is `ollama` (the conventions list no value for it). `server.address`
and `server.port` come from the client's host (`OLLAMA_HOST`, `127.0.0.1:11434` by default).
Tokens are ollama's `prompt_eval_count` (input) and `eval_count` (output), on the response or
on a stream's final `done` chunk; models run locally, so no cost is recorded unless a user
price file prices them under the provider `ollama`.

Streams stay plain generators to the caller (behind a proxy), ended exactly once when they are
exhausted, fail, are closed or are dropped. Known limits: an error the server sends inside a
stream becomes the SDK's `ResponseError` with status code -1, so its `error.type` is "-1";
the module-level helpers are not traced (see above).
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.base import ClientInstrumentor, Target
from agentwatch.instrumentation.ollama.package import _instruments

_CLIENT = "ollama._client"


class OllamaInstrumentor(ClientInstrumentor):
    """Instruments the `ollama` SDK; `instrument(telemetry=...)`."""

    _instruments = _instruments
    module = "ollama"

    def targets(self) -> Iterator[Target]:
        """The methods to wrap."""
        from agentwatch.instrumentation.ollama import patch

        yield _CLIENT, "Client.chat", patch.chat
        yield _CLIENT, "AsyncClient.chat", patch.async_chat
        yield _CLIENT, "Client.generate", patch.generate
        yield _CLIENT, "AsyncClient.generate", patch.async_generate
        yield _CLIENT, "Client.embed", patch.embed
        yield _CLIENT, "AsyncClient.embed", patch.async_embed


__all__ = ["OllamaInstrumentor"]
