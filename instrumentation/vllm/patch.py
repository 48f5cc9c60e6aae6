"""Wrapper factories for vLLM's offline `LLM.generate` and `LLM.chat`.

One call is one invocation, whatever the batch: vLLM schedules the whole list of prompts at
once, so the span is the call and its tokens are the sum over requests and their outputs.
`chat()` calls `generate()` in most releases; that inner call adds nothing (`MARKER`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.local import messages
from agentwatch.instrumentation.local.invocation import LocalInvocation
from agentwatch.instrumentation.local.memory import GpuMemory
from agentwatch.instrumentation.local.wrapper import LocalStart, argument, traced_local
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_float, as_int, as_str
from agentwatch.instrumentation.wrappers import Marker

PROVIDER = "vllm"
"""`gen_ai.provider.name`: not a well-known value of the conventions, the library's name."""
WHERE_GENERATE = "vllm.generate"
WHERE_CHAT = "vllm.chat"
MAX_MODEL_LENGTH = 256
MARKER = Marker("agentwatch.vllm")

_PARAMETERS = (
    ("max_tokens", sc.REQUEST_MAX_TOKENS, as_int),
    ("temperature", sc.REQUEST_TEMPERATURE, as_float),
    ("top_p", sc.REQUEST_TOP_P, as_float),
    ("top_k", sc.REQUEST_TOP_K, as_float),
    ("seed", sc.REQUEST_SEED, as_int),
    ("presence_penalty", sc.REQUEST_PRESENCE_PENALTY, as_float),
    ("frequency_penalty", sc.REQUEST_FREQUENCY_PENALTY, as_float),
)


def model_name(llm: Any) -> str | None:
    """`llm.llm_engine.model_config.model` (the name or path `LLM(model=...)` was given)."""
    config = getattr(getattr(llm, "llm_engine", None), "model_config", None)
    name = as_str(getattr(config, "model", None))
    return name[:MAX_MODEL_LENGTH] if name else None


def _parameters(params: Any) -> dict[str, Any]:
    """Attributes of one `SamplingParams` (a list of them, one per prompt, gives none)."""
    if params is None or isinstance(params, (list, tuple)):
        return {}
    attrs: dict[str, Any] = {}
    for name, key, read in _PARAMETERS:
        value = read(getattr(params, name, None))
        if value is not None:
            attrs[key] = value
    if attrs.get(sc.REQUEST_TOP_K) is not None and attrs[sc.REQUEST_TOP_K] <= 0:
        del attrs[sc.REQUEST_TOP_K]  # vLLM's "top_k off" (0 or -1, by release)
    n = as_int(getattr(params, "n", None))
    if n is not None and n != 1:
        attrs[sc.REQUEST_CHOICE_COUNT] = n
    stop = getattr(params, "stop", None)
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(stop, (list, tuple)) and stop and all(isinstance(s, str) for s in stop):
        attrs[sc.REQUEST_STOP_SEQUENCES] = tuple(stop)
    return attrs


def _prompt_messages(prompts: Any) -> list[dict[str, Any]]:
    """Text prompts (strings, or `{"prompt": ...}` dicts) as user messages; ids are skipped."""
    batch = prompts if isinstance(prompts, (list, tuple)) else [prompts]
    out: list[dict[str, Any]] = []
    for prompt in batch:
        text = prompt.get("prompt") if isinstance(prompt, Mapping) else prompt
        if isinstance(text, str):
            out.append(messages.message("user", text))
    return out


def _chat_messages(conversations: Any) -> list[dict[str, Any]]:
    if messages.is_chat(conversations):
        return messages.chat(conversations)
    out: list[dict[str, Any]] = []
    for conversation in conversations if isinstance(conversations, (list, tuple)) else ():
        out.extend(messages.chat(conversation))
    return out


def _start(telemetry: Telemetry, gpu_memory: GpuMemory, operation: str) -> LocalStart:
    def start(instance: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Invocation:
        first = "messages" if operation == sc.OP_CHAT else "prompts"
        attributes = _parameters(argument(args, kwargs, 1, "sampling_params"))
        if telemetry.content.enabled:
            given = argument(args, kwargs, 0, first)
            rendered = _chat_messages(given) if operation == sc.OP_CHAT else _prompt_messages(given)
            if rendered:
                attributes[sc.INPUT_MESSAGES] = telemetry.content.render(rendered)
        return LocalInvocation(
            telemetry, operation, PROVIDER, model_name(instance), gpu_memory, attributes
        )

    return start


def read_outputs(inv: Invocation, result: Any) -> None:
    """Tokens, finish reasons and text of a list of `RequestOutput`s."""
    if not isinstance(result, list):
        return
    prompt_tokens = output_tokens = 0
    outputs: list[dict[str, Any]] = []
    for request in result:
        ids = getattr(request, "prompt_token_ids", None)
        if isinstance(ids, (list, tuple)):
            prompt_tokens += len(ids)
        for completion in getattr(request, "outputs", None) or ():
            token_ids = getattr(completion, "token_ids", None)
            if token_ids is not None and hasattr(token_ids, "__len__"):
                output_tokens += len(token_ids)
            reason = as_str(getattr(completion, "finish_reason", None)) or ""
            if reason:
                inv.finish_reasons.append(reason)
            text = getattr(completion, "text", None)
            inv.saw_text(text)
            if isinstance(text, str):
                outputs.append(messages.message("assistant", text, reason))
    inv.input_tokens, inv.output_tokens = prompt_tokens, output_tokens
    if len(result) == 1:
        inv.response_id = as_str(getattr(result[0], "request_id", None))
    inv.answered = True
    if inv.telemetry.content.enabled and outputs:
        inv.output_messages = outputs


def finish(inv: Invocation, result: Any) -> Any:
    """Read the outputs and end the invocation."""
    try:
        read_outputs(inv, result)
    finally:
        inv.end()
    return result


def generate(telemetry: Telemetry, gpu_memory: GpuMemory) -> Wrapper:
    """`LLM.generate`: operation `text_completion`."""
    start = _start(telemetry, gpu_memory, sc.OP_TEXT_COMPLETION)
    return traced_local(telemetry, WHERE_GENERATE, MARKER, start, finish)


def chat(telemetry: Telemetry, gpu_memory: GpuMemory) -> Wrapper:
    """`LLM.chat`: operation `chat`."""
    start = _start(telemetry, gpu_memory, sc.OP_CHAT)
    return traced_local(telemetry, WHERE_CHAT, MARKER, start, finish)
