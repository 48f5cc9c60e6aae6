"""Cohere client instrumentation: GenAI spans and metrics for chat v2 of the `cohere` SDK.

Traces `chat` and `chat_stream` of `cohere.ClientV2` / `AsyncClientV2` (`V2Client`,
`AsyncV2Client`) by wrapping the raw client they delegate to, `RawV2Client.chat` /
`chat_stream` and the async twins (see `patch` for why there: clients bind their public
methods per instance, so only the raw ones are seen by clients built before `instrument()`);
`client.with_raw_response.chat(...)` is traced too. A release without raw clients gets
`V2Client`'s own methods wrapped instead. Provider `cohere`, operation `chat`.
Streams stay the SDK's generators, seen through a proxy. The v1 `chat` of `cohere.Client` is
not instrumented.

Tokens are `usage.billed_units` (what Cohere charges for, so that cost is price times the
recorded tokens), with the model's own `usage.tokens` on the span where they differ (see
`responses`). A v2 response names no model: the request's model is what is priced. Tool calls
are checked against the request's function tools.

Known limits: a stream closed before its `message-end` records no
usage; `error.type` is the HTTP status of the SDK's `ApiError`s (`TooManyRequestsError`, ...)
and the exception class otherwise.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator

from agentwatch.instrumentation.base import ClientInstrumentor, Target
from agentwatch.instrumentation.cohere.package import _instruments

_RAW = "cohere.v2.raw_client"
_V2 = "cohere.v2.client"


class CohereInstrumentor(ClientInstrumentor):
    """Instruments the `cohere` SDK's chat v2; `instrument(telemetry=...)`."""

    _instruments = _instruments
    module = "cohere"

    def _raw_clients(self) -> bool:
        """Whether this release has the raw clients (`cohere.v2.raw_client`)."""
        return importlib.util.find_spec(_RAW) is not None

    def targets(self) -> Iterator[Target]:
        """The methods to wrap: the raw clients' where they exist, else `V2Client`'s."""
        from agentwatch.instrumentation.cohere import patch

        if not self._raw_clients():
            # Releases before the raw clients: the public methods (clients built before
            # `instrument()` keep the methods they bound, see `patch`).
            yield _V2, "V2Client.chat", patch.chat
            yield _V2, "AsyncV2Client.chat", patch.async_chat
            yield _V2, "V2Client.chat_stream", patch.generator_stream
            yield _V2, "AsyncV2Client.chat_stream", patch.generator_stream
            return
        yield _RAW, "RawV2Client.chat", patch.chat
        yield _RAW, "AsyncRawV2Client.chat", patch.async_chat
        yield _RAW, "RawV2Client.chat_stream", patch.chat_stream
        yield _RAW, "AsyncRawV2Client.chat_stream", patch.async_chat_stream


__all__ = ["CohereInstrumentor"]
