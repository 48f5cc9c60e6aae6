"""The mistralai SDK versions this instrumentation supports.

1.0 is the first release of the Speakeasy-generated SDK (`Mistral` client, `chat.complete`,
`chat.stream`, `complete_async`, `stream_async`, keyword arguments, `CompletionEvent`
streams), at `mistralai.chat` until 2.x moved it to `mistralai.client.chat`: both paths are
wrapped where they exist. The 0.x `MistralClient` API is not. 3.x is the newest major tested.
"""

from __future__ import annotations

_instruments = ("mistralai >= 1.0.0, < 4",)
