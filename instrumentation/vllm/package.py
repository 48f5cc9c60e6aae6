"""The vLLM versions this instrumentation supports.

0.6 is the first release whose offline `LLM` has both `generate()` and `chat()` with the
`RequestOutput`/`CompletionOutput` attributes read here (`prompt_token_ids`, `outputs`,
`token_ids`, `finish_reason`); the 0.x line is what exists. vLLM ships CUDA wheels pinning their
own torch, so it is not installed in this project's test environment: the tests run against a
stand-in mirroring vLLM 0.10's interface.
"""

from __future__ import annotations

_instruments = ("vllm >= 0.6, < 1",)
