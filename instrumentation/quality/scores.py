"""Evaluation scores of LLM calls: user feedback and evaluators, as events and time series.

`record_quality("helpfulness", 0.8)` attaches a score to an LLM call:

- the call: the span context given (`span_context=`, a `Span` or a `SpanContext`), else the
  last LLM call that ended in this context (each `Invocation.end` remembers its own in a
  `ContextVar`, so a score recorded right after a call is that call's, per thread and per asyncio
  task), else the current span;
- the event: the conventions' `gen_ai.evaluation.result`, through the OpenTelemetry Logs API,
  parented to the evaluated span (its trace and span ids), with `gen_ai.evaluation.name`,
  `.score.value`, `.score.label`, `.explanation` (cut at `MAX_EXPLANATION`) and
  `gen_ai.response.id`; and, while the evaluated span is still recording, a span event of the
  same name and attributes;
- the series: `agentwatch.llm.quality.score` (a histogram of numeric and boolean scores, 1 and 0
  for booleans) and `agentwatch.llm.evaluations` (a count by label), by evaluator, provider,
  request model and operation of the evaluated call.

It never raises: a bad argument is logged once and counted in `agentwatch.instrumentation.errors`.
"""

from __future__ import annotations

import math
from contextvars import ContextVar
from time import time_ns
from typing import Any, NamedTuple

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanContext

from agentwatch.instrumentation import semconv as sc

MAX_EXPLANATION = 1024
"""Characters of an explanation kept."""
WHERE = "quality.record"


class EvaluatedCall(NamedTuple):
    """What a score needs of the LLM call it evaluates (a tuple: one is made per LLM call)."""

    span_context: SpanContext
    response_id: str | None = None
    provider: str | None = None
    operation: str | None = None
    request_model: str | None = None
    span: Span | None = None
    """The span itself, when it may still be recording (a span event goes on it then)."""


_last_call: ContextVar[EvaluatedCall | None] = ContextVar("agentwatch.last_llm_call", default=None)


def remember(invocation: Any) -> None:
    """Note `invocation` (just ended) as this context's last LLM call; never raises."""
    try:
        _last_call.set(
            EvaluatedCall(
                invocation.span.get_span_context(),
                invocation.response_id,
                invocation.provider,
                invocation.operation,
                invocation.request_model,
            )
        )
    except Exception:  # noqa: S110 - a call that cannot be remembered is scored on the current span
        pass


def last_call() -> EvaluatedCall | None:
    """This context's last ended LLM call, if any."""
    return _last_call.get()


class BadScore(ValueError):
    """`record_quality` was given something it cannot record."""


def record_quality(
    name: str,
    score: float | bool | None = None,
    *,
    label: str | None = None,
    explanation: str | None = None,
    response_id: str | None = None,
    span_context: SpanContext | Span | None = None,
) -> None:
    """Attach the evaluation `name` (a score, a label or both) to an LLM call; never raises.

    `score` is a number (0 to 1 is what the histogram's buckets resolve) or a boolean (1 or 0);
    `label` a short class such as `"relevant"` or `"thumbs_down"` (counted by label, so keep the
    set small: past 100 distinct labels, new ones are counted as `_OTHER`). `response_id`
    overrides the evaluated call's `gen_ai.response.id`. See the module's docstring for which
    call is evaluated.
    """
    from agentwatch.instrumentation.agent.signals import active

    signals = active()
    try:
        value = _check(name, score, label, explanation)
        target = _target(span_context)
        _record(signals, target, name, value, label, explanation, response_id)
    except Exception as exc:
        signals.error(WHERE, exc)


def _check(name: Any, score: Any, label: Any, explanation: Any) -> float | None:
    if not isinstance(name, str) or not name:
        raise BadScore(f"the evaluation name must be a non-empty string, not {name!r}")
    if label is not None and (not isinstance(label, str) or not label):
        raise BadScore(f"{name}: the label must be a non-empty string, not {label!r}")
    if explanation is not None and not isinstance(explanation, str):
        raise BadScore(f"{name}: the explanation must be a string")
    if score is None:
        if label is None:
            raise BadScore(f"{name}: give a score, a label or both")
        return None
    if isinstance(score, bool):
        return 1.0 if score else 0.0
    if not isinstance(score, (int, float)) or not math.isfinite(score):
        raise BadScore(f"{name}: the score must be a finite number or a boolean, not {score!r}")
    return float(score)


