"""Wrapper factories for `GenerationMixin.generate` and `TextGenerationPipeline.__call__`.

A `generate()` outside a pipeline is one `text_completion` invocation. A pipeline call is one
invocation (`chat` when its input is chat messages), and the `generate()` calls it makes are
not traced again: they add their tokens and finish reasons to the pipeline's invocation (found
in `_PIPELINE`). A `generate()` inside a traced one (assisted generation's draft model) adds
nothing (`MARKER`).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation, call_sync
from agentwatch.instrumentation.local import messages
from agentwatch.instrumentation.local.invocation import LocalInvocation
from agentwatch.instrumentation.local.memory import GpuMemory
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.transformers import tokens
from agentwatch.instrumentation.values import as_float, as_int, as_str
from agentwatch.instrumentation.wrappers import Marker

PROVIDER = "transformers"
"""`gen_ai.provider.name`: the conventions have no well-known value for in-process models."""
WHERE_GENERATE = "transformers.generate"
WHERE_PIPELINE = "transformers.pipeline"
MAX_MODEL_LENGTH = 256
"""A model name longer than this (a long local path) is cut: it becomes a metric attribute."""

MARKER = Marker("agentwatch.transformers")
_PIPELINE: ContextVar[Invocation | None] = ContextVar(
    "agentwatch.transformers.pipeline", default=None
)

_PARAMETERS = (
    ("max_new_tokens", sc.REQUEST_MAX_TOKENS, as_int),
    ("temperature", sc.REQUEST_TEMPERATURE, as_float),
    ("top_p", sc.REQUEST_TOP_P, as_float),
    ("top_k", sc.REQUEST_TOP_K, as_float),
)


def config_value(config: Any, name: str, stored: str | None = None) -> Any:
    """`config.<name>` (None when absent), read from the instance's `__dict__` when it is there.

    transformers' `PretrainedConfig` routes every attribute read through two Python
    `__getattribute__` overrides (its `attribute_map`, per-layer configs): about 0.8 us a
    read, 1.7 us for `name_or_path` (a property over `_name_or_path`). The instance's own
    `__dict__` holds the same value (`stored`: where the property keeps it); a name the
    class's `attribute_map` renames, or one not kept there, is read the ordinary way.
    """
    key = stored or name
    try:
        own = object.__getattribute__(config, "__dict__")
    except AttributeError:  # None, or an object without a __dict__
        own = None
    if isinstance(own, dict) and key in own:
        if name not in getattr(type(config), "attribute_map", ()):
            return own[key]
    return getattr(config, name, None)


def model_name(model: Any) -> str | None:
    """`model.config.name_or_path` (a hub id or a local path), bounded; None when empty."""
    name = as_str(config_value(getattr(model, "config", None), "name_or_path", "_name_or_path"))
    return name[:MAX_MODEL_LENGTH] if name else None


def _parameters(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The request's sampling parameters: keyword arguments first, then its `generation_config`."""
    config = kwargs.get("generation_config")
    attrs: dict[str, Any] = {}
    for name, key, read in _PARAMETERS:
        value = read(kwargs.get(name))
        if value is None and config is not None:
            value = read(getattr(config, name, None))
        if value is not None:
            attrs[key] = value
    choices = as_int(kwargs.get("num_return_sequences"))
    if choices is None and config is not None:
        choices = as_int(getattr(config, "num_return_sequences", None))
    if choices is not None and choices != 1:
        attrs[sc.REQUEST_CHOICE_COUNT] = choices
    return attrs


# -- generate ----------------------------------------------------------------------------------


def _count(
    inv: Invocation, model: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any], result: Any
) -> None:
    """Add the tokens and finish reasons of one `generate()` result to `inv`."""
    eos, pad = tokens.special_ids(model, kwargs)
    input_ids = args[0] if args else kwargs.get("inputs", kwargs.get("input_ids"))
    embeds = kwargs.get("inputs_embeds")
    counted_in = tokens.input_tokens(input_ids, kwargs.get("attention_mask"), embeds, eos, pad)
    if config_value(getattr(model, "config", None), "is_encoder_decoder"):
        prompt = 1  # the decoder start token
    elif input_ids is not None and getattr(input_ids, "shape", None) is not None:
        prompt = int(input_ids.shape[-1])
    else:
        prompt = 0  # inputs_embeds alone: the sequences are the new tokens only
    sequences = getattr(result, "sequences", result)
    counted_out = tokens.output_tokens(sequences, prompt, eos, pad)
    if counted_in is not None:
        inv.input_tokens = (inv.input_tokens or 0) + counted_in
    if counted_out is not None:
        inv.output_tokens = (inv.output_tokens or 0) + counted_out[0]
        inv.finish_reasons.extend(counted_out[1])


