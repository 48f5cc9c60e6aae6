"""`GpuMemory`: the sampled before/after readings of local inferences, one per process.

A `LocalInvocation` asks `before(model)` at its start: None when the call is not sampled (or
nothing can be read: no GPU), else a `Reading` that also says whether NVML was read, so the
`after()` reading at its end reads the very same sources. GPU memory belongs to the process,
so one `GpuMemory` serves every local instrumentor (`shared()`); tests pass their own to
`instrument(gpu_memory=...)`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from agentwatch.instrumentation.local.probe import MemoryProbe, Probe
from agentwatch.instrumentation.local.sampling import Sampler, TokenBucket


@dataclass(frozen=True)
class Reading:
    """The "before" of one measured call."""

    values: dict[str, int]
    nvml: bool
    """NVML was read (a token was spent): the "after" reads it too."""


class GpuMemory:
    """Sampling, NVML rate limit and the probe, together."""

    def __init__(
        self,
        probe: Probe | None = None,
        sampler: Sampler | None = None,
        nvml_budget: TokenBucket | None = None,
    ) -> None:
        self.probe: Probe = probe if probe is not None else MemoryProbe()
        self.sampler = sampler if sampler is not None else Sampler()
        self.nvml_budget = nvml_budget if nvml_budget is not None else TokenBucket()

    def before(self, model: str | None) -> Reading | None:
        """The reading at a call's start, or None when this call is not measured."""
        if not self.sampler.sampled(model):
            return None
        nvml = self.nvml_budget.take()
        values = self.probe.read(nvml=nvml)
        if not values:
            return None
        return Reading(values, nvml="nvml" in values)

    def after(self, before: Reading) -> dict[str, int]:
        """The reading at the end of a call whose start read `before`."""
        return self.probe.read(nvml=before.nvml)


_shared: GpuMemory | None = None
_lock = threading.Lock()


def shared() -> GpuMemory:
    """The process's `GpuMemory`, built on first use (nothing touches NVML until a call)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = GpuMemory()
        return _shared
