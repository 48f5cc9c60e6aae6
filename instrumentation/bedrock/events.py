"""The streams Bedrock returns: botocore `EventStream`s, seen event by event.

An `EventStream` is iterable (each `for` resumes its one event generator) but is no
iterator, so the per-chunk proxy of `streams.SyncStream` gets an adaptor with `__next__`
in between. To the caller it is still the SDK's `EventStream` (`isinstance` holds, `close()`
and every other attribute are its own), and the invocation ends when the events run out,
the stream fails (an exception event raises `EventStreamError`), is closed or is dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import wrapt

from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.streams import OnChunk, SyncStream


class _Events(wrapt.ObjectProxy[Any]):
    """An `EventStream` that is its own iterator (over its one event generator)."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_events: Iterator[Any] | None = None

    def __next__(self) -> Any:
        if self._self_events is None:
            self._self_events = iter(self.__wrapped__)
        return next(self._self_events)


def observed(stream: Any, invocation: Invocation, on_event: OnChunk) -> Any:
    """`stream` behind a proxy whose events go through `on_event`."""
    return SyncStream(_Events(stream), invocation, on_event)
