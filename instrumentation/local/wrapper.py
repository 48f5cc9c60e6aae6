"""`traced_local`: `wrappers.traced` for local libraries, whose requests are positional too.

The hosted SDKs take keyword arguments only, so `wrappers.traced` hands `start` the keyword
arguments; `LLM.generate(prompts, params)` and `Llama.create_completion(prompt, ...)` are
called positionally, so here `start` gets the instance, the positional and the keyword
arguments. The rest is `wrappers.traced`: a call inside a traced call of the same library is
not traced again, and the library's result or exception reaches the caller unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from agentwatch.instrumentation.base import Wrapper
from agentwatch.instrumentation.invocation import Invocation, call_sync
from agentwatch.instrumentation.telemetry import Telemetry
from agentwatch.instrumentation.wrappers import Finish, Marker

LocalStart = Callable[[Any, tuple[Any, ...], Mapping[str, Any]], Invocation]
"""(instance, positional arguments, keyword arguments) -> the invocation."""


def traced_local(
    telemetry: Telemetry, where: str, marker: Marker, start: LocalStart, finish: Finish
) -> Wrapper:
    """A wrapper for a synchronous method: one invocation per outermost call."""

    def wrapper(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if marker.inside():
            return wrapped(*args, **kwargs)

        def begin() -> Invocation:
            return start(instance, args, kwargs)

        def call() -> Any:
            return marker.run(lambda: wrapped(*args, **kwargs))

        return call_sync(telemetry, where, begin, call, finish)

    return wrapper


def argument(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    """The argument `name`, passed at position `index` or by keyword; None when not passed."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name)
