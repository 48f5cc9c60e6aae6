"""A simulated local embedding model and the GPU memory it holds: the demo's local inference.

No GPU and no model are used. `SimulatedGpu` keeps the figures a process on a GPU would show
(NVML's per-process memory, torch's allocated and reserved bytes); `SimulatedProbe` reads them
as `agentwatch.instrumentation.local.MemoryProbe` reads the real ones, and `LocalEmbedder.embed`
runs one "inference" inside a `LocalInvocation`, so the span and the
`agentwatch.gpu.memory.delta` histogram are recorded by agentwatch's own code, as for
transformers or vLLM. Every span says `agentwatch.simulated=true`.

The simulated allocator warms up over the first calls (reserved grows, allocated does not: a
cache), and, with `leak_bytes`, keeps that much of every call's tensors alive (allocated and
NVML grow: a leak). When the simulated 8 GiB GPU is full the model "runs out of memory" and is
reloaded (the figures start over), as a crashing and restarted server would.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

from agentwatch.instrumentation.local import NVML, TORCH_ALLOCATED, TORCH_RESERVED

log = logging.getLogger("agentwatch.demo")

MIB = 1024 * 1024
SIMULATED = "agentwatch.simulated"
"""Span and resource attribute on everything the demo simulates."""
PROVIDER = "agentwatch.demo"
MODEL = "demo-embedder"


class SimulatedGpu:
    """The GPU memory figures of one process running a model; thread-safe."""

    CONTEXT = 300 * MIB
    """What a CUDA context costs the process before any tensor."""
    WEIGHTS = 420 * MIB
    TOTAL = 8 * 1024 * MIB

    def __init__(self, leak_bytes: int = 0, warmup_calls: int = 8) -> None:
        self.leak_bytes = leak_bytes
        self.warmup_calls = warmup_calls
        self.lock = threading.Lock()
        self.calls = 0
        self.reloads = 0
        self._reset()

    def _reset(self) -> None:
        self.allocated = self.WEIGHTS
        self.reserved = self.WEIGHTS + 64 * MIB

    def figures(self) -> dict[str, int]:
        """source -> bytes, as a probe reads them."""
        return {
            NVML: self.CONTEXT + self.reserved,
            TORCH_ALLOCATED: self.allocated,
            TORCH_RESERVED: self.reserved,
        }

    def run(self, tokens: int) -> None:
        """One inference's effect on memory (call with `lock` held)."""
        self.calls += 1
        activations = 2 * MIB * max(1, tokens // 16)
        if self.calls <= self.warmup_calls:
            # A caching allocator keeps freed blocks: reserved steps up, allocated does not.
            self.reserved += 32 * MIB
        self.allocated += self.leak_bytes
        needed = self.allocated + activations
        if needed > self.reserved:
            self.reserved = needed
        if self.CONTEXT + self.reserved > self.TOTAL:
            self.reloads += 1
            log.warning(
                "simulated %s ran out of GPU memory after %d calls: reloaded", MODEL, self.calls
            )
            self._reset()


class SimulatedProbe:
    """`Probe` over a `SimulatedGpu`: NVML only when asked (the rate limit), torch always."""

    def __init__(self, gpu: SimulatedGpu) -> None:
        self.gpu = gpu

    def read(self, nvml: bool) -> dict[str, int]:
        """A reading, as `MemoryProbe.read` gives one."""
        figures = self.gpu.figures()
        if not nvml:
            figures.pop(NVML)
        return figures


class LocalEmbedder:
    """A simulated in-process embedding model, instrumented as agentwatch's local clients are."""

    def __init__(self, telemetry: Any, leak_bytes: int = 0, latency: float = 0.005) -> None:
        from agentwatch.instrumentation.local import GpuMemory, Sampler, TokenBucket

        self.telemetry = telemetry
        self.gpu = SimulatedGpu(leak_bytes)
        # Every call measured, NVML included: the figures cost nothing to read here.
        self.memory = GpuMemory(
            SimulatedProbe(self.gpu), Sampler(rate=1.0), TokenBucket(per_second=1000.0)
        )
        self.latency = latency

    def embed(self, text: str) -> list[float]:
        """A deterministic 8-dimensional "embedding" of `text`, one measured local inference."""
        from agentwatch.instrumentation.local import LocalInvocation

        tokens = max(1, len(text.split()))
        with self.gpu.lock:  # one model, one stream of inferences (its deltas are its own)
            invocation = LocalInvocation(
                self.telemetry,
                "embeddings",
                PROVIDER,
                MODEL,
                self.memory,
                attributes={SIMULATED: True},
            )
            try:
                time.sleep(self.latency)
                self.gpu.run(tokens)
                invocation.input_tokens = tokens
                digest = hashlib.sha256(text.encode()).digest()
                vector = [b / 255 for b in digest[:8]]
            except BaseException as exc:
                invocation.end(exc)
                raise
            invocation.end()
        return vector
