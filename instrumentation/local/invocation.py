"""`LocalInvocation`: an `Invocation` that also measures what the call did to GPU memory.

Its "before" reading is taken when it opens (just before the model runs), its "after" when it
ends (after the result was read, or when a stream ends), once, inside `Invocation.end()`. For
each source read both times it records, in bytes:

- span attributes `agentwatch.gpu.memory.<source>.before`, `.after` and `.delta` (signed);
- a point of `agentwatch.gpu.memory.delta` (`telemetry.gpu_memory_delta`) with the
  operation, provider, request model and `agentwatch.gpu.memory.source`. The histogram holds
  what a call left behind: memory freed is recorded as 0 (the OpenTelemetry SDK drops negative
  histogram values), the span keeps the signed delta.

Reading the sources together tells an allocator cache from a leak:

- `torch_reserved` grows while `torch_allocated` stays flat: the caching allocator kept blocks
  for reuse (the first calls at a new sequence length do this, then it levels off): a cache,
  given back by `torch.cuda.empty_cache()`, not a leak;
- `torch_allocated` grows call after call: live tensors are being kept (a growing list of
  outputs, a KV cache held past the call, a graph kept by `requires_grad`): a leak;
- `nvml` grows with both torch figures flat: memory outside torch's allocator (another
  framework, cuBLAS workspaces, a CUDA context on a new device, a native library's leak).

Known limits: the figures are the process's, so calls running at the same time in other
threads are part of each other's deltas; a call that is not sampled records none of this.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.local.memory import GpuMemory, Reading
from agentwatch.instrumentation.local.probe import SOURCES
from agentwatch.instrumentation.telemetry import Telemetry

ATTRIBUTE_PREFIX = "agentwatch.gpu.memory"
"""Span attributes `agentwatch.gpu.memory.<source>.before|after|delta`."""
_KEYS = {
    source: tuple(f"{ATTRIBUTE_PREFIX}.{source}.{part}" for part in ("before", "after", "delta"))
    for source in SOURCES
}


def memory_attribute(source: str, part: str) -> str:
    """The span attribute of `source` ("nvml", ...) and `part` ("before", "after", "delta")."""
    return f"{ATTRIBUTE_PREFIX}.{source}.{part}"


class LocalInvocation(Invocation):
    """One local inference: the GenAI span and metrics, and the GPU memory it used."""

    __slots__ = ("gpu_memory", "memory_before")

    def __init__(
        self,
        telemetry: Telemetry,
        operation: str,
        provider: str,
        request_model: str | None,
        gpu_memory: GpuMemory,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(telemetry, operation, provider, request_model, attributes)
        self.gpu_memory = gpu_memory
        self.memory_before: Reading | None = None
        try:
            self.memory_before = gpu_memory.before(request_model)
        except Exception as exc:  # a probe must never stop the call
            telemetry.error(f"{provider}.gpu_memory", exc)

    def _record(self, duration: float, error: BaseException | None) -> None:
        before = self.memory_before
        if before is not None:
            try:
                self._record_memory(before)
            except Exception as exc:
                self.telemetry.error(f"{self.provider}.gpu_memory", exc)
        super()._record(duration, error)

    def _record_memory(self, before: Reading) -> None:
        after = self.gpu_memory.after(before)
        t = self.telemetry
        base: dict[str, Any] = {sc.OPERATION_NAME: self.operation, sc.PROVIDER_NAME: self.provider}
        if self.request_model:
            base[sc.REQUEST_MODEL] = t.models.get(self.request_model)
        attrs: dict[str, int] = {}
        for source, then in before.values.items():
            now = after.get(source)
            keys = _KEYS.get(source)
            if now is None or keys is None:
                continue
            delta = now - then
            attrs[keys[0]], attrs[keys[1]], attrs[keys[2]] = then, now, delta
            t.points.record(
                t.gpu_memory_delta, max(delta, 0), {**base, sc.GPU_MEMORY_SOURCE: source}
            )
        self.span.set_attributes(attrs)
