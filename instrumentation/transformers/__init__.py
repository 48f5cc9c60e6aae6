"""Hugging Face transformers instrumentation: local generation, its tokens and its GPU memory.

Wraps `transformers.GenerationMixin.generate` (every generative model's `generate()`:
operation `text_completion`) and `TextGenerationPipeline.__call__` (one span per pipeline
call, operation `chat` when the input is chat messages, else `text_completion`; the
`generate()` calls it makes are not traced again, their tokens are the pipeline's). Provider
`transformers`: the GenAI conventions have no well-known `gen_ai.provider.name` for an
in-process model, so the library's name is used. `gen_ai.request.model` is
`model.config.name_or_path` (a hub id or a local path, cut at 256 characters).

Tokens come from the model's own tensors, not from an estimate (see `tokens`): input tokens are
the prompt's non-padding tokens (the attention mask's sum when given), output tokens the
generated tokens of each returned row up to its EOS, padding after it not counted. Each call
also records this process's GPU memory before and after (`instrumentation.local`), sampled.
Content: with capture on, a pipeline call records its prompts and generated texts;
`generate()` takes and returns token ids only, so it records none. No cost (a local model has
no price).

Known limits: a pipeline given a generator or a dataset returns a lazy iterator, so it gets no
span of its own and each of its `generate()` calls is traced alone; a model class that
overrides `generate()` without calling `GenerationMixin.generate` is not traced;
`generate(streamer=...)` is traced as one call (the streamer sees the tokens, the span the
whole call); continuous batching (`generate_batch`) is not wrapped.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.local.instrumentor import LocalInstrumentor, LocalTarget
from agentwatch.instrumentation.transformers.package import _instruments


class TransformersInstrumentor(LocalInstrumentor):
    """Instruments `transformers`; `instrument(telemetry=..., gpu_memory=...)`."""

    _instruments = _instruments
    module = "transformers"

    def local_targets(self) -> Iterator[LocalTarget]:
        """`generate()` and the text-generation pipeline's call."""
        from agentwatch.instrumentation.transformers import patch

        yield "transformers.generation.utils", "GenerationMixin.generate", patch.generate
        yield (
            "transformers.pipelines.text_generation",
            "TextGenerationPipeline.__call__",
            patch.pipeline,
        )


__all__ = ["TransformersInstrumentor"]
