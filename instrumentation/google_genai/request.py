"""What a google-genai request says, as GenAI span attributes: provider, server, parameters.

Everything here reads the keyword arguments the caller passed (`model`, `contents`, `config`)
and never changes them. `config` may be a `GenerateContentConfig` or a plain dict, in either
naming (`max_output_tokens` or `maxOutputTokens`). Content (contents, system instruction,
function declarations) is converted to the conventions' JSON shapes only when the content
policy is on.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.quality.toolcalls import Tool
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float, as_int, as_str, field

PROVIDER_GEMINI = "gcp.gemini"
PROVIDER_VERTEX = "gcp.vertex_ai"
OP_GENERATE_CONTENT = "generate_content"
_JSON_MIME = "application/json"
_DEFAULT_PORTS = {"https": 443, "http": 80}


def api_client(instance: Any) -> Any:
    """The SDK's `BaseApiClient` behind a `Models` / `AsyncModels` resource."""
    return getattr(instance, "_api_client", None)


def provider(client: Any) -> str:
    """`gcp.vertex_ai` for a Vertex AI client, else `gcp.gemini` (the Gemini Developer API)."""
    return PROVIDER_VERTEX if getattr(client, "vertexai", None) is True else PROVIDER_GEMINI


def server(client: Any) -> tuple[str | None, int | None]:
    """(`server.address`, `server.port`) from the client's base URL."""
    url = as_str(getattr(getattr(client, "_http_options", None), "base_url", None))
    if not url:
        return None, None
    try:
        parts = urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None, None
    return parts.hostname or None, port


def option(config: Any, key: str, camel: str | None = None) -> Any:
    """`config.key` of a config model or dict (dicts may use the API's camelCase name)."""
    if config is None:
        return None
    value = field(config, key)
    if value is None and camel is not None and isinstance(config, Mapping):
        value = config.get(camel)
    return value


def _stop(value: Any) -> tuple[str, ...] | None:
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def _output_type(config: Any) -> str | None:
    mime = as_str(option(config, "response_mime_type", "responseMimeType"))
    if mime == _JSON_MIME:
        return sc.OUTPUT_TYPE_JSON
    if mime == "text/plain":
        return sc.OUTPUT_TYPE_TEXT
    return None


def generate_attributes(
    telemetry: Telemetry, kwargs: Mapping[str, Any], stream: bool
) -> dict[str, Any]:
    """Span attributes of a `generate_content` / `generate_content_stream` request."""
    config = kwargs.get("config")
    count = as_int(option(config, "candidate_count", "candidateCount"))
    attrs: dict[str, Any] = {
        sc.REQUEST_MAX_TOKENS: as_int(option(config, "max_output_tokens", "maxOutputTokens")),
        sc.REQUEST_TEMPERATURE: as_float(option(config, "temperature")),
        sc.REQUEST_TOP_P: as_float(option(config, "top_p", "topP")),
        sc.REQUEST_TOP_K: as_float(option(config, "top_k", "topK")),
        sc.REQUEST_PRESENCE_PENALTY: as_float(
            option(config, "presence_penalty", "presencePenalty")
        ),
        sc.REQUEST_FREQUENCY_PENALTY: as_float(
            option(config, "frequency_penalty", "frequencyPenalty")
        ),
        sc.REQUEST_STOP_SEQUENCES: _stop(option(config, "stop_sequences", "stopSequences")),
        sc.REQUEST_SEED: as_int(option(config, "seed")),
        sc.REQUEST_CHOICE_COUNT: count if count is not None and count != 1 else None,
        sc.REQUEST_STREAM: stream,
        sc.OUTPUT_TYPE: _output_type(config),
    }
    if telemetry.content.enabled:
        render = telemetry.content.render
        system = option(config, "system_instruction", "systemInstruction")
        if system is not None:
            attrs[sc.SYSTEM_INSTRUCTIONS] = render(_loose_parts(system))
        attrs[sc.INPUT_MESSAGES] = render(input_messages(kwargs.get("contents")))
        declarations = function_declarations(option(config, "tools"))
        if declarations:
            attrs[sc.TOOL_DEFINITIONS] = render([tool_definition(d) for d in declarations])
    return attrs


