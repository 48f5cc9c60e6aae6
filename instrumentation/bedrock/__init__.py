"""AWS Bedrock instrumentation: GenAI spans and metrics for `bedrock-runtime` through boto3.

boto3's clients are built at run time, so what is wrapped is botocore's
`BaseClient._make_api_call`; the wrapper acts only for the `bedrock-runtime` service and its
`Converse`, `ConverseStream`, `InvokeModel` and `InvokeModelWithResponseStream` operations
(one set lookup and one attribute read decide, so other AWS calls cost next to nothing).

`gen_ai.provider.name` is `aws.bedrock`; the request model is the `modelId` (a model id, an
inference profile such as `us.anthropic...`, or an ARN), and `server.address`/`server.port`
come from the client's endpoint. Converse is operation `chat`. InvokeModel bodies are read for
Anthropic Messages (`chat`) and Meta Llama (`text_completion`); other families get a span with
the model id only. Tokens: Converse `usage` (input with the cache reads and writes, see
`converse`), the Anthropic body's `usage`, Llama's `prompt_token_count` /
`generation_token_count`; streams from their final events. Cost where the price table has the
model under `aws.bedrock`.

Known limits: InvokeModel's response body is read by agentwatch and replaced with an
equivalent `StreamingBody` (as the OpenTelemetry botocore instrumentation does), so a body
cut while being read loses its bytes for the caller too; `error.type` is botocore's modeled
exception class (`ThrottlingException`, `ValidationException`, ...), not the HTTP status;
aioboto3/aiobotocore are not covered.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentwatch.instrumentation.base import ClientInstrumentor, Target
from agentwatch.instrumentation.bedrock.package import _instruments


class BedrockInstrumentor(ClientInstrumentor):
    """Instruments Bedrock Runtime calls of boto3/botocore; `instrument(telemetry=...)`."""

    _instruments = _instruments
    module = "botocore"

    def targets(self) -> Iterator[Target]:
        """The one method to wrap."""
        from agentwatch.instrumentation.bedrock import patch

        yield "botocore.client", "BaseClient._make_api_call", patch.make_api_call


__all__ = ["BedrockInstrumentor"]
