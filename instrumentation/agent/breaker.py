"""Circuit breakers (`pybreaker`): their state as a gauge, their transitions and calls counted.

A listener of pybreaker's own `CircuitBreakerListener` protocol is added to each watched
breaker: `state_change` keeps the breaker's state for the gauge
`agentwatch.agent.circuit_breaker.state` (0 closed, 1 half-open, 2 open; read at collection
from what the listener last saw, so a collection never touches a breaker's storage, which may be
Redis) and counts `agentwatch.agent.circuit_breaker.transitions` by the state entered, with a
span event on the current span; `success` and `failure` count
`agentwatch.agent.circuit_breaker.calls` by outcome.

`agentwatch.instrument()` watches every breaker created after it (it wraps
`pybreaker.CircuitBreaker.__init__`); `watch_breaker(breaker)` watches one made before. Breakers
are held weakly: a breaker that is garbage-collected leaves the gauge. Breakers sharing a name
share a series (the last one observed wins). The breaker's behaviour is pybreaker's: the
listener only reads, and what it does is guarded.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.metrics import Meter, Observation

from agentwatch import names
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.components import observe_gauge

if TYPE_CHECKING:
    from agentwatch.instrumentation.agent.signals import Signals

CLOSED, HALF_OPEN, OPEN = "closed", "half-open", "open"
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}
"""pybreaker's state names and the gauge's values."""
UNNAMED = "unnamed"
SUCCESS, FAILURE = "success", "failure"


def breaker_name(breaker: Any) -> str:
    """The breaker's `name`, or `unnamed`."""
    name = getattr(breaker, "name", None)
    return name if isinstance(name, str) and name else UNNAMED


class Listener:
    """A pybreaker listener that records into `Signals` (duck-typed: pybreaker needs no base)."""

    def __init__(self, signals: Signals) -> None:
        self.signals = signals

    def before_call(self, cb: Any, func: Any, *args: Any, **kwargs: Any) -> None:
        pass

    def success(self, cb: Any) -> None:
        self._call(cb, SUCCESS)

    def failure(self, cb: Any, exc: BaseException) -> None:
        self._call(cb, FAILURE)

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        try:
            new = getattr(new_state, "name", None)
            old = getattr(old_state, "name", None)
            if not isinstance(new, str):
                return
            signals = self.signals
            signals.breakers.seen(cb, new)
            name = signals.breaker_names.get(breaker_name(cb))
            signals.breaker_transitions.add(1, {sc.BREAKER_NAME: name, sc.BREAKER_STATE: new})
            span = trace.get_current_span()
            if span.is_recording():
                event = {sc.BREAKER_NAME: breaker_name(cb), sc.BREAKER_STATE: new}
                if isinstance(old, str):
                    event[sc.BREAKER_PREVIOUS_STATE] = old
                span.add_event(sc.EVENT_BREAKER_STATE_CHANGE, event)
        except Exception as exc:
            self.signals.error("circuit_breaker.state_change", exc)

    def _call(self, cb: Any, outcome: str) -> None:
        try:
            name = self.signals.breaker_names.get(breaker_name(cb))
            self.signals.breaker_calls.add(1, {sc.BREAKER_NAME: name, sc.BREAKER_OUTCOME: outcome})
        except Exception as exc:
            self.signals.error("circuit_breaker.call", exc)


class BreakerStates:
    """The watched breakers and their last seen states, observed as the state gauge."""

    def __init__(self, signals: Signals, meter: Meter) -> None:
        self._signals = signals
        self._states: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self.listener = Listener(signals)
        observe_gauge(meter, names.AGENT_BREAKER_STATE, self._observe)

    def watch(self, breaker: Any) -> None:
        """Add the listener to `breaker` (once) and note its state now; never raises."""
        try:
            listeners = tuple(getattr(breaker, "listeners", ()))
            if self.listener not in listeners:
                breaker.add_listener(self.listener)
            self.seen(breaker, breaker.current_state)
        except Exception as exc:
            self._signals.error("circuit_breaker.watch", exc)

    def unwatch_all(self) -> None:
        """Remove the listener from every watched breaker, and forget them."""
        with self._lock:
            breakers = list(self._states.keys())
            self._states.clear()
        for breaker in breakers:
            try:
                breaker.remove_listener(self.listener)
            except Exception as exc:  # noqa: BLE001 - undo the others regardless
                self._signals.error("circuit_breaker.unwatch", exc)

    def seen(self, breaker: Any, state: Any) -> None:
        """The breaker is now in `state` (a pybreaker state name)."""
        if isinstance(state, str) and state in STATE_VALUES:
            with self._lock:
                self._states[breaker] = state

    def state(self, breaker: Any) -> str | None:
        """The last state seen of a watched breaker."""
        with self._lock:
            return self._states.get(breaker)

    def _observe(self) -> Iterable[Observation]:
        with self._lock:
            states = list(self._states.items())
        names_ = self._signals.breaker_names
        return [
            Observation(STATE_VALUES[state], {sc.BREAKER_NAME: names_.get(breaker_name(b))})
            for b, state in states
        ]


def watch_breaker(breaker: Any) -> Any:
    """Watch an existing `pybreaker.CircuitBreaker`: its state, transitions and calls recorded.

    Returns the breaker, so `breaker = watch_breaker(CircuitBreaker(...))` reads well. Breakers
    created after `agentwatch.instrument()` are watched already; watching twice adds nothing.
    """
    from agentwatch.instrumentation.agent.signals import active

    active().breakers.watch(breaker)
    return breaker


_patched: list[Any] = []
_patch_lock = threading.Lock()


def instrument_pybreaker() -> bool:
    """Watch every breaker created from now on; False (and nothing done) without pybreaker."""
    import wrapt

    from agentwatch.instrumentation.setup import installed

    if not installed("pybreaker"):
        return False
    import pybreaker

    def init(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        try:
            watch_breaker(instance)
        except Exception:  # noqa: S110 - watch() reports its own errors; never break __init__
            pass

    with _patch_lock:
        if not _patched:
            wrapt.wrap_function_wrapper(pybreaker.CircuitBreaker, "__init__", init)
            _patched.append(pybreaker.CircuitBreaker)
    return True


def uninstrument_pybreaker() -> None:
    """Undo `instrument_pybreaker` (breakers already watched are unwatched by the caller)."""
    with _patch_lock:
        while _patched:
            cls = _patched.pop()
            init = vars(cls).get("__init__")
            original = getattr(init, "__wrapped__", None)
            if original is not None:
                cls.__init__ = original
