"""`vllm.entrypoints.llm.LLM`: vLLM's offline entry point, over a deterministic fake model.

The model's tokenizer maps each word to an id; it answers every prompt with the words
"w0 w1 w2 ..." up to `max_tokens`, stopping ("stop", EOS) after `STOP_AFTER` words when
`max_tokens` allows it, else "length".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from vllm.outputs import CompletionOutput, RequestOutput
from vllm.sampling_params import SamplingParams

STOP_AFTER = 5


@dataclass
class ModelConfig:
    model: str
    max_model_len: int = 64


class LLMEngine:
    def __init__(self, model_config: ModelConfig) -> None:
        self.model_config = model_config
        self.calls = 0

    def get_model_config(self) -> ModelConfig:
        return self.model_config


def _encode(text: str) -> list[int]:
    return [sum(map(ord, word)) % 1000 for word in text.split()]


class LLM:
    def __init__(self, model: str, *, tokenizer: str | None = None, **kwargs: Any) -> None:
        self.llm_engine = LLMEngine(ModelConfig(model=model))
        self.request_counter = itertools.count()

    def generate(
        self,
        prompts: Any,
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
        *,
        use_tqdm: bool = True,
        lora_request: Any = None,
        prompt_adapter_request: Any = None,
        guided_options_request: Any = None,
    ) -> list[RequestOutput]:
        batch = prompts if isinstance(prompts, (list, tuple)) else [prompts]
        if sampling_params is None:
            params = [SamplingParams()] * len(batch)
        elif isinstance(sampling_params, SamplingParams):
            params = [sampling_params] * len(batch)
        else:
            params = list(sampling_params)
            if len(params) != len(batch):
                raise ValueError("The lengths of prompts and sampling_params must be the same.")
        self.llm_engine.calls += 1
        return [self._request(p, sp) for p, sp in zip(batch, params, strict=True)]

    def _request(self, prompt: Any, params: SamplingParams) -> RequestOutput:
        if isinstance(prompt, str):
            text: str | None = prompt
            ids = _encode(prompt)
        elif isinstance(prompt, dict) and "prompt_token_ids" in prompt:
            text, ids = None, list(prompt["prompt_token_ids"])
        elif isinstance(prompt, dict) and "prompt" in prompt:
            text = prompt["prompt"]
            ids = _encode(text or "")
        else:
            raise TypeError(f"Invalid prompt type: {type(prompt)}")
        limit = params.max_tokens if params.max_tokens is not None else 16
        if ids and len(ids) + limit > self.llm_engine.model_config.max_model_len:
            raise ValueError(
                f"The decoder prompt (length {len(ids)}) plus max_tokens is longer than the "
                f"maximum model length of {self.llm_engine.model_config.max_model_len}."
            )
        outputs = []
        for index in range(params.n):
            count = min(limit, STOP_AFTER)
            words = [f"w{index}{i}" for i in range(count)]
            reason = "stop" if limit > STOP_AFTER else "length"
            outputs.append(
                CompletionOutput(
                    index=index,
                    text=" ".join(words),
                    token_ids=list(range(100, 100 + count)),
                    cumulative_logprob=-1.5 * count,
                    logprobs=None,
                    finish_reason=reason,
                    stop_reason=None,
                )
            )
        return RequestOutput(
            request_id=str(next(self.request_counter)),
            prompt=text,
            prompt_token_ids=ids,
            prompt_logprobs=None,
            outputs=outputs,
            finished=True,
            num_cached_tokens=0,
        )

    def chat(
        self,
        messages: Any,
        sampling_params: SamplingParams | list[SamplingParams] | None = None,
        use_tqdm: bool = True,
        lora_request: Any = None,
        chat_template: str | None = None,
        chat_template_content_format: str = "auto",
        add_generation_prompt: bool = True,
        continue_final_message: bool = False,
        tools: list[dict[str, Any]] | None = None,
        chat_template_kwargs: dict[str, Any] | None = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
    ) -> list[RequestOutput]:
        if messages and isinstance(messages[0], list):
            conversations = messages
        else:
            conversations = [messages]
        prompts = []
        for conversation in conversations:
            rendered = " ".join(f"{m['role']} {m['content']}" for m in conversation)
            if add_generation_prompt:
                rendered += " assistant"
            prompts.append({"prompt_token_ids": _encode(rendered)})
        return self.generate(
            prompts, sampling_params=sampling_params, use_tqdm=use_tqdm, lora_request=lora_request
        )
