"""The OpenAI SDK versions this instrumentation supports.

1.0 is the first release with the resource classes wrapped here (`Completions.create`,
`Embeddings.create`); the later helpers (`parse`, `stream`, the Responses API) are wrapped where
the installed release has them. 3.x is the newest major tested.
"""

from __future__ import annotations

_instruments = ("openai >= 1.0.0, < 4",)
