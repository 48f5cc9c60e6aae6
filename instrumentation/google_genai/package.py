"""The google-genai SDK versions this instrumentation supports.

1.0 is the first stable release: `Models.generate_content`, `generate_content_stream`,
`embed_content` and their `AsyncModels` twins (`client.aio.models`) have had the keyword-only
signature wrapped here (`model`, `contents`, `config`) since then. 3.x is the newest major
tested.
"""

from __future__ import annotations

_instruments = ("google-genai >= 1.0.0, < 4",)