def _target(given: SpanContext | Span | None) -> EvaluatedCall:
    last = _last_call.get()
    if given is None:
        if last is not None:
            return last
        return _from_span(trace.get_current_span())
    if isinstance(given, SpanContext):
        if last is not None and last.span_context == given:
            return last
        return EvaluatedCall(given)
    if isinstance(given, Span):
        if last is not None and last.span_context == given.get_span_context():
            return EvaluatedCall(
                last.span_context,
                last.response_id,
                last.provider,
                last.operation,
                last.request_model,
                given,
            )
        return _from_span(given)
    raise BadScore(f"span_context must be a Span or a SpanContext, not {type(given).__name__}")


def _from_span(span: Span) -> EvaluatedCall:
    """The call a span is, as far as its attributes say (an SDK span's; others say nothing)."""
    attrs = getattr(span, "attributes", None) or {}

    def text(key: str) -> str | None:
        value = attrs.get(key)
        return value if isinstance(value, str) else None

    return EvaluatedCall(
        span.get_span_context(),
        text(sc.RESPONSE_ID),
        text(sc.PROVIDER_NAME),
        text(sc.OPERATION_NAME),
        text(sc.REQUEST_MODEL),
        span,
    )


def _record(
    signals: Any,
    call: EvaluatedCall,
    name: str,
    value: float | None,
    label: str | None,
    explanation: str | None,
    response_id: str | None,
) -> None:
    event: dict[str, Any] = {sc.EVALUATION_NAME: name}
    if value is not None:
        event[sc.EVALUATION_SCORE_VALUE] = value
    if label is not None:
        event[sc.EVALUATION_SCORE_LABEL] = label
    if explanation:
        cut = explanation if len(explanation) <= MAX_EXPLANATION else explanation[:MAX_EXPLANATION]
        event[sc.EVALUATION_EXPLANATION] = cut
    response_id = response_id or call.response_id
    if response_id:
        event[sc.RESPONSE_ID] = response_id

    span = call.span
    if span is not None and span.is_recording():
        span.add_event(sc.EVENT_EVALUATION_RESULT, event)

    attrs: dict[str, Any] = {sc.EVALUATION_NAME: signals.evaluators.get(name)}
    if call.operation:
        attrs[sc.OPERATION_NAME] = call.operation
    if call.provider:
        attrs[sc.PROVIDER_NAME] = call.provider
    if call.request_model:
        attrs[sc.REQUEST_MODEL] = signals.telemetry.models.get(call.request_model)
    # A negative score has no bucket (the SDK drops negative histogram values): the event has it.
    if value is not None and value >= 0:
        signals.quality_score.record(value, attrs)
    if label is not None:
        attrs[sc.EVALUATION_SCORE_LABEL] = signals.labels.get(label)
    signals.evaluations.add(1, attrs)
    # Last: the Logs API's LogRecord takes `context` and `event_name` from opentelemetry-api
    # 1.35; on an older one this fails (counted) after the span event and the series.
    _emit(signals, call.span_context, event)


def _emit(signals: Any, span_context: SpanContext, attributes: dict[str, Any]) -> None:
    """The `gen_ai.evaluation.result` log event, parented to the evaluated span."""
    from opentelemetry._logs import LogRecord

    now = time_ns()
    context = None
    if span_context.is_valid:
        context = trace.set_span_in_context(NonRecordingSpan(span_context))
    record = LogRecord(
        timestamp=now,
        observed_timestamp=now,
        context=context,
        event_name=sc.EVENT_EVALUATION_RESULT,
        attributes=attributes,
    )
    signals.logger.emit(record)
