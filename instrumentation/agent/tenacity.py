"""Retries (`tenacity`): each retry and each wait a span event, and counted, behaviour unchanged.

tenacity decides every step of a retried call in one method, `iter(retry_state)`, shared by
`Retrying` (decorator and `Retrying()(fn)`), the `for attempt in Retrying()` form and, as the
coroutine `AsyncRetrying.iter`, the asyncio forms. Its answer says what happens next: `DoAttempt`
(another attempt), `DoSleep` (a wait, after an attempt to be retried) or the call's end (the
result; or it raises: the error it does not retry, or `RetryError` / the last error once the
stop condition says stop). agentwatch wraps `iter` and reads that answer after tenacity gave it:
the same calls, sleeps, results and exceptions, in the same order, with and without it.

Recorded, on the current span and in `agentwatch.agent.retries` / `agentwatch.agent.retry.wait`
by `agentwatch.retry.function` (the retrying's `name`, else the wrapped function's module and
qualified name, else `unknown`; bounded):

- `agentwatch.retry.wait` (event): the attempt that failed, the seconds to wait, its error type;
  the wait counted;
- `agentwatch.retry.attempt` (event): an attempt after the first begins;
- each attempt after the first counted by `agentwatch.retry.outcome` once it ended: `success`,
  `retried` (another attempt followed), `exhausted` (the stop condition ended the call) or
  `failure` (it raised an error that is not retried);
- `agentwatch.retry.gave_up` (event): the stop condition ended the call.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from opentelemetry import trace

from agentwatch.instrumentation import semconv as sc

if TYPE_CHECKING:
    from agentwatch.instrumentation.agent.signals import Signals

SUCCESS, RETRIED, EXHAUSTED, FAILURE = "success", "retried", "exhausted", "failure"
UNKNOWN = "unknown"
WHERE = "tenacity.iter"


def function_name(retrying: Any, state: Any) -> str:
    """What names a retried call: the retrying's `name`, the function's, or `unknown`."""
    name = getattr(retrying, "_name", None)
    if isinstance(name, str) and name:
        return name
    fn = getattr(state, "fn", None)
    qualname = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if isinstance(qualname, str) and qualname:
        module = getattr(fn, "__module__", None)
        return f"{module}.{qualname}" if isinstance(module, str) and module else qualname
    return UNKNOWN


def _gave_up(retrying: Any) -> bool:
    """True when tenacity's stop condition ended the call (its `iter_state`, tenacity >= 8.3)."""
    return bool(getattr(getattr(retrying, "iter_state", None), "stop_run_result", False))


def _error_type(state: Any) -> str | None:
    outcome = getattr(state, "outcome", None)
    if outcome is None or not outcome.failed:
        return None
    return type(outcome.exception()).__qualname__


class RetryObserver:
    """Reads tenacity's decisions into `Signals`; every method guarded, none raises."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        from tenacity import DoAttempt, DoSleep

        self._attempt: type = DoAttempt
        self._sleep: type = DoSleep

    def decided(self, retrying: Any, state: Any, action: Any) -> None:
        """`iter` answered `action`."""
        try:
            if isinstance(action, self._attempt):
                number = state.attempt_number
                if number > 1:
                    _event(sc.EVENT_RETRY_ATTEMPT, {sc.RETRY_ATTEMPT: number})
            elif isinstance(action, self._sleep):
                seconds: Any = action  # a DoSleep: a float
                self._wait(retrying, state, float(seconds))
            else:
                self._ended(retrying, state, SUCCESS)
        except Exception as exc:
            self.signals.error(WHERE, exc)

    def raised(self, retrying: Any, state: Any) -> None:
        """`iter` raised: the call ends with an error."""
        try:
            self._ended(retrying, state, FAILURE)
        except Exception as exc:
            self.signals.error(WHERE, exc)

    def _wait(self, retrying: Any, state: Any, seconds: float) -> None:
        signals = self.signals
        function = signals.functions.get(function_name(retrying, state))
        number = state.attempt_number
        if number > 1:
            signals.retries.add(1, {sc.RETRY_FUNCTION: function, sc.RETRY_OUTCOME: RETRIED})
        if seconds >= 0:
            signals.retry_wait.add(seconds, {sc.RETRY_FUNCTION: function})
        event: dict[str, Any] = {sc.RETRY_ATTEMPT: number, sc.RETRY_WAIT: seconds}
        kind = _error_type(state)
        if kind is not None:
            event[sc.ERROR_TYPE] = kind
        _event(sc.EVENT_RETRY_WAIT, event)

    def _ended(self, retrying: Any, state: Any, outcome: str) -> None:
        if getattr(state, "outcome", None) is None:
            return  # nothing was attempted (a `before` callback failed)
        gave_up = _gave_up(retrying)
        number = state.attempt_number
        if number > 1:
            function = self.signals.functions.get(function_name(retrying, state))
            kind = EXHAUSTED if gave_up else outcome
            self.signals.retries.add(1, {sc.RETRY_FUNCTION: function, sc.RETRY_OUTCOME: kind})
        if gave_up:
            event: dict[str, Any] = {sc.RETRY_ATTEMPT: number}
            kind_ = _error_type(state)
            if kind_ is not None:
                event[sc.ERROR_TYPE] = kind_
            _event(sc.EVENT_RETRY_GAVE_UP, event)


def _event(name: str, attributes: dict[str, Any]) -> None:
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(name, attributes)


def _state_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return kwargs["retry_state"] if "retry_state" in kwargs else args[0] if args else None


_lock = threading.Lock()
_patched: list[tuple[type, Any]] = []
"""(class, its own `iter` before patching), to restore."""


def instrument_tenacity() -> bool:
    """Wrap tenacity's `iter` (sync and asyncio); False (and nothing done) without tenacity."""
    from agentwatch.instrumentation.setup import installed

    if not installed("tenacity"):
        return False
    import tenacity
    import wrapt
    from tenacity.asyncio import AsyncRetrying

    def sync_iter(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        observer = _observer()
        try:
            action = wrapped(*args, **kwargs)
        except BaseException:
            if observer is not None:
                observer.raised(instance, _state_of(args, kwargs))
            raise
        if observer is not None:
            observer.decided(instance, _state_of(args, kwargs), action)
        return action

    async def async_iter(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        observer = _observer()
        try:
            action = await wrapped(*args, **kwargs)
        except BaseException:
            if observer is not None:
                observer.raised(instance, _state_of(args, kwargs))
            raise
        if observer is not None:
            observer.decided(instance, _state_of(args, kwargs), action)
        return action

    with _lock:
        if _patched:
            return True
        for cls, wrapper in ((tenacity.BaseRetrying, sync_iter), (AsyncRetrying, async_iter)):
            _patched.append((cls, vars(cls)["iter"]))
            wrapt.wrap_function_wrapper(cls, "iter", wrapper)
    return True


def uninstrument_tenacity() -> None:
    """Restore tenacity's own `iter` methods."""
    with _lock:
        while _patched:
            cls, original = _patched.pop()
            cls.iter = original  # type: ignore[attr-defined]


_observers: dict[int, RetryObserver] = {}


def _observer() -> RetryObserver | None:
    """The observer of the active signals (built once per `Signals`); None if that fails."""
    try:
        from agentwatch.instrumentation.agent.signals import active

        signals = active()
        observer = _observers.get(id(signals))
        if observer is None or observer.signals is not signals:
            observer = RetryObserver(signals)
            _observers.clear()
            _observers[id(signals)] = observer
        return observer
    except Exception:  # noqa: BLE001 - without an observer the retry runs unobserved
        return None
