"""`llama_cpp.llama.Llama` over a deterministic fake model: word tokens, fixed answers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

STOP_AFTER = 4
"""The fake model's answer has this many words, then EOS (unless `max_tokens` cuts it)."""


class Llama:
    def __init__(self, model_path: str, *, n_ctx: int = 512, verbose: bool = True, **kwargs: Any):
        self.model_path = model_path
        self._n_ctx = n_ctx
        self.chat_format = "fake"

    def n_ctx(self) -> int:
        return self._n_ctx

    def tokenize(self, text: bytes, add_bos: bool = True, special: bool = False) -> list[int]:
        ids = [sum(word) % 1000 + 3 for word in text.split()]
        return ([1] if add_bos else []) + ids

    def detokenize(self, tokens: list[int]) -> bytes:
        return b" ".join(b"w%d" % t for t in tokens)

    def _create_completion(
        self, prompt: str | list[int], max_tokens: int | None, stream: bool
    ) -> Iterator[Any]:
        ids = prompt if isinstance(prompt, list) else self.tokenize(prompt.encode("utf-8"))
        if len(ids) > self._n_ctx:
            raise ValueError(
                f"Requested tokens ({len(ids)}) exceed context window of {self._n_ctx}"
            )
        limit = max_tokens if max_tokens is not None and max_tokens > 0 else self._n_ctx
        count = min(limit, STOP_AFTER)
        words = [f" w{i}" for i in range(count)]
        reason = "stop" if limit > STOP_AFTER else "length"
        completion_id, created = f"cmpl-{uuid.uuid4()}", int(time.time())
        if stream:
            for i, word in enumerate(words):
                yield {
                    "id": completion_id,
                    "object": "text_completion",
                    "created": created,
                    "model": self.model_path,
                    "choices": [
                        {
                            "text": word,
                            "index": 0,
                            "logprobs": None,
                            "finish_reason": reason if i == len(words) - 1 else None,
                        }
                    ],
                }
            return
        yield {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": self.model_path,
            "choices": [
                {"text": "".join(words), "index": 0, "logprobs": None, "finish_reason": reason}
            ],
            "usage": {
                "prompt_tokens": len(ids),
                "completion_tokens": count,
                "total_tokens": len(ids) + count,
            },
        }

    def create_completion(
        self,
        prompt: str | list[int],
        suffix: str | None = None,
        max_tokens: int | None = 16,
        temperature: float = 0.8,
        top_p: float = 0.95,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        logprobs: int | None = None,
        echo: bool = False,
        stop: str | list[str] | None = None,
        frequency_penalty: float = 0.0,
        presence_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        top_k: int = 40,
        stream: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> Any:
        completion_or_chunks = self._create_completion(prompt, max_tokens, stream)
        if stream:
            return completion_or_chunks
        return next(completion_or_chunks)

    def __call__(self, prompt: str | list[int], **kwargs: Any) -> Any:
        return self.create_completion(prompt, **kwargs)

    def create_chat_completion(
        self,
        messages: list[dict[str, Any]],
        functions: Any = None,
        function_call: Any = None,
        tools: Any = None,
        tool_choice: Any = None,
        temperature: float = 0.2,
        top_p: float = 0.95,
        top_k: int = 40,
        min_p: float = 0.05,
        typical_p: float = 1.0,
        stream: bool = False,
        stop: str | list[str] | None = None,
        seed: int | None = None,
        response_format: Any = None,
        max_tokens: int | None = None,
        presence_penalty: float = 0.0,
        frequency_penalty: float = 0.0,
        repeat_penalty: float = 1.0,
        model: str | None = None,
        **kwargs: Any,
    ) -> Any:
        from llama_cpp.llama_chat_format import chat_handler

        return chat_handler(
            llama=self, messages=messages, max_tokens=max_tokens, stream=stream, stop=stop
        )
