"""The ollama SDK versions this instrumentation supports.

0.4 is the first release whose `Client.chat`/`generate`/`embed` return the pydantic
`ChatResponse`/`GenerateResponse`/`EmbedResponse` models read here (0.3 returned dicts, and
had no `embed`). 0.x is the newest line tested; 1.0 may change the API.
"""

from __future__ import annotations

_instruments = ("ollama >= 0.4, < 1",)
