"""The cohere SDK versions this instrumentation supports.

Chat v2 (`cohere.ClientV2` / `AsyncClientV2`, whose `chat` and `chat_stream` are
`cohere.v2.client.V2Client`'s and `AsyncV2Client`'s) became generally available with the V2
API in September 2024; 5.10 is the first release of that GA SDK, and the lowest claimed here
(the experimental 5.9-era client is not). 7.x is the newest major tested. The v1 `chat` of
`cohere.Client` is not instrumented.
"""

from __future__ import annotations

_instruments = ("cohere >= 5.10.0, < 8",)
