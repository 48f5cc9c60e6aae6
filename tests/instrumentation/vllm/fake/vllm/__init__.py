"""A stand-in for vLLM's offline inference interface, for agentwatch's tests.

It mirrors the names, signatures and result types of vLLM 0.10 (`vllm/entrypoints/llm.py`:
`LLM.generate(prompts, sampling_params=None, *, use_tqdm=True, lora_request=None, ...)`, and
`LLM.chat(messages, sampling_params=None, use_tqdm=True, lora_request=None, chat_template=None,
..., add_generation_prompt=True, continue_final_message=False, tools=None, ...)`, which renders
the conversations and calls `self.generate` with `TokensPrompt`s; `vllm/outputs.py`:
`RequestOutput(request_id, prompt, prompt_token_ids, prompt_logprobs, outputs, finished, ...)`
and `CompletionOutput(index, text, token_ids, cumulative_logprob, logprobs, finish_reason,
stop_reason, ...)`; `vllm/sampling_params.py`: `SamplingParams`). The "model" is a word-level
tokenizer and a deterministic generator: no GPU, no weights.
"""

from vllm.entrypoints.llm import LLM
from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import SamplingParams

__version__ = "0.10.1"
__all__ = ["LLM", "CompletionOutput", "RequestOutput", "SamplingParams"]
