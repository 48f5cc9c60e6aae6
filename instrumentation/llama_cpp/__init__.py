"""llama-cpp-python instrumentation: `Llama` completions and chats, their streams, GPU memory.

Wraps `llama_cpp.Llama.create_completion` (operation `text_completion`; `Llama.__call__`
delegates to it, so it is one span too) and `Llama.create_chat_completion` (operation `chat`;
the `create_completion` its chat handler makes is not traced again), with and without
`stream=True`. Provider `llama_cpp` (no well-known `gen_ai.provider.name` exists for it);
`gen_ai.request.model` and `gen_ai.response.model` are the model file's name
(`Llama.model_path`'s basename, at most 128 characters: a directory says nothing and may say
too much).

Tokens: a whole response's `usage` (`prompt_tokens`, `completion_tokens`), counted by
llama.cpp's own tokenizer. Stream chunks carry no usage: a stream's tokens are its prompt and
streamed text tokenized with the model's tokenizer when it ends (`Llama.tokenize`), marked
`agentwatch.usage.estimated` with method `llama_cpp.tokenize`. Streams stay the library's
generators behind a proxy (iteration, `close()`; ended when exhausted, closed, broken or
dropped). Each call also records this process's GPU memory before and after
(`instrumentation.local`), sampled; for a stream the "after" is taken when it ends. With
content capture on, the prompt or messages and the output texts are recorded. Tool calls of a
chat response are named on the span and checked against the offered tools.

Known limits: `create_embedding`, `embed` and the server (`llama_cpp.server`, an OpenAI-style
HTTP API traced on the client's side) are not wrapped; a chat handler that never calls
`create_completion` (some multimodal handlers sample themselves) gives a chat stream no input
token count.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.llama_cpp.package import _instruments
from agentwatch.instrumentation.local.instrumentor import LocalInstrumentor, LocalTarget

_LLAMA = "llama_cpp.llama"


class LlamaCppInstrumentor(LocalInstrumentor):
    """Instruments llama-cpp-python's `Llama`; `instrument(telemetry=..., gpu_memory=...)`."""

    _instruments = _instruments
    module = "llama_cpp"

    def local_targets(self) -> Iterator[LocalTarget]:
        """`create_completion` and `create_chat_completion`."""
        from agentwatch.instrumentation.llama_cpp import patch

        yield _LLAMA, "Llama.create_completion", patch.create_completion
        yield _LLAMA, "Llama.create_chat_completion", patch.create_chat_completion


__all__ = ["LlamaCppInstrumentor"]
