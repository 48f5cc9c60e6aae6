"""vLLM offline inference instrumentation: `LLM.generate` and `LLM.chat`, tokens and GPU memory.

Wraps `vllm.entrypoints.llm.LLM.generate` (operation `text_completion`) and `LLM.chat`
(operation `chat`; the `generate()` it calls is not traced again). One call, one span, however
many prompts it batches. Provider `vllm` (no well-known `gen_ai.provider.name` exists for
it); `gen_ai.request.model` is the model name or path the `LLM` was built with
(`llm_engine.model_config.model`, cut at 256 characters). Request attributes come from a single
`SamplingParams` (max_tokens, temperature, top_p, top_k, seed, penalties, n, stop); a list of
them (one per prompt) gives none.

Tokens are vLLM's own: input tokens are `len(prompt_token_ids)` summed over the requests,
output tokens `len(token_ids)` summed over every `CompletionOutput` of every request; finish
reasons are the outputs' `finish_reason` (`stop`, `length`, `abort`). Each call also records
this process's GPU memory before and after (`instrumentation.local`), sampled: note that vLLM
pre-allocates its KV cache (`gpu_memory_utilization`, 90 % by default) when the `LLM` is built,
so a call's delta is what grew beyond that pool, which is exactly what a leak looks like there.
With content capture on, text prompts or chat messages and the generated texts are recorded.

Known limits: vLLM's GPU workers may run in other processes (tensor parallelism, the V1
engine's core process), whose memory the `nvml` figure of this process does not include;
`LLM.beam_search`, `encode`/`embed`/`score` (pooling) are not wrapped; the online server
(`vllm serve`, `AsyncLLMEngine`) is served over HTTP and traced by the OpenAI client
instrumentation on the caller's side.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.local.instrumentor import LocalInstrumentor, LocalTarget
from agentwatch.instrumentation.vllm.package import _instruments

_LLM = "vllm.entrypoints.llm"


class VllmInstrumentor(LocalInstrumentor):
    """Instruments vLLM's offline `LLM`; `instrument(telemetry=..., gpu_memory=...)`."""

    _instruments = _instruments
    module = "vllm"

    def local_targets(self) -> Iterator[LocalTarget]:
        """`LLM.generate` and `LLM.chat`."""
        from agentwatch.instrumentation.vllm import patch

        yield _LLM, "LLM.generate", patch.generate
        yield _LLM, "LLM.chat", patch.chat


__all__ = ["VllmInstrumentor"]