def generate(telemetry: Telemetry, gpu_memory: GpuMemory) -> Wrapper:
    """`GenerationMixin.generate`: one `text_completion` invocation, or tokens to a pipeline's."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if MARKER.inside():
            return wrapped(*args, **kwargs)
        outer = _PIPELINE.get()
        if outer is not None:  # the pipeline's invocation: this call adds its tokens
            result = MARKER.run(lambda: wrapped(*args, **kwargs))
            try:
                _count(outer, instance, args, kwargs, result)
            except Exception as exc:
                telemetry.error(WHERE_GENERATE, exc)
            return result

        def start() -> Invocation:
            return LocalInvocation(
                telemetry,
                sc.OP_TEXT_COMPLETION,
                PROVIDER,
                model_name(instance),
                gpu_memory,
                _parameters(kwargs),
            )

        def call() -> Any:
            return MARKER.run(lambda: wrapped(*args, **kwargs))

        def finish(inv: Invocation, result: Any) -> Any:
            try:
                _count(inv, instance, args, kwargs, result)
            finally:
                inv.end()
            return result

        return call_sync(telemetry, WHERE_GENERATE, start, call, finish)

    return wrapper


# -- the text-generation pipeline ------------------------------------------------------------


def _is_chat(inputs: Any) -> bool:
    if type(inputs).__name__ == "Chat":  # transformers' own wrapper of a message list
        return True
    if messages.is_chat(inputs):
        return True
    return isinstance(inputs, (list, tuple)) and bool(inputs) and messages.is_chat(inputs[0])


def _input_messages(inputs: Any) -> list[dict[str, Any]]:
    """The prompts of a pipeline call as ChatMessages (a batch is its prompts in order)."""
    if type(inputs).__name__ == "Chat":
        inputs = list(getattr(inputs, "messages", ()))
    if messages.is_chat(inputs):
        return messages.chat(inputs)
    if isinstance(inputs, str):
        return [messages.message("user", inputs)]
    out: list[dict[str, Any]] = []
    for item in inputs if isinstance(inputs, (list, tuple)) else ():
        out.extend(_input_messages(item))
    return out


def _generated(result: Any) -> list[Any]:
    """Every `generated_text` of a pipeline result (one prompt, or a batch of them)."""
    if isinstance(result, Mapping):
        text = result.get("generated_text")
        return [] if text is None else [text]
    out: list[Any] = []
    for item in result if isinstance(result, list) else ():
        out.extend(_generated(item))
    return out


def _read_pipeline(inv: Invocation, result: Any) -> None:
    texts = _generated(result)
    outputs: list[dict[str, Any]] = []
    for i, text in enumerate(texts):
        reason = inv.finish_reasons[i] if i < len(inv.finish_reasons) else ""
        if isinstance(text, str):
            inv.saw_text(text)
            outputs.append(messages.message("assistant", text, reason))
        elif messages.is_chat(text):  # a chat: the conversation with the new message last
            last = text[-1]
            inv.saw_text(last.get("content"))
            outputs.append(messages.message(last.get("role"), last.get("content"), reason))
    if texts:
        inv.answered = True
    if inv.telemetry.content.enabled and outputs:
        inv.output_messages = outputs


def pipeline(telemetry: Telemetry, gpu_memory: GpuMemory) -> Wrapper:
    """`TextGenerationPipeline.__call__`: one invocation for the whole call."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        inputs = args[0] if args else kwargs.get("text_inputs", kwargs.get("inputs"))
        # Generators and datasets give a lazy iterator: its generate() calls run after this
        # returns, outside any span of ours, and are traced one by one.
        eager = isinstance(inputs, (str, list, tuple)) or type(inputs).__name__ == "Chat"
        if MARKER.inside() or _PIPELINE.get() is not None or not eager:
            return wrapped(*args, **kwargs)
        opened: list[Invocation] = []

        def start() -> Invocation:
            chat = _is_chat(inputs)
            attributes = _parameters(kwargs)
            if telemetry.content.enabled:
                attributes[sc.INPUT_MESSAGES] = telemetry.content.render(_input_messages(inputs))
            inv = LocalInvocation(
                telemetry,
                sc.OP_CHAT if chat else sc.OP_TEXT_COMPLETION,
                PROVIDER,
                model_name(getattr(instance, "model", None)),
                gpu_memory,
                attributes,
            )
            opened.append(inv)
            return inv

        def call() -> Any:
            token = _PIPELINE.set(opened[0] if opened else None)
            try:
                return wrapped(*args, **kwargs)
            finally:
                _PIPELINE.reset(token)

        def finish(inv: Invocation, result: Any) -> Any:
            try:
                _read_pipeline(inv, result)
            finally:
                inv.end()
            return result

        return call_sync(telemetry, WHERE_PIPELINE, start, call, finish)

    return wrapper
