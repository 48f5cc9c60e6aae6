"""Calls made through a gateway (LiteLLM) are traced once, by the gateway's instrumentation.

A gateway call may reach an SDK agentwatch also instruments (LiteLLM's OpenAI route, a custom
provider calling the `openai` or `anthropic` SDK). The gateway's wrapper runs the call with
`run`/`run_async`, which marks it as traced for every client instrumentation loaded in this
process: their wrappers then pass the inner call through, and the Anthropic SDK's own span is
quieted as inside any traced call. Only modules already imported are marked (a client module
that is not loaded instruments nothing), so this costs a few dictionary reads per call.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from agentwatch.instrumentation.wrappers import Marker

T = TypeVar("T")

GATEWAY = Marker("agentwatch.gateway.call")
"""Set while a gateway call is traced (for wrappers that check it; see `inside`)."""
inside = GATEWAY.inside

CLIENT_MARKERS = (
    ("agentwatch.instrumentation.openai.patch", "MARKER"),
    ("agentwatch.instrumentation.anthropic.dedup", "MARKER"),
)
"""(module, attribute) of the per-client markers a gateway call sets, when loaded."""


def _markers() -> list[Marker]:
    found = [GATEWAY]
    for module_name, attribute in CLIENT_MARKERS:
        marker = getattr(sys.modules.get(module_name), attribute, None)
        if isinstance(marker, Marker):
            found.append(marker)
    return found


def run(call: Callable[[], T]) -> T:
    """Run `call()` as a traced gateway call."""
    for marker in _markers():
        call = functools.partial(marker.run, call)
    return call()


async def run_async(call: Callable[[], Awaitable[T]]) -> T:
    """`run` for a coroutine function."""
    for marker in _markers():
        call = functools.partial(marker.run_async, call)
    return await call()
