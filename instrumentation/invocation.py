"""One LLM call as agentwatch records it: a GenAI client span and its metrics, exactly once.

Provider modules open an `Invocation` with what the request says, fill in what the response
says (model, id, finish reasons, usage), and call `end()`: from the wrapper for a plain call,
from the stream proxy when a stream ends, breaks, is closed or is garbage-collected. `end()`
records everything once, whatever calls it how often, and never raises.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from time import perf_counter
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.quality.flags import response_flags
from agentwatch.instrumentation.quality.scores import remember
from agentwatch.instrumentation.quality.toolcalls import Tool
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.values import as_str

MAX_TOOL_CALL_NAMES = 64
"""At most this many tool-call names go on a span."""
_UNFLAGGED = frozenset({"stop", "end_turn", "stop_sequence", "tool_calls", "tool_call"})
"""Finish reasons that raise no flag of their own (quality/flags.py)."""
MAX_CHECKED_TOOL_CALLS = 256
"""At most this many tool calls of one response are checked (and kept until its end)."""


def error_type(exc: BaseException) -> str:
    """`error.type` of an exception: the provider's HTTP status if it has one, else its class."""
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):  # google-genai's APIError: `code` is the HTTP status
        status = getattr(exc, "code", None)
    # An HTTP status only: ollama's ResponseError says -1 for an error sent inside a stream.
    if isinstance(status, int) and 100 <= status <= 599:
        return str(status)
    return type(exc).__qualname__


