"""The memory probe: NVML's per-process figure, torch's allocator figures, never an exception."""

from __future__ import annotations

import subprocess
import sys

from agentwatch.instrumentation.local.nvml import NvmlProcessMemory
from agentwatch.instrumentation.local.probe import MemoryProbe
from tests.instrumentation.local.fakes import MB, FakeCuda, FakeNvml, FakeTorch, ProcessInfo

PID = 4242


def host() -> FakeNvml:
    """Two GPUs; this process holds memory on both, others on one."""
    return FakeNvml(
        processes=[
            [ProcessInfo(PID, 700 * MB), ProcessInfo(99, 5000 * MB)],
            [ProcessInfo(98, 1 * MB), ProcessInfo(PID, 300 * MB)],
        ]
    )


def probe(nvml: FakeNvml, torch: object | None = None) -> MemoryProbe:
    modules = {"torch": torch} if torch is not None else {}
    return MemoryProbe(NvmlProcessMemory(nvml), modules=modules, pid=lambda: PID)


def test_nvml_sums_this_process_over_the_gpus_and_ignores_the_others() -> None:
    assert probe(host()).read(nvml=True) == {"nvml": 1000 * MB}


def test_nvml_starts_on_the_first_read_only_and_once() -> None:
    nvml = host()
    p = probe(nvml)
    assert nvml.calls == []  # building the probe touches nothing
    p.read(nvml=True)
    p.read(nvml=True)
    assert nvml.calls.count("nvmlInit") == 1


def test_a_process_not_listed_holds_nothing() -> None:
    nvml = FakeNvml(processes=[[ProcessInfo(99, 5000 * MB)]])
    assert probe(nvml).read(nvml=True) == {"nvml": 0}


def test_without_a_driver_the_figure_is_absent_and_not_asked_again() -> None:
    nvml = FakeNvml(processes=[[]], init_error=9)  # NVML_ERROR_DRIVER_NOT_LOADED
    p = probe(nvml)
    assert p.read(nvml=True) == {}
    assert p.read(nvml=True) == {}
    assert nvml.calls == ["nvmlInit"]


def test_without_pynvml_the_figure_is_absent() -> None:
    code = (
        "import sys; sys.modules['pynvml'] = None\n"
        "from agentwatch.instrumentation.local.probe import MemoryProbe\n"
        "assert MemoryProbe(modules={}).read(nvml=True) == {}\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_failed_listing_or_an_unreported_figure_is_no_figure_not_a_partial_sum() -> None:
    failing = host()
    failing.list_error = 15  # NVML_ERROR_GPU_IS_LOST
    assert probe(failing).read(nvml=True) == {}
    unreported = host()
    unreported.processes[1][1] = ProcessInfo(PID, None)
    assert probe(unreported).read(nvml=True) == {}


def test_the_newest_process_call_is_used_and_an_old_driver_falls_back() -> None:
    nvml = host()
    probe(nvml).read(nvml=True)
    assert "nvmlDeviceGetComputeRunningProcesses_v3" in nvml.calls
    old = host()
    old.v3_missing_in_driver = True
    p = probe(old)
    assert p.read(nvml=True) == {"nvml": 1000 * MB}
    old.calls.clear()
    p.read(nvml=True)
    assert old.calls == ["nvmlDeviceGetComputeRunningProcesses_v2"] * 2
    older = host()
    older.has_v3 = False
    assert probe(older).read(nvml=True) == {"nvml": 1000 * MB}


def test_nvml_is_skipped_when_the_budget_says_so() -> None:
    nvml = host()
    assert probe(nvml).read(nvml=False) == {}
    assert nvml.calls == []


def test_torch_figures_sum_the_devices_when_cuda_is_initialised() -> None:
    cuda = FakeCuda(True, [(100 * MB, 200 * MB), (10 * MB, 20 * MB)])
    assert probe(host(), FakeTorch(cuda)).read(nvml=True) == {
        "nvml": 1000 * MB,
        "torch_allocated": 110 * MB,
        "torch_reserved": 220 * MB,
    }
    assert cuda.stats_calls == 2  # one statistics read per device gives both figures


def test_torch_is_not_read_and_cuda_not_touched_before_torch_initialised_it() -> None:
    cuda = FakeCuda(False, [(100 * MB, 200 * MB)])
    assert probe(host(), FakeTorch(cuda)).read(nvml=False) == {}
    assert cuda.stats_calls == 0


def test_a_broken_torch_leaves_its_figures_out() -> None:
    class Broken:
        cuda = None  # no is_initialized: an AttributeError inside the probe

    assert probe(host(), Broken()).read(nvml=True) == {"nvml": 1000 * MB}


def test_real_cpu_torch_gives_no_figure_and_leaves_cuda_uninitialised() -> None:
    import torch

    nvml = FakeNvml(processes=[[]])
    assert MemoryProbe(NvmlProcessMemory(nvml)).read(nvml=False) == {}
    assert not torch.cuda.is_initialized()


def test_close_shuts_nvml_down_once_and_a_later_read_starts_again() -> None:
    nvml = host()
    p = probe(nvml)
    p.read(nvml=True)
    p.close()
    p.close()
    assert nvml.calls.count("nvmlShutdown") == 1
    assert p.read(nvml=True) == {"nvml": 1000 * MB}
    assert nvml.calls.count("nvmlInit") == 2
