"""The catalogue of simulated hosts: `agentwatch exporter --gpu-backend sim --sim-scenario NAME`."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

from agentwatch.exporter.model import Attribution
from agentwatch.exporter.sim.workloads import (
    GIB,
    MIB,
    AllocatorWarmup,
    Leak,
    Preallocated,
    Sawtooth,
    Steady,
    Workload,
)

RESERVED = 512 * MIB
"""Memory the driver and firmware keep on every simulated GPU (NVML's `reserved`)."""


@dataclass
class SimProcess:
    """A process on a simulated GPU."""

    pid: int
    workload: Workload
    attribution: Attribution = field(default_factory=Attribution)


@dataclass
class SimGpu:
    """A simulated GPU, its processes, and what happens to it."""

    name: str
    total: int
    power_limit: float
    processes: list[SimProcess]
    xid_events: list[tuple[float, int]] = field(default_factory=list)
    """(simulated time, XID code); a scenario's events repeat every `xid_repeat` seconds."""
    xid_repeat: float = 0.0
    lost_at: float | None = None
    ecc: bool = True


@dataclass
class Scenario:
    """A named simulated host."""

    name: str
    description: str
    gpus: list[SimGpu]


def _pod(name: str, namespace: str = "inference") -> Attribution:
    digest = random.Random(name).getrandbits(256)
    return Attribution(container=f"{digest:064x}", pod=name, namespace=namespace)


def _headroom(total: int, *others: int) -> int:
    return total - RESERVED - sum(others)


def healthy(seed: int) -> Scenario:
    gpus = [
        SimGpu(
            "Simulated NVIDIA L4",
            24 * GIB,
            72.0,
            [
                SimProcess(4100 + i, Steady(f"vllm-{i}", 14 * GIB, start=1.0, activity=0.5)),
                SimProcess(4200 + i, Steady(f"embedder-{i}", 2 * GIB, start=2.0, activity=0.1)),
            ],
        )
        for i in range(2)
    ]
    return Scenario("healthy", "two GPUs serving steadily, no leaks", gpus)


def leak(seed: int) -> Scenario:
    total, base = 8 * GIB, 3 * GIB
    proc = Leak("leaky-server", base, leak=15 * MIB, period=5.0, headroom=_headroom(total, base))
    gpu = SimGpu("Simulated NVIDIA 8GB", total, 150.0, [SimProcess(5100, proc, _pod("agent-0"))])
    return Scenario("leak", "8 GB GPU, a server at 3 GB leaking 180 MB a minute after 60 s", [gpu])


def fast_leak(seed: int) -> Scenario:
    total, base = 8 * GIB, 3 * GIB
    # It serves steadily for 90 s first: a leak that starts in a running process.
    proc = Leak(
        "leaky-server",
        base,
        leak=180 * MIB,
        period=1.0,
        headroom=_headroom(total, base),
        leak_start=90.0,
    )
    gpu = SimGpu("Simulated NVIDIA 8GB", total, 150.0, [SimProcess(5200, proc, _pod("agent-0"))])
    return Scenario(
        "fast-leak",
        "8 GB GPU, +180 MB per inference at one a second after 90 s: full in under a minute",
        [gpu],
    )


def preallocated(seed: int) -> Scenario:
    total = 80 * GIB
    proc = Preallocated("vllm", total - RESERVED, 0.9, ramp=3.0, start=2.0, activity=0.7)
    gpu = SimGpu("Simulated NVIDIA H100 80GB HBM3", total, 700.0, [SimProcess(6100, proc)])
    return Scenario("preallocated", "vLLM pre-allocating 90 % of VRAM at start, then flat", [gpu])


def allocator_plateau(seed: int) -> Scenario:
    proc = AllocatorWarmup("torch-serve", 4 * GIB, 6 * GIB, warmup=300.0, seed=seed, start=1.0)
    gpu = SimGpu("Simulated NVIDIA A10G", 24 * GIB, 300.0, [SimProcess(7100, proc)])
    return Scenario(
        "allocator-plateau", "a caching allocator growing for 5 minutes, then flat", [gpu]
    )


def sawtooth(seed: int) -> Scenario:
    proc = Sawtooth("batch-infer", 6 * GIB, 8 * GIB, seed=seed, start=1.0)
    gpu = SimGpu("Simulated NVIDIA L40S", 48 * GIB, 350.0, [SimProcess(8100, proc)])
    return Scenario("sawtooth", "large batches ramping up and freed around a flat floor", [gpu])


def gpu_lost(seed: int) -> Scenario:
    base = healthy(seed)
    base.gpus[1].lost_at = 60.0
    base.gpus[1].xid_events = [(60.0, 79)]
    return Scenario("gpu-lost", "two GPUs; GPU 1 falls off the bus (XID 79) after 60 s", base.gpus)


def xid(seed: int) -> Scenario:
    base = healthy(seed)
    rng = random.Random(seed)
    codes = [13, 31, 43, 48, 63, 94, 119]
    base.gpus[0].xid_events = [
        (15.0 + 25.0 * i + rng.uniform(0, 5), c) for i, c in enumerate(codes)
    ]
    base.gpus[0].xid_repeat = 240.0
    return Scenario("xid", "XID errors of several classes on GPU 0, repeating", base.gpus)


def mixed(seed: int) -> Scenario:
    h100, l4 = 80 * GIB, 24 * GIB
    gpus = [
        SimGpu(
            "Simulated NVIDIA H100 80GB HBM3",
            h100,
            700.0,
            [
                SimProcess(
                    9100, Preallocated("vllm", h100 - RESERVED, 0.9, start=2.0), _pod("vllm-0")
                )
            ],
        ),
        SimGpu(
            "Simulated NVIDIA H100 80GB HBM3",
            h100,
            700.0,
            [
                SimProcess(
                    9200,
                    AllocatorWarmup("trainer", 20 * GIB, 24 * GIB, seed=seed, start=1.0),
                    _pod("finetune-0", "training"),
                ),
                SimProcess(
                    9201,
                    Sawtooth("batch-eval", 8 * GIB, 12 * GIB, seed=seed, start=3.0),
                    _pod("eval-0", "training"),
                ),
            ],
        ),
        SimGpu(
            "Simulated NVIDIA L4",
            l4,
            72.0,
            [
                SimProcess(
                    9300,
                    Leak("agent-tools", 6 * GIB, 15 * MIB, 5.0, _headroom(l4, 6 * GIB, 2 * GIB)),
                    _pod("agent-7"),
                ),
                SimProcess(9301, Steady("embedder", 2 * GIB, start=1.0), _pod("embedder-0")),
            ],
        ),
        SimGpu(
            "Simulated NVIDIA L4",
            l4,
            72.0,
            [SimProcess(9400, Steady("reranker", 5 * GIB, start=1.0), _pod("reranker-0"))],
            ecc=False,
        ),
    ]
    return Scenario("mixed", "four GPUs, several workloads, one process leaking", gpus)


def node(seed: int, gpus: int = 8, processes_per_gpu: int = 8) -> Scenario:
    """A large host (8 GPUs x 64 processes by default), for benchmarks and load tests."""
    result = []
    for g in range(gpus):
        procs = [
            SimProcess(
                10000 + g * 100 + p,
                Steady(f"worker-{g}-{p}", 512 * MIB + p * 64 * MIB, start=0.0),
                _pod(f"worker-{g}-{p}"),
            )
            for p in range(processes_per_gpu)
        ]
        result.append(SimGpu("Simulated NVIDIA H100 80GB HBM3", 80 * GIB, 700.0, procs))
    return Scenario("node", f"{gpus} GPUs x {processes_per_gpu} processes each, steady", result)


SCENARIOS: dict[str, Callable[[int], Scenario]] = {
    "healthy": healthy,
    "leak": leak,
    "fast-leak": fast_leak,
    "preallocated": preallocated,
    "allocator-plateau": allocator_plateau,
    "sawtooth": sawtooth,
    "gpu-lost": gpu_lost,
    "xid": xid,
    "mixed": mixed,
    "node": node,
}
"""Scenario builders by name; each takes the seed."""
