"""What an ollama request says, as GenAI span attributes: parameters and (opt-in) content.

The SDK methods take their first arguments positionally (`client.chat("llama3.2", messages)`),
so the request is read from the positional arguments bound to their parameter names and the
keyword arguments. Sampling parameters live in `options` (a mapping or an `ollama.Options`);
`num_predict` is ollama's maximum number of output tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.quality.toolcalls import Tool, openai_tools
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float, as_int, as_str, field

CHAT_PARAMS = ("model", "messages")
GENERATE_PARAMS = ("model", "prompt", "suffix")
EMBED_PARAMS = ("model", "input", "truncate", "options", "keep_alive", "dimensions")


def bind(names: Sequence[str], args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request as keyword arguments: positional ones named (only for reading them)."""
    request = dict(zip(names, args, strict=False))
    request.update(kwargs)
    return request


def _stop(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _output_type(fmt: Any) -> str | None:
    # `format="json"` or a JSON schema (a dict) both constrain the output to JSON.
    if fmt == "json" or isinstance(fmt, Mapping):
        return sc.OUTPUT_TYPE_JSON
    return None


def generation_attributes(
    telemetry: Telemetry, request: Mapping[str, Any], chat: bool
) -> dict[str, Any]:
    """Span attributes of a chat or generate request."""
    options = request.get("options")
    attrs: dict[str, Any] = {
        sc.REQUEST_MAX_TOKENS: as_int(field(options, "num_predict")),
        sc.REQUEST_TEMPERATURE: as_float(field(options, "temperature")),
        sc.REQUEST_TOP_P: as_float(field(options, "top_p")),
        sc.REQUEST_TOP_K: as_float(field(options, "top_k")),
        sc.REQUEST_FREQUENCY_PENALTY: as_float(field(options, "frequency_penalty")),
        sc.REQUEST_PRESENCE_PENALTY: as_float(field(options, "presence_penalty")),
        sc.REQUEST_STOP_SEQUENCES: _stop(field(options, "stop")),
        sc.REQUEST_SEED: as_int(field(options, "seed")),
        sc.REQUEST_STREAM: request.get("stream") is True,
        sc.OUTPUT_TYPE: _output_type(request.get("format")),
    }
    if telemetry.content.enabled:
        attrs.update(_content(telemetry, request, chat))
    return attrs


def embed_attributes(request: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes of an embed request."""
    return {sc.EMBEDDINGS_DIMENSION_COUNT: as_int(request.get("dimensions"))}


def tools(request: Mapping[str, Any]) -> dict[str, Tool] | None:
    """The tools a chat request offers (dicts, `ollama.Tool` models or Python functions)."""
    offered = request.get("tools")
    if not isinstance(offered, (list, tuple)) or not offered:
        return None
    dicts: list[Any] = []
    named: dict[str, Tool] = {}
    for tool in offered:
        if isinstance(tool, Mapping):
            dicts.append(tool)
        elif hasattr(tool, "model_dump"):
            dicts.append(tool.model_dump(exclude_none=True))
        elif callable(tool) and isinstance(getattr(tool, "__name__", None), str):
            # The SDK builds the schema from the docstring: the name is what is sure.
            named[tool.__name__] = Tool(tool.__name__)
    return {**openai_tools(dicts), **named}


# -- content, in the conventions' JSON shapes (only built when capture is on) ----------------


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def tool_call_part(call: Any) -> dict[str, Any]:
    """One `message.tool_calls` entry (a dict or an SDK model) as a message part."""
    function = field(call, "function")
    arguments = field(function, "arguments")
    if arguments is not None and not isinstance(arguments, (str, int, float, bool, list, dict)):
        arguments = dict(arguments) if isinstance(arguments, Mapping) else str(arguments)
    return {"type": "tool_call", "name": field(function, "name"), "arguments": arguments}


def message(msg: Any) -> dict[str, Any]:
    """One ollama chat message (a dict or an `ollama.Message`) as a ChatMessage."""
    role = as_str(field(msg, "role")) or "user"
    parts: list[dict[str, Any]] = []
    content = as_str(field(msg, "content"))
    if role == "tool":
        response = {"type": "tool_call_response", "response": content}
        name = as_str(field(msg, "tool_name"))
        if name:
            response["name"] = name
        parts.append(response)
    elif content:
        parts.append(_text(content))
    parts.extend(tool_call_part(c) for c in field(msg, "tool_calls") or ())
    images = field(msg, "images")
    if isinstance(images, (list, tuple)):
        parts.extend({"type": "blob", "modality": "image"} for _ in images)
    return {"role": role, "parts": parts}


def _tool_definition(tool: Any) -> dict[str, Any]:
    if callable(tool) and not isinstance(tool, Mapping) and not hasattr(tool, "model_dump"):
        return {"type": "function", "name": getattr(tool, "__name__", None)}
    function = field(tool, "function")
    parameters = field(function, "parameters")
    if hasattr(parameters, "model_dump"):
        parameters = parameters.model_dump(exclude_none=True)
    definition: dict[str, Any] = {
        "type": "function",
        "name": field(function, "name"),
        "description": field(function, "description") or "",
    }
    if parameters is not None:
        definition["parameters"] = parameters
    return definition


def _content(telemetry: Telemetry, request: Mapping[str, Any], chat: bool) -> dict[str, Any]:
    render = telemetry.content.render
    attrs: dict[str, Any] = {}
    if chat:
        messages = request.get("messages")
        if isinstance(messages, (list, tuple)):
            attrs[sc.INPUT_MESSAGES] = render([message(m) for m in messages])
        offered = request.get("tools")
        if isinstance(offered, (list, tuple)) and offered:
            attrs[sc.TOOL_DEFINITIONS] = render([_tool_definition(t) for t in offered])
        return attrs
    system = as_str(request.get("system"))
    if system:
        attrs[sc.SYSTEM_INSTRUCTIONS] = render([_text(system)])
    prompt = as_str(request.get("prompt"))
    if prompt is not None:
        attrs[sc.INPUT_MESSAGES] = render([{"role": "user", "parts": [_text(prompt)]}])
    return attrs
