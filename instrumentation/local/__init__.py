"""What the local-inference instrumentations share: GPU memory per inference, sampled.

transformers, vLLM (offline `LLM`) and llama.cpp run the model inside the caller's process, so
each call can be measured against this process's GPU memory: a `LocalInvocation` reads it when
the call starts and when it ends, and records the readings and their difference on the span
and in the `agentwatch.gpu.memory.delta` histogram, by source (`nvml`, `torch_allocated`,
`torch_reserved`; see `invocation` for how a cache is told from a leak). The pieces:

- `probe.MemoryProbe`: NVML's per-process used memory (`nvml.NvmlProcessMemory`, `pynvml`
  loaded and NVML initialised on the first measured call) and, only where `torch` is already
  imported and has initialised CUDA, `torch.cuda` allocator statistics; a source that cannot be
  read is absent. Any object with `read(nvml: bool) -> dict[str, int]` can stand in (tests).
- `sampling.Sampler`: the first 10 calls of each model always, then the share
  `AGENTWATCH_GPU_MEMORY_SAMPLE_RATE` of them (default 0.1); `sampling.TokenBucket`: NVML read
  for at most 2 calls a second on average (bursts of 10), torch figures on every measured call.
- `memory.GpuMemory`: the three together, one per process (`memory.shared()`).
- `instrumentor.LocalInstrumentor`: `instrument(gpu_memory=GpuMemory(...))` to inject one.

Cost, measured with `timeit` on the CI machine (2 shared cores, Python 3.11, torch 2.14 CPU
use), per reading (a measured call takes two): with a fake `pynvml` listing 3 processes per GPU,
1.2 us for 1 GPU and 3.7 us for 8 (the Python around the driver calls); with torch imported but
CUDA never initialised, 0.05 us more (one `torch.cuda.is_initialized()`); the sampling decision
of every call, 0.3 us. A real driver's process listing was not timed here (no GPU): it is the
part that grows with the GPUs and processes of the host, which is why the token bucket bounds
how often it runs.
"""

from __future__ import annotations

from agentwatch.instrumentation.local.instrumentor import LocalInstrumentor
from agentwatch.instrumentation.local.invocation import LocalInvocation, memory_attribute
from agentwatch.instrumentation.local.memory import GpuMemory, Reading, shared
from agentwatch.instrumentation.local.probe import (
    NVML,
    TORCH_ALLOCATED,
    TORCH_RESERVED,
    MemoryProbe,
    Probe,
)
from agentwatch.instrumentation.local.sampling import Sampler, TokenBucket

__all__ = [
    "NVML",
    "TORCH_ALLOCATED",
    "TORCH_RESERVED",
    "GpuMemory",
    "LocalInstrumentor",
    "LocalInvocation",
    "MemoryProbe",
    "Probe",
    "Reading",
    "Sampler",
    "TokenBucket",
    "memory_attribute",
    "shared",
]