def embed_attributes(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Span attributes of an `embed_content` request."""
    config = kwargs.get("config")
    dims = option(config, "output_dimensionality", "outputDimensionality")
    return {sc.EMBEDDINGS_DIMENSION_COUNT: as_int(dims)}


# -- tools: what the request offers the model --------------------------------------------------


def function_declarations(tools: Any) -> list[Any]:
    """Every function declaration of `config.tools`; a Python callable (AFC) counts as one."""
    out: list[Any] = []
    if not isinstance(tools, (list, tuple)):
        return out
    for tool in tools:
        if callable(tool) and not isinstance(tool, Mapping):
            out.append(tool)
            continue
        declarations = option(tool, "function_declarations", "functionDeclarations")
        if isinstance(declarations, (list, tuple)):
            out.extend(declarations)
    return out


def _name(declaration: Any) -> str | None:
    if callable(declaration) and not isinstance(declaration, Mapping):
        return as_str(getattr(declaration, "__name__", None))
    return as_str(field(declaration, "name"))


def json_schema(schema: Any) -> Mapping[str, Any] | None:
    """A declaration's `parameters` (the API's OpenAPI-style `Schema`) as JSON Schema.

    The API's types are upper-case enum names (`OBJECT`, `STRING`); JSON Schema's are lower
    case. Other keys that are not JSON Schema keywords (`property_ordering`, ...) are ignored by
    the validator, so only the types need converting.
    """
    dump = getattr(schema, "model_dump", None)
    if callable(dump):
        schema = dump(mode="json", exclude_none=True)
    if not isinstance(schema, Mapping):
        return None
    converted: dict[str, Any] = _lower_types(schema)
    return converted


def _lower_types(node: Any) -> Any:
    if isinstance(node, Mapping):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "type" and isinstance(value, str):
                if value.upper() != "TYPE_UNSPECIFIED":
                    out[key] = value.lower()
            else:
                out[key] = _lower_types(value)
        return out
    if isinstance(node, list):
        return [_lower_types(v) for v in node]
    return node


def offered_tools(tools: Any) -> dict[str, Tool]:
    """The function tools a request offers, with their argument schemas where given.

    `parameters_json_schema` is JSON Schema already; `parameters` is converted. A callable
    passed for automatic function calling is checked by name only (its schema is the SDK's
    derivation, not something the caller wrote).
    """
    out: dict[str, Tool] = {}
    for declaration in function_declarations(tools):
        name = _name(declaration)
        if not name:
            continue
        schema: Mapping[str, Any] | None = None
        if not callable(declaration) or isinstance(declaration, Mapping):
            raw = option(declaration, "parameters_json_schema", "parametersJsonSchema")
            if isinstance(raw, Mapping):
                schema = raw
            else:
                schema = json_schema(option(declaration, "parameters"))
        out[name] = Tool(name, schema)
    return out


# -- content, in the conventions' JSON shapes (only built when capture is on) ----------------


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def part(item: Any) -> dict[str, Any]:
    """One request or response `Part` (a model, a dict or a plain string) as a message part."""
    if isinstance(item, str):
        return _text(item)
    text = as_str(field(item, "text"))
    if text is not None:
        return {"type": "reasoning", "content": text} if field(item, "thought") else _text(text)
    call = option(item, "function_call", "functionCall")
    if call is not None:
        return {
            "type": "tool_call",
            "id": field(call, "id"),
            "name": field(call, "name"),
            "arguments": field(call, "args"),
        }
    answer = option(item, "function_response", "functionResponse")
    if answer is not None:
        return {
            "type": "tool_call_response",
            "id": field(answer, "id"),
            "response": field(answer, "response"),
        }
    blob = option(item, "inline_data", "inlineData")
    if blob is not None:
        data = field(blob, "data")
        if isinstance(data, bytes):
            data = base64.b64encode(data).decode("ascii")
        mime = field(blob, "mime_type") or field(blob, "mimeType")
        return {"type": "blob", "mime_type": mime, "content": data}
    file = option(item, "file_data", "fileData")
    if file is not None:
        uri = field(file, "file_uri") or field(file, "fileUri")
        return {"type": "uri", "mime_type": field(file, "mime_type"), "uri": uri}
    return {"type": "unknown"}


def _is_content(item: Any) -> bool:
    return not isinstance(item, str) and isinstance(field(item, "parts"), (list, tuple))


def _message(content: Any) -> dict[str, Any]:
    role = as_str(field(content, "role")) or "user"
    return {"role": "assistant" if role == "model" else role, "parts": _loose_parts(content)}


def _loose_parts(value: Any) -> list[dict[str, Any]]:
    if _is_content(value):
        return [part(p) for p in field(value, "parts")]
    if isinstance(value, (list, tuple)):
        return [part(p) for p in value]
    return [part(value)]


def input_messages(contents: Any) -> list[dict[str, Any]]:
    """`contents` as ChatMessages: `Content`s keep their role; loose parts are the user's."""
    if contents is None:
        return []
    items = contents if isinstance(contents, (list, tuple)) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[dict[str, Any]] = []
    for item in items:
        if _is_content(item):
            if loose:
                messages.append({"role": "user", "parts": loose})
                loose = []
            messages.append(_message(item))
        else:
            loose.append(part(item))
    if loose:
        messages.append({"role": "user", "parts": loose})
    return messages


def tool_definition(declaration: Any) -> dict[str, Any]:
    """A function declaration in the conventions' shape."""
    definition: dict[str, Any] = {"type": "function", "name": _name(declaration)}
    if callable(declaration) and not isinstance(declaration, Mapping):
        definition["description"] = as_str(getattr(declaration, "__doc__", None)) or ""
        return definition
    definition["description"] = as_str(field(declaration, "description")) or ""
    raw = option(declaration, "parameters_json_schema", "parametersJsonSchema")
    schema = raw if isinstance(raw, Mapping) else json_schema(option(declaration, "parameters"))
    if schema is not None:
        definition["parameters"] = schema
    return definition
