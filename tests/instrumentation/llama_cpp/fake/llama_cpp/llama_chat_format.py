"""`llama_cpp.llama_chat_format`: format the messages, call `create_completion`, convert."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def _convert_text_completion_to_chat(completion: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "chat" + completion["id"],
        "object": "chat.completion",
        "created": completion["created"],
        "model": completion["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": completion["choices"][0]["text"]},
                "logprobs": None,
                "finish_reason": completion["choices"][0]["finish_reason"],
            }
        ],
        "usage": completion["usage"],
    }


def _convert_text_completion_chunks_to_chat(chunks: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for i, chunk in enumerate(chunks):
        if i == 0:
            yield {
                "id": "chat" + chunk["id"],
                "model": chunk["model"],
                "created": chunk["created"],
                "object": "chat.completion.chunk",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant"},
                        "logprobs": None,
                        "finish_reason": None,
                    }
                ],
            }
        reason = chunk["choices"][0]["finish_reason"]
        yield {
            "id": "chat" + chunk["id"],
            "model": chunk["model"],
            "created": chunk["created"],
            "object": "chat.completion.chunk",
            "choices": [
                {
                    "index": 0,
                    "delta": {"content": chunk["choices"][0]["text"]},
                    "logprobs": None,
                    "finish_reason": reason,
                }
            ],
        }


def chat_handler(
    llama: Any, messages: list[dict[str, Any]], max_tokens: int | None, stream: bool, stop: Any
) -> Any:
    prompt = " ".join(f"{m['role']}: {m['content']}" for m in messages) + " assistant:"
    result = llama.create_completion(prompt=prompt, max_tokens=max_tokens, stream=stream, stop=stop)
    if stream:
        return _convert_text_completion_chunks_to_chat(result)
    return _convert_text_completion_to_chat(result)