class Invocation:
    """The span, timings and response facts of one call."""

    __slots__ = (
        "telemetry",
        "operation",
        "provider",
        "request_model",
        "server_address",
        "server_port",
        "span",
        "started",
        "response_model",
        "response_id",
        "finish_reasons",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "cache_creation_1h_tokens",
        "reasoning_tokens",
        "estimate_method",
        "tool_calls",
        "output_messages",
        "offered_tools",
        "calls",
        "answered",
        "text_seen",
        "text_parts",
        "refused",
        "json_requested",
        "check_code",
        "_stamps",
        "_once",
    )

    def __init__(
        self,
        telemetry: Telemetry,
        operation: str,
        provider: str,
        request_model: str | None,
        attributes: Mapping[str, Any] | None = None,
        server_address: str | None = None,
        server_port: int | None = None,
    ) -> None:
        self.telemetry = telemetry
        self.operation = operation
        self.provider = provider
        self.request_model = request_model
        self.server_address = server_address
        self.server_port = server_port
        attrs: dict[str, Any] = {sc.OPERATION_NAME: operation, sc.PROVIDER_NAME: provider}
        if request_model:
            attrs[sc.REQUEST_MODEL] = request_model
        if server_address:
            attrs[sc.SERVER_ADDRESS] = server_address
            if server_port:
                attrs[sc.SERVER_PORT] = server_port
        if attributes:
            attrs.update((k, v) for k, v in attributes.items() if v is not None)
        name = f"{operation} {request_model}" if request_model else operation
        self.span = telemetry.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attrs)
        self.started = perf_counter()
        self.response_model: str | None = None
        self.response_id: str | None = None
        self.finish_reasons: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read_tokens: int | None = None
        self.cache_creation_tokens: int | None = None
        self.cache_creation_1h_tokens: int | None = None
        """Of the cache writes, those kept an hour (Anthropic bills them at a higher rate)."""
        self.reasoning_tokens: int | None = None
        self.estimate_method: str | None = None
        """Set when the token counts are agentwatch's estimate rather than the API's."""
        self.tool_calls: list[str] = []
        self.output_messages: Any = None
        # What the quality signals need (quality/flags.py, quality/toolcalls.py). A reader
        # that fills them in sets `answered`; until one does, no flag is judged.
        self.offered_tools: Mapping[str, Tool] | None = None
        """The request's tools, when it offered any: its tool calls are checked against them."""
        self.calls: list[tuple[Any, Any, Any]] = []
        """(name, arguments, call id) of each tool call, when tools were offered."""
        self.answered = False
        self.text_seen = False
        self.text_parts: list[str] | None = None
        """The output text, kept only when JSON output was requested (to check it parses)."""
        self.refused = False
        self.json_requested = False
        self.check_code = False
        coderefs = telemetry.coderefs
        if coderefs is not None and operation == sc.OP_CHAT and coderefs.sampled():
            self.check_code = True  # sampled: keep the text for check-code at the end
            self.text_parts = []
        # perf_counter() at each chunk; time to first chunk and the gaps are derived at end().
        self._stamps: list[float] = []
        self._once = threading.Lock()

    def expect_json(self) -> None:
        """The request asked for JSON output: keep the text, to check that it parses."""
        self.json_requested = True
        if self.text_parts is None:
            self.text_parts = []

    def saw_text(self, piece: Any) -> None:
        """Output text the response (or a stream chunk) carries."""
        if isinstance(piece, str) and piece:
            self.text_seen = True
            if self.text_parts is not None:
                self.text_parts.append(piece)

    def tool_call(
        self, name: Any, arguments: Any = None, call_id: Any = None, *, check: bool = True
    ) -> None:
        """A tool call of the response, whole (a stream's are settled at its end).

        `check=False` for calls the request's `tools` do not govern (Anthropic's MCP and
        server-side tool use): named on the span, never judged.
        """
        if isinstance(name, str) and name and len(self.tool_calls) < MAX_TOOL_CALL_NAMES:
            self.tool_calls.append(name)
        if check and self.offered_tools is not None and len(self.calls) < MAX_CHECKED_TOOL_CALLS:
            self.calls.append((name, arguments, call_id))

    def _quality(self, attrs: dict[str, Any]) -> None:
        """The response's flags and hallucinated tool calls: span attributes and counts."""
        t = self.telemetry
        reasons = self.finish_reasons
        tools = self.offered_tools
        code = "".join(self.text_parts) if self.check_code and self.text_parts else ""
        # The common case, judged without a call: one choice that stopped, with text, no JSON
        # asked for, no tool calls and no code to check.
        if (
            not code
            and self.text_seen
            and not self.refused
            and not self.json_requested
            and (tools is None or not self.calls)
            and all(r in _UNFLAGGED for r in reasons)
        ):
            return
        point = t.points.record
        base: dict[str, Any] = {sc.OPERATION_NAME: self.operation, sc.PROVIDER_NAME: self.provider}
        if self.request_model:
            base[sc.REQUEST_MODEL] = t.models.get(self.request_model)
        if code and t.coderefs is not None:
            t.coderefs.submit(code, base)
        if self.text_parts is not None:
            text: str | None = "".join(self.text_parts)
        else:
            text = "text" if self.text_seen else None  # only whether there was any matters
        flags = response_flags(
            reasons,
            text,
            tool_calls=len(self.tool_calls) + len(self.calls),
            refused=self.refused,
            json_requested=self.json_requested,
        )
        if flags:
            attrs[sc.RESPONSE_FLAGS] = flags
            for flag in flags:
                point(t.response_flags, 1, {**base, sc.RESPONSE_FLAG: flag})
        if tools is None or not self.calls:
            return
        point(t.tool_calls, len(self.calls), base)
        hallucinated = 0
        for name, arguments, call_id in self.calls:
            found = t.tool_checker.check(tools, name, arguments, as_str(call_id))
            if found is None:
                continue
            hallucinated += 1
            point(t.hallucinated_tool_calls, 1, {**base, sc.TOOL_CALL_REASON: found.reason})
            event: dict[str, Any] = {sc.TOOL_NAME: found.name, sc.TOOL_CALL_REASON: found.reason}
            if found.call_id:
                event[sc.TOOL_CALL_ID] = found.call_id
            if found.detail:
                event[sc.TOOL_CALL_DETAIL] = found.detail
            self.span.add_event(sc.EVENT_HALLUCINATED_TOOL_CALL, event)
        attrs[sc.HALLUCINATED_TOOL_CALLS] = hallucinated

    def chunk(self) -> None:
        """Note that a stream chunk arrived now (for time to first chunk and per chunk)."""
        self._stamps.append(perf_counter())

    def chunk_stamper(self) -> Callable[[float], None]:
        """What `chunk()` does, for a stream's hot path: call it with `perf_counter()`."""
        return self._stamps.append

    @property
    def ended(self) -> bool:
        """True once `end()` ran."""
        return self._once.locked()

    def end(self, error: BaseException | None = None) -> None:
        """Finish the span and record the metrics; only the first call does anything."""
        if not self._once.acquire(blocking=False):
            return
        try:
            self._record(perf_counter() - self.started, error)
        except Exception as exc:
            self.telemetry.error(f"{self.provider}.{self.operation}.end", exc)
            try:
                self.span.end()
            except Exception:  # noqa: S110 - the span is already lost; never raise from here
                pass
        remember(self)  # the call a following record_quality() scores (quality/scores.py)

    def _record(self, duration: float, error: BaseException | None) -> None:
        t = self.telemetry
        point = t.points.record
        span = self.span
        base: dict[str, Any] = {sc.OPERATION_NAME: self.operation, sc.PROVIDER_NAME: self.provider}
        if self.request_model:
            base[sc.REQUEST_MODEL] = self.request_model
        if self.response_model:
            base[sc.RESPONSE_MODEL] = self.response_model
        if self.server_address:
            base[sc.SERVER_ADDRESS] = self.server_address
            if self.server_port:
                base[sc.SERVER_PORT] = self.server_port
        base = t.metric_attributes(base)

        attrs: dict[str, Any] = {}
        if self.response_model:
            attrs[sc.RESPONSE_MODEL] = self.response_model
        if self.response_id:
            attrs[sc.RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attrs[sc.RESPONSE_FINISH_REASONS] = tuple(self.finish_reasons)
        for key, value in (
            (sc.USAGE_INPUT_TOKENS, self.input_tokens),
            (sc.USAGE_OUTPUT_TOKENS, self.output_tokens),
            (sc.USAGE_CACHE_READ_INPUT_TOKENS, self.cache_read_tokens),
            (sc.USAGE_CACHE_CREATION_INPUT_TOKENS, self.cache_creation_tokens),
            (sc.USAGE_REASONING_OUTPUT_TOKENS, self.reasoning_tokens),
        ):
            if value is not None:
                attrs[key] = value
        if self.estimate_method:
            attrs[sc.USAGE_ESTIMATED] = True
            attrs[sc.USAGE_ESTIMATE_METHOD] = self.estimate_method
        if self.tool_calls:
            attrs[sc.TOOL_CALL_NAMES] = tuple(self.tool_calls)
        if error is None and self.answered:
            self._quality(attrs)
        if self.output_messages is not None:
            rendered = t.content.render(self.output_messages)
            if rendered is not None:
                attrs[sc.OUTPUT_MESSAGES] = rendered
        stamps = self._stamps
        if stamps:
            attrs[sc.RESPONSE_TIME_TO_FIRST_CHUNK] = stamps[0] - self.started

        model = self.response_model or self.request_model
        if model and (self.input_tokens is not None or self.output_tokens is not None):
            cost = t.prices.cost(
                self.provider,
                model,
                input_tokens=self.input_tokens or 0,
                output_tokens=self.output_tokens or 0,
                cached_input_tokens=self.cache_read_tokens or 0,
                cache_creation_input_tokens=self.cache_creation_tokens or 0,
                cache_creation_1h_input_tokens=self.cache_creation_1h_tokens or 0,
            )
            if cost is not None:
                attrs[sc.COST_USD] = cost
                point(t.cost, cost, base)

        if error is not None:
            kind = error_type(error)
            attrs[sc.ERROR_TYPE] = kind
            span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            point(t.duration, duration, {**base, sc.ERROR_TYPE: kind})
        else:
            point(t.duration, duration, base)
        span.set_attributes(attrs)

        token_attrs = {**base, sc.USAGE_ESTIMATED: True} if self.estimate_method else base
        if self.input_tokens is not None:
            point(t.tokens, self.input_tokens, {**token_attrs, sc.TOKEN_TYPE: sc.TOKEN_INPUT})
        if self.output_tokens is not None:
            point(t.tokens, self.output_tokens, {**token_attrs, sc.TOKEN_TYPE: sc.TOKEN_OUTPUT})
        if stamps:
            point(t.time_to_first_chunk, stamps[0] - self.started, base)
            gaps = [now - then for then, now in zip(stamps, stamps[1:], strict=False)]
            t.points.record_all(t.time_per_output_chunk, gaps, base)
        span.end()


def call_sync(
    telemetry: Telemetry,
    where: str,
    start: Callable[[], Invocation],
    call: Callable[[], Any],
    finish: Callable[[Invocation, Any], Any],
) -> Any:
    """Run `call()` inside an invocation; the caller gets exactly what `call()` gives.

    `start` opens the invocation from the request; `finish` takes the result and returns what
    the caller gets (the result itself, or a stream proxy that ends the invocation later).
    A failure in `start` or `finish` is counted and the plain result is returned.
    """
    try:
        inv = start()
    except Exception as exc:
        telemetry.error(where, exc)
        return call()
    # The span is current during the request, so an HTTP client's spans nest under it.
    token = context.attach(trace.set_span_in_context(inv.span))
    try:
        result = call()
    except BaseException as exc:
        inv.end(exc)
        raise
    finally:
        context.detach(token)
    try:
        return finish(inv, result)
    except Exception as exc:
        telemetry.error(where, exc)
        inv.end()
        return result


async def call_async(
    telemetry: Telemetry,
    where: str,
    start: Callable[[], Invocation],
    call: Callable[[], Any],
    finish: Callable[[Invocation, Any], Any],
) -> Any:
    """`call_sync` for coroutines: `call()` returns an awaitable."""
    try:
        inv = start()
    except Exception as exc:
        telemetry.error(where, exc)
        return await call()
    # The span is current during the request, so an HTTP client's spans nest under it.
    token = context.attach(trace.set_span_in_context(inv.span))
    try:
        result = await call()
    except BaseException as exc:
        inv.end(exc)
        raise
    finally:
        context.detach(token)
    try:
        return finish(inv, result)
    except Exception as exc:
        telemetry.error(where, exc)
        inv.end()
        return result
