"""agentwatch: observability for AI agents and LLM services in production.

`agentwatch.instrument()` instruments every installed LLM client (see
`agentwatch.instrumentation.setup`); `agentwatch exporter` serves GPU metrics. Importing this
package imports neither OpenTelemetry nor any SDK: the names below load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["__version__", "instrument", "uninstrument"]

if TYPE_CHECKING:
    from agentwatch.instrumentation.setup import instrument, uninstrument


def __getattr__(name: str) -> Any:
    if name in ("instrument", "uninstrument"):
        from agentwatch.instrumentation import setup

        return getattr(setup, name)
    raise AttributeError(f"module 'agentwatch' has no attribute {name!r}")
