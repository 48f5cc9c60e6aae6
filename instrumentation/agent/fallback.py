"""`fallback`: "AI first, rules next, a human last", recording which path served each request.

    answer = agentwatch.fallback(
        [("llm", ask_model), ("rules", rule_engine)], question, human=open_ticket
    )

Each path is called in order with the same arguments until one returns; the caller gets what
that path returns. A path that raises one of `on` (`Exception` by default; never
`KeyboardInterrupt` or a cancellation) or whose result `accept` rejects hands over to the next.
When every path failed, `human` (if given) is called the same way: an escalation. With no
`human`, the last path's exception is raised as it is (`FallbackRejected` when the last path's
result was rejected).

Recorded: `agentwatch.agent.fallbacks` by chain `name`, `path` and `outcome` (`served`,
`failed`, `rejected`; the human is the path `human`), `agentwatch.agent.escalations` by chain,
and on the current span an event `agentwatch.fallback` per path tried (with `error.type` for a
failure) and `agentwatch.fallback.escalated`. `afallback` is the same for coroutines: a path may
be `async` or not. Recording never raises into the caller.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

from opentelemetry import trace

from agentwatch.instrumentation import semconv as sc

T = TypeVar("T")

SERVED, FAILED, REJECTED = "served", "failed", "rejected"
HUMAN = "human"
DEFAULT_NAME = "default"
WHERE = "fallback"

Path = tuple[str, Callable[..., Any]]


class FallbackRejected(Exception):
    """Every path returned a result `accept` rejected, and no human was given."""

    def __init__(self, name: str, result: Any) -> None:
        super().__init__(f"fallback {name!r}: no path's result was accepted")
        self.result = result
        """The last path's (rejected) result."""


def _check(paths: Sequence[Path]) -> None:
    if not paths:
        raise ValueError("fallback needs at least one path")
    for path in paths:
        if not (
            isinstance(path, tuple)
            and len(path) == 2
            and isinstance(path[0], str)
            and path[0]
            and callable(path[1])
        ):
            raise ValueError(f"a fallback path is a (name, callable) pair, not {path!r}")


class _Recorder:
    """Records one request's paths; guarded, never raises."""

    def __init__(self, name: str) -> None:
        from agentwatch.instrumentation.agent.signals import active

        self.signals = active()
        self.name = name

    def tried(self, path: str, outcome: str, error: BaseException | None = None) -> None:
        try:
            signals = self.signals
            chain = signals.paths.get(self.name)
            attrs = {
                sc.FALLBACK_NAME: chain,
                sc.FALLBACK_PATH: signals.paths.get(path),
                sc.FALLBACK_OUTCOME: outcome,
            }
            signals.fallbacks.add(1, attrs)
            span = trace.get_current_span()
            if span.is_recording():
                event: dict[str, Any] = {
                    sc.FALLBACK_NAME: self.name,
                    sc.FALLBACK_PATH: path,
                    sc.FALLBACK_OUTCOME: outcome,
                }
                if error is not None:
                    event[sc.ERROR_TYPE] = type(error).__qualname__
                span.add_event(sc.EVENT_FALLBACK, event)
        except Exception as exc:
            self.signals.error(WHERE, exc)

    def escalated(self) -> None:
        try:
            signals = self.signals
            signals.escalations.add(1, {sc.FALLBACK_NAME: signals.paths.get(self.name)})
            span = trace.get_current_span()
            if span.is_recording():
                span.add_event(sc.EVENT_ESCALATION, {sc.FALLBACK_NAME: self.name})
        except Exception as exc:
            self.signals.error(WHERE, exc)


def fallback(
    paths: Sequence[Path],
    *args: Any,
    human: Callable[..., Any] | None = None,
    accept: Callable[[Any], bool] | None = None,
    on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    name: str = DEFAULT_NAME,
    **kwargs: Any,
) -> Any:
    """Call each of `paths` with `*args, **kwargs` until one serves; see the module docstring.

    `human`, `accept`, `on` and `name` are this function's own: they are not passed on.
    """
    _check(paths)
    record = _Recorder(name)
    last_error: BaseException | None = None
    rejected: list[Any] = []
    for path, call in paths:
        try:
            result = call(*args, **kwargs)
        except on as exc:
            record.tried(path, FAILED, exc)
            last_error, rejected = exc, []
            continue
        if accept is not None and not accept(result):
            record.tried(path, REJECTED)
            last_error, rejected = None, [result]
            continue
        record.tried(path, SERVED)
        return result
    if human is None:
        _give_up(name, last_error, rejected)
    record.escalated()
    try:
        result = human(*args, **kwargs)
    except BaseException as exc:
        record.tried(HUMAN, FAILED, exc)
        raise
    record.tried(HUMAN, SERVED)
    return result


async def afallback(
    paths: Sequence[Path],
    *args: Any,
    human: Callable[..., Any] | None = None,
    accept: Callable[[Any], bool] | None = None,
    on: type[BaseException] | tuple[type[BaseException], ...] = Exception,
    name: str = DEFAULT_NAME,
    **kwargs: Any,
) -> Any:
    """`fallback` for coroutines: each path (and `human`) may be `async` or not."""
    _check(paths)
    record = _Recorder(name)
    last_error: BaseException | None = None
    rejected: list[Any] = []
    for path, call in paths:
        try:
            result = await _maybe_await(call(*args, **kwargs))
        except on as exc:
            record.tried(path, FAILED, exc)
            last_error, rejected = exc, []
            continue
        if accept is not None and not accept(result):
            record.tried(path, REJECTED)
            last_error, rejected = None, [result]
            continue
        record.tried(path, SERVED)
        return result
    if human is None:
        _give_up(name, last_error, rejected)
    record.escalated()
    try:
        result = await _maybe_await(human(*args, **kwargs))
    except BaseException as exc:
        record.tried(HUMAN, FAILED, exc)
        raise
    record.tried(HUMAN, SERVED)
    return result


async def _maybe_await(value: Any) -> Any:
    if inspect.isawaitable(value):
        return await value
    return value


def _give_up(name: str, error: BaseException | None, rejected: list[Any]) -> NoReturn:
    if error is not None:
        raise error
    raise FallbackRejected(name, rejected[0] if rejected else None)
