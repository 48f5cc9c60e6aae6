"""LiteLLM instrumentation: GenAI spans and metrics for `litellm.completion` and `acompletion`.

Wraps `litellm.completion` and `litellm.acompletion` (both the `litellm` and `litellm.main`
names), with and without `stream=True`. `gen_ai.provider.name` is the provider LiteLLM routes
the model to (`litellm.get_llm_provider`: `gpt-4o-mini` and `openai/...` -> `openai`,
`anthropic/...` -> `anthropic`, `bedrock/...` -> `aws.bedrock`, ...), the request model is the
model name as sent to that provider, and cost is priced from the shipped table under that
provider. Responses are OpenAI-shaped and read as the OpenAI module reads them (tokens from
`usage`; a stream without usage gets agentwatch's tiktoken estimate, marked as such).

No double counting: each call runs as a traced gateway call (`agentwatch.instrumentation.
gateway`), so when LiteLLM itself calls an SDK agentwatch instruments (openai, anthropic),
only the LiteLLM span is recorded. LiteLLM's import is heavy and may fetch its model cost map
from the internet (`LITELLM_LOCAL_MODEL_COST_MAP=True` stops that; the tests set it), so
`instrument()` never imports it: the functions are wrapped when the application imports
`litellm` (a post-import hook), or at once when it already has.
Known limits: `litellm.Router`, `text_completion`, `embedding` and `responses` are not wrapped;
`error.type` is the HTTP status of LiteLLM's exceptions (`status_code`), else their class.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.base import ClientInstrumentor, Target
from agentwatch.instrumentation.litellm.package import _instruments


class LiteLLMInstrumentor(ClientInstrumentor):
    """Instruments LiteLLM's completion functions; `instrument(telemetry=...)`."""

    _instruments = _instruments
    module = "litellm"

    def targets(self) -> Iterator[Target]:
        """The functions to wrap, under both names they are reached by."""
        from agentwatch.instrumentation.litellm import patch

        for module in ("litellm", "litellm.main"):
            yield module, "completion", patch.completion
            yield module, "acompletion", patch.acompletion


__all__ = ["LiteLLMInstrumentor"]
