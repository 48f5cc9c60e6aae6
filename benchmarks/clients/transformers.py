"""Benchmark row for transformers: a tiny random GPT-2 generating 4 tokens on the CPU.

The model (1 layer, 2 heads, 16 dimensions, 32 words) is built here from a config with a fixed
seed, so nothing is downloaded and every run generates the same tokens. The instrumented run
uses the process's shared GPU memory monitor, as a user's would: on a machine without a GPU
its cost is the sampling decision and the failed NVML start, once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

INSTRUMENTOR = "agentwatch.instrumentation.transformers:TransformersInstrumentor"


def plain_call() -> Callable[[], Any]:
    """A zero-argument function making one greedy `generate()` of 4 new tokens."""
    import torch
    import transformers

    torch.manual_seed(0)
    config = transformers.GPT2Config(  # no EOS: always 4 new tokens
        n_layer=1,
        n_head=2,
        n_embd=16,
        vocab_size=32,
        n_positions=64,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    model.config.name_or_path = "tiny-gpt2"
    input_ids = torch.tensor([[3, 4, 5, 6]])
    attention_mask = torch.ones_like(input_ids)

    def call() -> Any:
        with torch.no_grad():
            return model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                max_new_tokens=4,
                do_sample=False,
            )

    return call
