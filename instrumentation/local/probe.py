"""One reading of this process's GPU memory, by source: what `LocalInvocation` takes twice.

Sources (the `agentwatch.gpu.memory.source` values):

- `nvml`: the driver's figure for this process (`NvmlProcessMemory`): everything the process
  holds, the CUDA context and any framework's allocations included;
- `torch_allocated`: bytes of live tensors (`torch.cuda.memory_allocated`), summed over devices;
- `torch_reserved`: bytes the caching allocator holds from the driver, in use or cached
  (`torch.cuda.memory_reserved`), summed over devices.

The torch figures are read only when `torch` is already imported and has initialised CUDA
itself (`torch.cuda.is_initialized()`): agentwatch never imports torch and never creates a CUDA
context. Both come from one `torch.cuda.memory_stats(device)` per device (the two functions
each build that same dictionary). A probe never raises: a source that fails is absent.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from agentwatch.instrumentation.local.nvml import NvmlProcessMemory

log = logging.getLogger("agentwatch.instrumentation")

NVML = "nvml"
TORCH_ALLOCATED = "torch_allocated"
TORCH_RESERVED = "torch_reserved"
SOURCES = (NVML, TORCH_ALLOCATED, TORCH_RESERVED)

_ALLOCATED = "allocated_bytes.all.current"
_RESERVED = "reserved_bytes.all.current"


class Probe(Protocol):
    """Reads this process's GPU memory: source -> bytes, only the sources it could read."""

    def read(self, nvml: bool) -> dict[str, int]:
        """A reading; `nvml=False` skips the driver (the rate limit spent)."""
        ...


class MemoryProbe:
    """The NVML and torch figures of this process; injectable pieces for tests."""

    def __init__(
        self,
        nvml: NvmlProcessMemory | None = None,
        modules: Mapping[str, Any] = sys.modules,
        pid: Callable[[], int] = os.getpid,
    ) -> None:
        self._nvml = nvml if nvml is not None else NvmlProcessMemory()
        self._modules = modules
        self._pid = pid

    def read(self, nvml: bool) -> dict[str, int]:
        """What can be read now; an empty dict on a machine without a GPU."""
        out: dict[str, int] = {}
        if nvml:
            used = self._nvml.used(self._pid())  # pid read each time: a fork has its own
            if used is not None:
                out[NVML] = used
        torch = self._modules.get("torch")
        if torch is not None:
            self._torch(torch, out)
        return out

    def _torch(self, torch: Any, out: dict[str, int]) -> None:
        try:
            cuda = torch.cuda
            if not cuda.is_initialized():  # never initialise CUDA for the user
                return
            allocated = reserved = 0
            for device in range(cuda.device_count()):
                stats = cuda.memory_stats(device)
                allocated += int(stats.get(_ALLOCATED, 0))
                reserved += int(stats.get(_RESERVED, 0))
        except Exception as exc:  # an odd torch build: the torch figures are absent
            log.debug("torch.cuda memory statistics unreadable: %s", exc)
            return
        out[TORCH_ALLOCATED] = allocated
        out[TORCH_RESERVED] = reserved

    def close(self) -> None:
        """Release NVML."""
        self._nvml.close()
