"""The wrapper of `botocore.client.BaseClient._make_api_call`: Bedrock Runtime calls traced.

Every AWS call of the process goes through `_make_api_call`, so the wrapper decides with one
set lookup on the operation name, then one attribute read for the service, before anything
else: any other call goes straight to botocore. For `bedrock-runtime`'s `Converse`,
`ConverseStream`, `InvokeModel` and `InvokeModelWithResponseStream` it opens one invocation,
reads the parameters and the parsed response (a stream comes back behind a proxy; see
`events`), and returns what botocore returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.bedrock import converse, events, invoke
from agentwatch.instrumentation.invocation import Invocation, call_sync
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_str, field
from agentwatch.instrumentation.wrappers import Marker

PROVIDER = "aws.bedrock"
SERVICE = "bedrock-runtime"
CONVERSE = "Converse"
CONVERSE_STREAM = "ConverseStream"
INVOKE = "InvokeModel"
INVOKE_STREAM = "InvokeModelWithResponseStream"
OPERATIONS = frozenset({CONVERSE, CONVERSE_STREAM, INVOKE, INVOKE_STREAM})
WHERE = "bedrock"

MARKER = Marker("bedrock_traced_call")
"""Set inside a traced call: a nested `_make_api_call` (a retry helper) is not traced again."""


def _server(instance: Any) -> tuple[str | None, int | None]:
    url = as_str(getattr(getattr(instance, "meta", None), "endpoint_url", None))
    if not url:
        return None, None
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.hostname, port


class _Invoke(Invocation):
    """An InvokeModel invocation, knowing which body family it reads."""

    __slots__ = ("kind",)
    kind: str | None


def start(telemetry: Telemetry, instance: Any, operation: str, params: Any) -> Invocation:
    """The invocation of one Bedrock Runtime call."""
    params = params if isinstance(params, Mapping) else {}
    model = as_str(params.get("modelId"))
    address, port = _server(instance)
    if operation in (CONVERSE, CONVERSE_STREAM):
        streaming = operation == CONVERSE_STREAM
        attrs = converse.attributes(telemetry, params, streaming)
        kind = converse.ConverseStream if streaming else Invocation
        inv = kind(telemetry, sc.OP_CHAT, PROVIDER, model, attrs, address, port)
        inv.offered_tools = converse.tools(params)
        if isinstance(inv, converse.ConverseStream):
            inv.setup()
        return inv
    body = invoke.body_json(params.get("body"))
    family = invoke.family(model, body)
    streaming = operation == INVOKE_STREAM
    attrs = invoke.attributes(telemetry, family, body, streaming)
    op = sc.OP_TEXT_COMPLETION if family == invoke.LLAMA else sc.OP_CHAT
    if streaming and family is not None:
        stream = invoke.InvokeStream(telemetry, op, PROVIDER, model, attrs, address, port)
        stream.setup(family)
        stream.offered_tools = invoke.offered_tools(family, body)
        return stream
    inv = _Invoke(telemetry, op, PROVIDER, model, attrs, address, port)
    inv.kind = family
    inv.offered_tools = invoke.offered_tools(family, body)
    return inv


def finish(inv: Invocation, result: Any) -> Any:
    """Read the parsed response, or put a proxy over its event stream."""
    if isinstance(inv, converse.ConverseStream):
        stream = field(result, "stream")
        if isinstance(result, dict) and stream is not None:
            result["stream"] = events.observed(stream, inv, converse.on_event)  # type: ignore[arg-type]
            return result
    elif isinstance(inv, invoke.InvokeStream):
        body = field(result, "body")
        if isinstance(result, dict) and body is not None:
            result["body"] = events.observed(body, inv, invoke.on_event)  # type: ignore[arg-type]
            return result
    elif isinstance(inv, _Invoke):
        if inv.kind is not None:
            invoke.read_body(inv, inv.kind, invoke.replace_body(result))
    else:
        converse.read_response(inv, result)
    inv.end()
    return result


def make_api_call(telemetry: Telemetry) -> Wrapper:
    """The wrapper of `BaseClient._make_api_call(operation_name, api_params)`."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        operation = args[0] if args else kwargs.get("operation_name")
        # The hot path of every AWS call: a set lookup, then the client's service name.
        if (
            not isinstance(operation, str)
            or operation not in OPERATIONS
            or getattr(getattr(instance, "_service_model", None), "service_name", None) != SERVICE
            or MARKER.inside()
        ):
            return wrapped(*args, **kwargs)
        params = args[1] if len(args) > 1 else kwargs.get("api_params")
        return call_sync(
            telemetry,
            WHERE,
            lambda: start(telemetry, instance, operation, params),
            lambda: MARKER.run(lambda: wrapped(*args, **kwargs)),
            finish,
        )

    return wrapper
