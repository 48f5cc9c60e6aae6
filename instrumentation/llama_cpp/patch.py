"""Wrapper factories for `Llama.create_completion` and `Llama.create_chat_completion`.

A whole response carries llama.cpp's own `usage`. A stream's chunks carry none: its output
tokens are the streamed text tokenized again with the model's own tokenizer at the end
(`Llama.tokenize`, marked as an estimate: re-tokenizing text may not give back exactly the
sampled ids), its input tokens the prompt tokenized the same way. A chat call's prompt is
built by its chat handler, which passes it to `create_completion`: that inner call is not
traced again (`MARKER`), it only hands the prompt to the chat stream's invocation (`_CHAT`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.local import messages
from agentwatch.instrumentation.local.invocation import LocalInvocation
from agentwatch.instrumentation.local.memory import GpuMemory
from agentwatch.instrumentation.local.wrapper import argument, traced_local
from agentwatch.instrumentation.streams import SyncStream
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float, as_int, as_str, field
from agentwatch.instrumentation.wrappers import Marker

PROVIDER = "llama_cpp"
"""`gen_ai.provider.name`: not a well-known value of the conventions, the library's name."""
WHERE_COMPLETION = "llama_cpp.create_completion"
WHERE_CHAT = "llama_cpp.create_chat_completion"
ESTIMATE_METHOD = "llama_cpp.tokenize"
MAX_MODEL_LENGTH = 128
MARKER = Marker("agentwatch.llama_cpp")
_CHAT: ContextVar[LlamaStream | None] = ContextVar("agentwatch.llama_cpp.chat", default=None)

_PARAMETERS = (
    ("max_tokens", sc.REQUEST_MAX_TOKENS, as_int),
    ("temperature", sc.REQUEST_TEMPERATURE, as_float),
    ("top_p", sc.REQUEST_TOP_P, as_float),
    ("top_k", sc.REQUEST_TOP_K, as_float),
    ("seed", sc.REQUEST_SEED, as_int),
    ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY, as_float),
    ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY, as_float),
)


def model_name(path: Any) -> str | None:
    """The model file's name (`Llama.model_path`'s basename, bounded): no directories."""
    name = as_str(path)
    if not name:
        return None
    return os.path.basename(name.rstrip("/\\"))[:MAX_MODEL_LENGTH] or None


def _tokens(llama: Any, text: Any) -> int | None:
    """Tokens of `text` (a str, or already token ids) by the model's own tokenizer."""
    if isinstance(text, list):
        return len(text)
    if not isinstance(text, str):
        return None
    return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=True))


class LlamaStream(LocalInvocation):
    """A streamed call: the text seen, counted by the model's tokenizer when it ends."""

    __slots__ = ("llama", "prompt", "pieces")

    def setup(self, llama: Any, prompt: Any) -> None:
        """Remember the model and prompt (a chat's prompt arrives later, from its handler)."""
        self.llama = llama
        self.prompt = prompt
        self.pieces: list[str] = []

    def _record(self, duration: float, error: BaseException | None) -> None:
        try:
            if self.input_tokens is None and self.prompt is not None:
                self.input_tokens = _tokens(self.llama, self.prompt)
            if self.output_tokens is None:
                self.output_tokens = _tokens(self.llama, "".join(self.pieces))
            self.estimate_method = ESTIMATE_METHOD
        except Exception as exc:  # a tokenizer failing: the call is recorded without tokens
            self.telemetry.error(f"{PROVIDER}.{self.operation}.tokens", exc)
        super()._record(duration, error)


