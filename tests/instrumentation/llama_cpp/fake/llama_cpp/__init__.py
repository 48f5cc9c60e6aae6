"""A stand-in for llama-cpp-python's `Llama`, for agentwatch's tests (no llama.cpp build).

It mirrors llama-cpp-python 0.3's `llama_cpp/llama.py`: `Llama(model_path, ...)` with
`model_path`, `tokenize(text: bytes, add_bos=True, special=False)`, `create_completion(prompt,
suffix=None, max_tokens=16, temperature=0.8, top_p=0.95, ..., stop=[], ..., top_k=40,
stream=False, seed=None, ...)` returning `CreateCompletionResponse` (or an iterator of
`CreateCompletionStreamResponse` chunks, which carry no `usage`), `__call__` delegating to
`create_completion`, and `create_chat_completion(messages, ..., stream=False, ...)`, which goes
through a chat handler that formats the messages and calls `llama.create_completion` (as
`llama_chat_format` does), returning the OpenAI-shaped dicts of `llama_types.py`.
"""

from llama_cpp.llama import Llama

__version__ = "0.3.16"
__all__ = ["Llama"]
