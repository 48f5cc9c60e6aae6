"""The LiteLLM versions this instrumentation supports.

1.40 is the first release tested to return `ModelResponse`/`CustomStreamWrapper` with the
OpenAI-shaped `usage` and `stream_options` support read here; `completion` and `acompletion`
have kept their signatures since. 1.x is the only major there is.
"""

from __future__ import annotations

_instruments = ("litellm >= 1.40, < 2",)