def _attributes(kwargs: Mapping[str, Any], stream: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {sc.REQUEST_STREAM: stream}
    for name, key, read in _PARAMETERS:
        value = read(kwargs.get(name))
        if value is not None:
            attrs[key] = value
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        attrs[sc.REQUEST_STOP_SEQUENCES] = tuple(stop)
    return attrs


def _start(
    telemetry: Telemetry,
    gpu_memory: GpuMemory,
    operation: str,
    instance: Any,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
) -> Invocation:
    first = argument(args, kwargs, 0, "messages" if operation == sc.OP_CHAT else "prompt")
    # `stream` is the 15th parameter of create_completion, the 11th of create_chat_completion.
    at = 14 if operation == sc.OP_TEXT_COMPLETION else 10
    stream = argument(args, kwargs, at, "stream") is True
    attributes = _attributes(kwargs, stream)
    if telemetry.content.enabled:
        if operation == sc.OP_CHAT and messages.is_chat(first):
            attributes[sc.INPUT_MESSAGES] = telemetry.content.render(messages.chat(first))
        elif isinstance(first, str):
            prompt = [messages.message("user", first)]
            attributes[sc.INPUT_MESSAGES] = telemetry.content.render(prompt)
    kind = LlamaStream if stream else LocalInvocation
    model = model_name(getattr(instance, "model_path", None))
    inv = kind(telemetry, operation, PROVIDER, model, gpu_memory, attributes)
    if isinstance(inv, LlamaStream):
        inv.setup(instance, None if operation == sc.OP_CHAT else first)
    return inv


def _read_response(inv: Invocation, result: Mapping[str, Any]) -> None:
    inv.response_id = as_str(result.get("id"))
    inv.response_model = model_name(result.get("model"))
    usage = result.get("usage")
    if isinstance(usage, Mapping):
        inv.input_tokens = as_int(usage.get("prompt_tokens"))
        inv.output_tokens = as_int(usage.get("completion_tokens"))
    outputs: list[dict[str, Any]] = []
    for choice in result.get("choices") or ():
        reason = as_str(field(choice, "finish_reason")) or ""
        if reason:
            inv.finish_reasons.append(reason)
        message = field(choice, "message")
        text = field(message, "content") if message is not None else field(choice, "text")
        inv.saw_text(text)
        for call in field(message, "tool_calls") or () if message is not None else ():
            function = field(call, "function")
            inv.tool_call(field(function, "name"), field(function, "arguments"), field(call, "id"))
        if isinstance(text, str):
            outputs.append(messages.message("assistant", text, reason))
    inv.answered = True
    if inv.telemetry.content.enabled and outputs:
        inv.output_messages = outputs


def on_chunk(inv: Invocation, chunk: Any) -> None:
    """One stream chunk (a completion's or a chat's): text, finish reason, id and model."""
    if not isinstance(chunk, Mapping) or not isinstance(inv, LlamaStream):
        return
    if inv.response_id is None:
        inv.response_id = as_str(chunk.get("id"))
        inv.response_model = model_name(chunk.get("model"))
    for choice in chunk.get("choices") or ():
        delta = field(choice, "delta")
        text = field(delta, "content") if delta is not None else field(choice, "text")
        if isinstance(text, str) and text:
            inv.pieces.append(text)
            inv.saw_text(text)
        reason = as_str(field(choice, "finish_reason"))
        if reason:
            inv.finish_reasons.append(reason)
            inv.answered = True


def finish(inv: Invocation, result: Any) -> Any:
    """A whole response is read; a stream's generator is proxied until it ends."""
    if isinstance(inv, LlamaStream) and not isinstance(result, Mapping):
        return SyncStream(result, inv, on_chunk)
    try:
        if isinstance(result, Mapping):
            _read_response(inv, result)
    finally:
        inv.end()
    return result


def create_completion(telemetry: Telemetry, gpu_memory: GpuMemory) -> Wrapper:
    """`Llama.create_completion` (`__call__` delegates to it): `text_completion`."""

    def start(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Invocation:
        return _start(telemetry, gpu_memory, sc.OP_TEXT_COMPLETION, instance, args, kwargs)

    traced = traced_local(telemetry, WHERE_COMPLETION, MARKER, start, finish)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        chat = _CHAT.get()
        if chat is not None and MARKER.inside():  # a chat stream's handler: hand it the prompt
            try:
                chat.prompt = argument(args, kwargs, 0, "prompt")
            except Exception as exc:
                telemetry.error(WHERE_CHAT, exc)
        return traced(wrapped, instance, args, kwargs)

    return wrapper


def create_chat_completion(telemetry: Telemetry, gpu_memory: GpuMemory) -> Wrapper:
    """`Llama.create_chat_completion`: `chat`."""
    opened: ContextVar[Invocation | None] = ContextVar("agentwatch.llama_cpp.opened", default=None)

    def start(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Invocation:
        inv = _start(telemetry, gpu_memory, sc.OP_CHAT, instance, args, kwargs)
        opened.set(inv)
        return inv

    traced = traced_local(telemetry, WHERE_CHAT, MARKER, start, finish)

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if MARKER.inside():
            return wrapped(*args, **kwargs)

        def inner(*a: Any, **k: Any) -> Any:
            inv = opened.get()
            token = _CHAT.set(inv if isinstance(inv, LlamaStream) else None)
            try:
                return wrapped(*a, **k)
            finally:
                _CHAT.reset(token)

        token = opened.set(None)
        try:
            return traced(inner, instance, args, kwargs)
        finally:
            opened.reset(token)

    return wrapper
