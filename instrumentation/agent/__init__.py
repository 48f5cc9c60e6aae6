"""Agent resilience signals: retries (`tenacity`), circuit breakers (`pybreaker`), fallbacks.

`install(signals)` (called by `agentwatch.instrument()`) makes `signals` the active ones and
instruments the libraries that are installed; a library that is not installed is never
imported. `uninstall()` undoes it. `fallback`, `afallback` and `watch_breaker` work with or
without `install` (see `signals.active`).
"""

from __future__ import annotations

from agentwatch.instrumentation.agent.breaker import watch_breaker
from agentwatch.instrumentation.agent.fallback import FallbackRejected, afallback, fallback
from agentwatch.instrumentation.agent.signals import Signals, activate, active

__all__ = [
    "FallbackRejected",
    "Signals",
    "active",
    "afallback",
    "fallback",
    "install",
    "uninstall",
    "watch_breaker",
]


def install(signals: Signals) -> list[str]:
    """Activate `signals` and instrument tenacity and pybreaker where installed; what was."""
    from agentwatch.instrumentation.agent.breaker import instrument_pybreaker
    from agentwatch.instrumentation.agent.tenacity import instrument_tenacity

    activate(signals)
    done = []
    for library, instrument in (
        ("tenacity", instrument_tenacity),
        ("pybreaker", instrument_pybreaker),
    ):
        try:
            if instrument():
                done.append(library)
        except Exception as exc:  # a broken instrumentation must not break the program
            signals.error(f"{library}.instrument", exc)
    return done


def uninstall() -> None:
    """Restore tenacity and pybreaker, unwatch the breakers, and deactivate the signals."""
    from agentwatch.instrumentation.agent.breaker import uninstrument_pybreaker
    from agentwatch.instrumentation.agent.tenacity import uninstrument_tenacity

    uninstrument_tenacity()
    uninstrument_pybreaker()
    old = activate(None)
    if old is not None:
        old.breakers.unwatch_all()
