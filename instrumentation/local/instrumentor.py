"""`LocalInstrumentor`: a `ClientInstrumentor` whose wrappers also get the process's `GpuMemory`.

`instrument(telemetry=..., gpu_memory=GpuMemory(...))` measures with the one given (tests,
a custom sample rate); without it, the process's shared one (`memory.shared()`). Subclasses
list their targets in `local_targets(gpu_memory)` with factories of (telemetry, gpu_memory).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from agentwatch.instrumentation.base import ClientInstrumentor, Target, Wrapper
from agentwatch.instrumentation.local.memory import GpuMemory, shared
from agentwatch.instrumentation.telemetry import Telemetry

LocalFactory = Callable[[Telemetry, GpuMemory], Wrapper]
LocalTarget = tuple[str, str, LocalFactory]
"""(module, "Class.method", factory taking the telemetry and the GPU memory monitor)."""


def _bind(factory: LocalFactory, gpu_memory: GpuMemory) -> Callable[[Telemetry], Wrapper]:
    def bound(telemetry: Telemetry) -> Wrapper:
        return factory(telemetry, gpu_memory)

    return bound


class LocalInstrumentor(ClientInstrumentor):
    """Instruments an in-process inference library; `instrument(gpu_memory=...)` optional."""

    _gpu_memory: GpuMemory | None = None

    def local_targets(self) -> Iterator[LocalTarget]:
        """The methods to wrap, with factories that take the GPU memory monitor too."""
        raise NotImplementedError

    def targets(self) -> Iterator[Target]:
        """`local_targets()` bound to this instrumentation's `GpuMemory`."""
        gpu_memory = self._gpu_memory if self._gpu_memory is not None else shared()
        for module, path, factory in self.local_targets():
            yield module, path, _bind(factory, gpu_memory)

    def _instrument(self, **kwargs: Any) -> None:
        given = kwargs.get("gpu_memory")
        self._gpu_memory = given if isinstance(given, GpuMemory) else None
        super()._instrument(**kwargs)
