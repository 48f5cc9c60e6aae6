"""agentwatch: observability for AI agents and LLM services in production.

`agentwatch.instrument()` instruments every installed LLM client (see
`agentwatch.instrumentation.setup`); `agentwatch exporter` serves GPU metrics. Importing this
package imports neither OpenTelemetry nor any SDK: the names below load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = [
    "__version__",
    "afallback",
    "fallback",
    "instrument",
    "record_quality",
    "uninstrument",
    "watch_breaker",
]

if TYPE_CHECKING:
    from agentwatch.instrumentation.agent.breaker import watch_breaker
    from agentwatch.instrumentation.agent.fallback import afallback, fallback
    from agentwatch.instrumentation.quality.scores import record_quality
    from agentwatch.instrumentation.setup import instrument, uninstrument


def __getattr__(name: str) -> Any:
    if name in ("instrument", "uninstrument"):
        from agentwatch.instrumentation import setup

        return getattr(setup, name)
    if name == "record_quality":
        from agentwatch.instrumentation.quality import scores

        return scores.record_quality
    if name in ("fallback", "afallback"):
        from agentwatch.instrumentation.agent.fallback import afallback, fallback

        return fallback if name == "fallback" else afallback
    if name == "watch_breaker":
        from agentwatch.instrumentation.agent import breaker

        return breaker.watch_breaker
    raise AttributeError(f"module 'agentwatch' has no attribute {name!r}")
