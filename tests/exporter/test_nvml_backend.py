"""The NVML backend against a fake NVML that can fail at every call site, and the real one."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pynvml
import pytest

from agentwatch.exporter import nvml_backend
from agentwatch.exporter.model import (
    THROTTLE_REASONS,
    BackendUnavailableError,
    GpuIdentity,
    GpuSample,
    HostSample,
    NvmlErrorRecord,
    ProcessSample,
    XidEvent,
)
from agentwatch.exporter.nvml_backend import NvmlBackend
from agentwatch.exporter.nvml_errors import error_label
from tests.exporter.fake_nvml import GIB, MIB, FakeGpu, FakeMig, FakeNvml, FakeProcess

DRIVER = "550.54.15"
MODULES = ("backend", "calls", "fields", "xid")
NOW = 1_700_000_000.0
NAMES = {
    1001: "/usr/bin/python3",
    1002: "/usr/lib/xorg/Xorg",
    2001: "/opt/conda/bin/python",
    2002: "vllm",
    2003: "glxgears",
    3001: "/usr/bin/python3",
    3002: "triton",
}
COMM = {1001: "pt_main_thread", 1002: "Xorg", 2001: "python", 2002: "vllm-worker"}
"""`/proc/PID/comm` under the test's proc root; 2003 and the MIG processes have none."""

NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
NO_PERMISSION = pynvml.NVML_ERROR_NO_PERMISSION
GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST
UNKNOWN = pynvml.NVML_ERROR_UNKNOWN
TIMEOUT = pynvml.NVML_ERROR_TIMEOUT
FUNCTION_NOT_FOUND = pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
ERRORS = (NOT_SUPPORTED, NO_PERMISSION, GPU_IS_LOST, UNKNOWN, TIMEOUT, FUNCTION_NOT_FOUND)
CACHED = (NOT_SUPPORTED, FUNCTION_NOT_FOUND)


def reasons(*on: str) -> dict[str, bool]:
    return {reason: reason in on for reason in THROTTLE_REASONS}


def identity(index: str, uuid: str, name: str, pci: str, mig_mode: str) -> GpuIdentity:
    return GpuIdentity(index, uuid, name, DRIVER, pci, mig_mode)


GPU0 = GpuSample(
    identity=identity("0", "GPU-0000", "NVIDIA H100 80GB HBM3", "00000000:01:00.0", "disabled"),
    memory_used_bytes=10 * GIB,
    memory_free_bytes=80 * GIB - 10 * GIB - 512 * MIB,
    memory_total_bytes=80 * GIB,
    memory_reserved_bytes=512 * MIB,
    utilization_ratio=0.5,
    memory_bandwidth_utilization_ratio=0.25,
    temperature_celsius=61.0,
    power_watts=250.5,
    power_limit_watts=700.0,
    energy_joules=123456.789,
    throttle_reasons=reasons("sw_power_cap", "hw_slowdown"),
    ecc_errors={"corrected": 3, "uncorrected": 0},
    processes=(
        ProcessSample(1001, "python3", 1 * GIB),
        ProcessSample(1002, "Xorg", 256 * MIB),
    ),
)
GPU1 = GpuSample(
    identity=identity("1", "GPU-1111", "NVIDIA A10", "00000000:02:00.0", "disabled"),
    memory_used_bytes=20 * GIB,
    memory_free_bytes=4 * GIB - 256 * MIB,
    memory_total_bytes=24 * GIB,
    memory_reserved_bytes=256 * MIB,
    utilization_ratio=0.97,
    memory_bandwidth_utilization_ratio=0.8,
    temperature_celsius=83.0,
    power_watts=149.0,
    power_limit_watts=150.0,
    energy_joules=5000.0,
    throttle_reasons=reasons("sw_thermal_slowdown", "hw_thermal_slowdown"),
    ecc_errors={"corrected": 0, "uncorrected": 1},
    # 2001 is in both lists: one process, with the larger of its two memory figures.
    processes=(
        ProcessSample(2001, "python", 3 * GIB),
        ProcessSample(2002, "vllm", None),
        ProcessSample(2003, "glxgears", 128 * MIB),
    ),
)
GPU1_COMPUTE_ONLY = (ProcessSample(2001, "python", 2 * GIB), ProcessSample(2002, "vllm", None))
GPU1_GRAPHICS_ONLY = (
    ProcessSample(2001, "python", 3 * GIB),
    ProcessSample(2003, "glxgears", 128 * MIB),
)


def gpu0() -> FakeGpu:
    return FakeGpu(
        uuid="GPU-0000",
        throttle=pynvml.nvmlClocksEventReasonSwPowerCap | pynvml.nvmlClocksEventReasonHwSlowdown,
        ecc_corrected=3,
        compute=[FakeProcess(1001, 1 * GIB)],
        graphics=[FakeProcess(1002, 256 * MIB)],
    )


def gpu1(**changes: object) -> FakeGpu:
    gpu = FakeGpu(
        uuid="GPU-1111",
        name="NVIDIA A10",
        pci_bus_id="00000000:02:00.0",
        memory_total=24 * GIB,
        memory_used=20 * GIB,
        memory_reserved=256 * MIB,
        util_gpu=97,
        util_memory=80,
        temperature=83,
        power_mw=149_000,
        power_limit_mw=150_000,
        energy_mj=5_000_000,
        throttle=0x20 | 0x40,
        ecc_uncorrected=1,
        compute=[FakeProcess(2001, 2 * GIB), FakeProcess(2002, None)],
        graphics=[FakeProcess(2001, 3 * GIB), FakeProcess(2003, 128 * MIB)],
    )
    return replace(gpu, **changes)  # type: ignore[arg-type]


def mig_gpu1() -> FakeGpu:
    return gpu1(
        name="NVIDIA A100-SXM4-40GB",
        mig_mode=pynvml.NVML_DEVICE_MIG_ENABLE,
        mig_slots=[
            FakeMig(1, "MIG-aaaa", compute=[FakeProcess(3001, 1 * GIB)]),
            None,
            FakeMig(2, "MIG-bbbb", compute=[FakeProcess(3002, None)]),
        ],
    )


GPU1_MIG = replace(
    GPU1,
    identity=identity("1", "GPU-1111", "NVIDIA A100-SXM4-40GB", "00000000:02:00.0", "enabled"),
    utilization_ratio=None,  # NVML does not report utilisation in MIG mode
    memory_bandwidth_utilization_ratio=None,
    processes=(),
)
MIG_NAME = "NVIDIA A100-SXM4-40GB MIG 3g.20gb"


def mig_sample(gi: int, uuid: str, processes: tuple[ProcessSample, ...]) -> GpuSample:
    return GpuSample(
        identity=identity(f"1/{gi}", uuid, MIG_NAME, "00000000:02:00.0", "instance"),
        memory_used_bytes=2 * GIB,
        memory_free_bytes=18 * GIB - 64 * MIB,
        memory_total_bytes=20 * GIB,
        memory_reserved_bytes=64 * MIB,
        processes=processes,
    )


MIG1 = mig_sample(1, "MIG-aaaa", (ProcessSample(3001, "python3", 1 * GIB),))
MIG2 = mig_sample(2, "MIG-bbbb", (ProcessSample(3002, "triton", None),))
MIG_GRAPHICS = {
    NvmlErrorRecord("nvmlDeviceGetGraphicsRunningProcesses_v3", "not_supported"),
}


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    for pid, comm in COMM.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    return tmp_path


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_backend(proc_root: Path, clock: Clock) -> Iterator[Callable[..., NvmlBackend]]:
    made: list[NvmlBackend] = []

    def make(fake: FakeNvml, xid_watch: bool = False) -> NvmlBackend:
        backend = NvmlBackend(
            nvml=fake, clock=lambda: NOW, monotonic=clock, xid_watch=xid_watch, proc_root=proc_root
        )
        made.append(backend)
        return backend

    yield make
    for backend in made:
        backend.close()


def two_gpus(second: FakeGpu | None = None) -> FakeNvml:
    return FakeNvml([gpu0(), second or gpu1()], process_names=NAMES, driver_version=DRIVER)


def lifecycle(call: str, code: int) -> bool:
    handle_call = call in ("nvmlDeviceGetHandleByIndex", "nvmlDeviceGetMigDeviceHandleByIndex")
    return code == GPU_IS_LOST or (code == UNKNOWN and handle_call)


def errors_of(sample: HostSample) -> set[NvmlErrorRecord]:
    return set(sample.errors)


# --- a healthy read ---------------------------------------------------------------------------


def test_a_healthy_read_gives_every_field_of_every_gpu(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    backend = make_backend(fake)
    assert fake.calls == {}, "NVML must not be touched before the first sample"
    sample = backend.sample()
    assert sample.gpus == (GPU0, GPU1)
    assert sample.errors == ()
    assert sample.complete
    assert (sample.timestamp, sample.monotonic) == (NOW, 100.0)
    assert backend.simulated is False


def test_handles_and_identities_are_read_once_per_init(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    backend = make_backend(fake)
    backend.sample()
    first = fake.calls.copy()
    second = backend.sample()
    assert second.gpus == (GPU0, GPU1)
    for call in (
        "nvmlInit",
        "nvmlDeviceGetCount",
        "nvmlDeviceGetHandleByIndex",
        "nvmlDeviceGetUUID",
        "nvmlSystemGetDriverVersion",
        "nvmlSystemGetProcessName",
    ):
        assert fake.calls[call] == first[call], call
    assert fake.calls["nvmlDeviceGetPowerUsage"] == 2 * first["nvmlDeviceGetPowerUsage"]


def test_importing_the_backend_does_not_import_pynvml() -> None:
    code = "import sys, agentwatch.exporter.nvml_backend; print('pynvml' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# --- an error at every call site --------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    """A call site of the standard two-GPU read, and what an error there does to GPU 1."""

    call: str
    effect: Callable[[GpuSample, int], GpuSample]
    """GPU 1 after a per-field (not lifecycle) error with this code."""
    device: int | None = 1
    setup: tuple[str, ...] = ()
    """Calls made unavailable first (function not found on GPU 1): reach a fallback site."""
    before_identity: bool = False
    """The call is made before GPU 1's identity is known: a lost GPU has no name yet."""
    system: bool = False
    """Not a device call: the effect applies to both GPUs, and nothing is marked down."""
    cuts_read: bool = False
    """Even a per-field error leaves the GPU unreadable (no handle)."""


def _ident(**changes: str) -> Callable[[GpuSample, int], GpuSample]:
    return lambda g, _: replace(g, identity=replace(g.identity, **changes))


def _fields(**changes: object) -> Callable[[GpuSample, int], GpuSample]:
    return lambda g, _: replace(g, **changes)  # type: ignore[arg-type]


def _cached_or(
    cached: Callable[[GpuSample], GpuSample], other: Callable[[GpuSample], GpuSample]
) -> Callable[[GpuSample, int], GpuSample]:
    return lambda g, code: cached(g) if code in CACHED else other(g)


def _fallback_or(
    other: Callable[[GpuSample], GpuSample], on_not_supported: Callable[[GpuSample], GpuSample]
) -> Callable[[GpuSample, int], GpuSample]:
    """The older API answers where the driver lacks the newer one; not where the GPU lacks it."""

    def effect(g: GpuSample, code: int) -> GpuSample:
        if code == FUNCTION_NOT_FOUND:
            return g
        return on_not_supported(g) if code == NOT_SUPPORTED else other(g)

    return effect


_NO_MEMORY = {
    "memory_used_bytes": None,
    "memory_free_bytes": None,
    "memory_total_bytes": None,
    "memory_reserved_bytes": None,
}


def _memory_v1(g: GpuSample) -> GpuSample:
    assert g.memory_used_bytes is not None and g.memory_reserved_bytes is not None
    used = g.memory_used_bytes + g.memory_reserved_bytes  # v1 counts reserved memory as used
    return replace(g, memory_used_bytes=used, memory_reserved_bytes=None)


def _names_from_proc(g: GpuSample) -> GpuSample:
    procs = tuple(replace(p, name=COMM.get(p.pid, "")) for p in g.processes)
    return replace(g, processes=procs)


def _none(**changes: object) -> Callable[[GpuSample], GpuSample]:
    return lambda g: replace(g, **changes)  # type: ignore[arg-type]


_V2_GONE = ("nvmlDeviceGetMemoryInfo_v2",)
SITES = (
    Site("nvmlDeviceGetHandleByIndex", _fields(), before_identity=True, cuts_read=True),
    Site("nvmlSystemGetDriverVersion", _ident(driver_version=""), device=None, system=True),
    Site("nvmlDeviceGetUUID", _ident(uuid=""), before_identity=True),
    Site("nvmlDeviceGetName", _ident(name=""), before_identity=True),
    Site("nvmlDeviceGetPciInfo", _ident(pci_bus_id=""), before_identity=True),
    Site("nvmlDeviceGetMigMode", _ident(mig_mode=""), before_identity=True),
    Site(
        "nvmlDeviceGetMemoryInfo_v2",
        _cached_or(_memory_v1, _none(**_NO_MEMORY)),
    ),
    Site(
        "nvmlDeviceGetMemoryInfo",
        lambda g, _: replace(g, **_NO_MEMORY),  # type: ignore[arg-type]
        setup=_V2_GONE,
    ),
    Site(
        "nvmlDeviceGetUtilizationRates",
        _fields(utilization_ratio=None, memory_bandwidth_utilization_ratio=None),
    ),
    Site("nvmlDeviceGetTemperature", _fields(temperature_celsius=None)),
    Site("nvmlDeviceGetPowerUsage", _fields(power_watts=None)),
    Site("nvmlDeviceGetEnforcedPowerLimit", _fields(power_limit_watts=None)),
    Site("nvmlDeviceGetTotalEnergyConsumption", _fields(energy_joules=None)),
    Site(
        "nvmlDeviceGetCurrentClocksEventReasons",
        _fallback_or(_none(throttle_reasons=None), _none(throttle_reasons=None)),
    ),
    Site(
        "nvmlDeviceGetCurrentClocksThrottleReasons",
        _fields(throttle_reasons=None),
        setup=("nvmlDeviceGetCurrentClocksEventReasons",),
    ),
    Site("nvmlDeviceGetTotalEccErrors", _fields(ecc_errors=None)),
    Site(
        "nvmlDeviceGetComputeRunningProcesses_v3",
        _fallback_or(_none(processes=GPU1_GRAPHICS_ONLY), _none(processes=GPU1_GRAPHICS_ONLY)),
    ),
    Site(
        "nvmlDeviceGetComputeRunningProcesses_v2",
        _fields(processes=GPU1_GRAPHICS_ONLY),
        setup=("nvmlDeviceGetComputeRunningProcesses_v3",),
    ),
    Site(
        "nvmlDeviceGetGraphicsRunningProcesses_v3",
        _fallback_or(_none(processes=GPU1_COMPUTE_ONLY), _none(processes=GPU1_COMPUTE_ONLY)),
    ),
    Site(
        "nvmlDeviceGetGraphicsRunningProcesses_v2",
        _fields(processes=GPU1_COMPUTE_ONLY),
        setup=("nvmlDeviceGetGraphicsRunningProcesses_v3",),
    ),
    Site(
        "nvmlSystemGetProcessName",
        lambda g, _: _names_from_proc(g),
        device=None,
        system=True,
    ),
)


@pytest.mark.parametrize("code", ERRORS, ids=error_label)
@pytest.mark.parametrize("site", SITES, ids=lambda s: s.call)
def test_an_error_at_any_call_site_costs_only_what_it_must(
    make_backend: Callable[..., NvmlBackend], site: Site, code: int
) -> None:
    fake = two_gpus()
    for call in site.setup:
        fake.inject(call, FUNCTION_NOT_FOUND, device=1)
    fake.inject(site.call, code, device=site.device)
    # What GPU 1 reads with only the setup (a fallback) in place.
    base = _memory_v1(GPU1) if site.setup == _V2_GONE else GPU1
    sample = make_backend(fake).sample()

    expected_errors = {NvmlErrorRecord(c, "function_not_found") for c in site.setup}
    expected_errors.add(NvmlErrorRecord(site.call, error_label(code)))
    assert errors_of(sample) == expected_errors
    lost = lifecycle(site.call, code)
    if site.system:
        assert sample.gpus == (site.effect(GPU0, code), site.effect(base, code))
    elif lost:
        ident = GpuIdentity("1", "", "", DRIVER, "", "") if site.before_identity else GPU1.identity
        assert sample.gpus == (GPU0, GpuSample(ident, up=False))
    else:
        expected = site.effect(base, code)
        if site.cuts_read:
            expected = GpuSample(GpuIdentity("1", "", "", DRIVER, "", ""), up=False)
        assert sample.gpus == (GPU0, expected)
    assert sample.complete is not (lost or site.cuts_read)


@pytest.mark.parametrize("code", ERRORS, ids=error_label)
@pytest.mark.parametrize("call", ["nvmlInit", "nvmlDeviceGetCount"])
def test_an_init_error_makes_the_backend_unavailable_until_it_clears(
    make_backend: Callable[..., NvmlBackend], call: str, code: int
) -> None:
    fake = two_gpus()
    fake.inject(call, code, times=1)
    backend = make_backend(fake)
    with pytest.raises(BackendUnavailableError) as raised:
        backend.sample()
    assert raised.value.errors == (NvmlErrorRecord(call, error_label(code)),)
    assert backend.sample().gpus == (GPU0, GPU1)
    assert fake.calls["nvmlInit"] == 2
    assert fake.calls["nvmlShutdown"] == (1 if call == "nvmlDeviceGetCount" else 0)


@pytest.mark.parametrize(
    "code",
    [
        pynvml.NVML_ERROR_DRIVER_NOT_LOADED,
        pynvml.NVML_ERROR_LIB_RM_VERSION_MISMATCH,
        pynvml.NVML_ERROR_LIBRARY_NOT_FOUND,
    ],
    ids=error_label,
)
def test_a_missing_driver_is_retried_on_every_sample(
    make_backend: Callable[..., NvmlBackend], code: int
) -> None:
    fake = two_gpus()
    fake.inject("nvmlInit", code, times=2)
    backend = make_backend(fake)
    for _ in range(2):
        with pytest.raises(BackendUnavailableError, match=error_label(code)) as raised:
            backend.sample()
        assert raised.value.errors == (NvmlErrorRecord("nvmlInit", error_label(code)),)
    assert backend.sample().gpus == (GPU0, GPU1)
    assert fake.calls["nvmlInit"] == 3


# --- MIG --------------------------------------------------------------------------------------


def test_mig_devices_are_enumerated_with_their_memory_and_processes(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus(mig_gpu1())
    backend = make_backend(fake)
    first = backend.sample()
    assert first.gpus == (GPU0, GPU1_MIG, MIG1, MIG2)
    # Utilisation is not supported in MIG mode, graphics processes not on MIG devices: each
    # is asked once per init.
    assert errors_of(first) == MIG_GRAPHICS | {
        NvmlErrorRecord("nvmlDeviceGetUtilizationRates", "not_supported")
    }
    second = backend.sample()
    assert second.gpus == first.gpus
    assert second.errors == ()
    assert fake.calls["nvmlDeviceGetMaxMigDeviceCount"] == 1


_DOWN_PARENT = [GPU0, GpuSample(GPU1_MIG.identity, up=False)]


@dataclass(frozen=True)
class MigSite:
    """A MIG call site and the rows after a per-field error there (code -> rows)."""

    call: str
    device: int | str
    rows: Callable[[int], list[GpuSample]]
    lost_rows: list[GpuSample]


MIG_SITES = (
    MigSite("nvmlDeviceGetMaxMigDeviceCount", 1, lambda _: [GPU0, GPU1_MIG], _DOWN_PARENT),
    MigSite("nvmlDeviceGetMigDeviceHandleByIndex", 1, lambda _: [GPU0, GPU1_MIG], _DOWN_PARENT),
    MigSite("nvmlDeviceGetGpuInstanceId", "1/1", lambda _: [GPU0, GPU1_MIG, MIG2], _DOWN_PARENT),
    MigSite(
        "nvmlDeviceGetUUID",
        "1/1",
        lambda _: [GPU0, GPU1_MIG, replace(MIG1, identity=replace(MIG1.identity, uuid="")), MIG2],
        _DOWN_PARENT,
    ),
    MigSite(
        "nvmlDeviceGetMemoryInfo_v2",
        "1/1",
        lambda code: [
            GPU0,
            GPU1_MIG,
            _memory_v1(MIG1) if code in CACHED else replace(MIG1, **_NO_MEMORY),  # type: ignore[arg-type]
            MIG2,
        ],
        [*_DOWN_PARENT, GpuSample(MIG1.identity, up=False), GpuSample(MIG2.identity, up=False)],
    ),
    MigSite(
        "nvmlDeviceGetComputeRunningProcesses_v3",
        "1/1",
        lambda code: [
            GPU0,
            GPU1_MIG,
            MIG1 if code == FUNCTION_NOT_FOUND else replace(MIG1, processes=()),
            MIG2,
        ],
        [*_DOWN_PARENT, GpuSample(MIG1.identity, up=False), GpuSample(MIG2.identity, up=False)],
    ),
)


@pytest.mark.parametrize("code", ERRORS, ids=error_label)
@pytest.mark.parametrize("site", MIG_SITES, ids=lambda s: f"{s.call}@{s.device}")
def test_an_error_at_a_mig_call_site_costs_only_what_it_must(
    make_backend: Callable[..., NvmlBackend], site: MigSite, code: int
) -> None:
    fake = two_gpus(mig_gpu1())
    fake.inject(site.call, code, device=site.device)
    sample = make_backend(fake).sample()
    assert NvmlErrorRecord(site.call, error_label(code)) in sample.errors
    lost = lifecycle(site.call, code)
    assert list(sample.gpus) == (site.lost_rows if lost else site.rows(code))
    assert sample.complete is not lost


def test_an_empty_mig_slot_is_not_an_error(make_backend: Callable[..., NvmlBackend]) -> None:
    fake = two_gpus(mig_gpu1())
    sample = make_backend(fake).sample()
    assert fake.calls["nvmlDeviceGetMigDeviceHandleByIndex"] == 3
    assert not any(e.call == "nvmlDeviceGetMigDeviceHandleByIndex" for e in sample.errors)


# --- lifecycle --------------------------------------------------------------------------------


def test_a_lost_gpu_is_down_until_the_next_sample_reinitialises_nvml(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    fake.inject("nvmlDeviceGetPowerUsage", GPU_IS_LOST, device=1, times=1)
    backend = make_backend(fake)
    lost = backend.sample()
    assert lost.gpus == (GPU0, GpuSample(GPU1.identity, up=False))
    assert not lost.complete
    assert (fake.calls["nvmlShutdown"], fake.calls["nvmlInit"]) == (0, 1)
    recovered = backend.sample()
    assert (fake.calls["nvmlShutdown"], fake.calls["nvmlInit"]) == (1, 2)
    assert recovered.gpus == (GPU0, GPU1)
    assert recovered.complete and recovered.errors == ()


def test_reinits_back_off_while_a_gpu_stays_lost(
    make_backend: Callable[..., NvmlBackend], clock: Clock
) -> None:
    fake = two_gpus()
    backend = make_backend(fake)
    clock.now = 99.0
    backend.sample()
    fake.inject("*", GPU_IS_LOST, device=1)
    inits = []
    for step in (0.0, 1.0, 1.5, 2.0, 3.0, 4.0):
        clock.now = 100.0 + step
        sample = backend.sample()
        assert sample.gpus == (GPU0, GpuSample(GPU1.identity, up=False))
        inits.append(fake.calls["nvmlInit"])
    # Re-init on the next cycle, then after 1 s, then after 2 s; GPU 0 is read all along.
    assert inits == [1, 2, 2, 3, 3, 4]
    fake.clear()
    clock.now = 108.0
    assert backend.sample().gpus == (GPU0, GPU1)


def test_a_lost_gpu_keeps_its_last_known_identity_when_identity_calls_fail(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    backend = make_backend(fake)
    backend.sample()
    fake.inject("nvmlDeviceGetPowerUsage", GPU_IS_LOST, device=1, times=1)
    backend.sample()
    fake.inject("nvmlDeviceGetUUID", GPU_IS_LOST, device=1, times=1)
    sample = backend.sample()  # the re-init reads identities again, and GPU 1's uuid fails
    assert fake.calls["nvmlInit"] == 2
    assert sample.gpus == (GPU0, GpuSample(GPU1.identity, up=False))


def test_a_gpu_missing_after_a_reinit_stays_visible_as_down(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    backend = make_backend(fake)
    backend.sample()
    fake.inject("nvmlDeviceGetPowerUsage", GPU_IS_LOST, device=1, times=1)
    backend.sample()
    del fake.gpus[1]  # fell off the bus: the next init counts one GPU
    assert backend.sample().gpus == (GPU0, GpuSample(GPU1.identity, up=False))


@pytest.mark.parametrize("code", ERRORS, ids=error_label)
def test_a_shutdown_error_during_reinit_is_recorded_and_init_goes_on(
    make_backend: Callable[..., NvmlBackend], code: int
) -> None:
    fake = two_gpus()
    fake.inject("nvmlDeviceGetPowerUsage", GPU_IS_LOST, device=1, times=1)
    fake.inject("nvmlShutdown", code, times=1)
    backend = make_backend(fake)
    backend.sample()
    sample = backend.sample()
    assert sample.errors == (NvmlErrorRecord("nvmlShutdown", error_label(code)),)
    assert sample.gpus == (GPU0, GPU1)
    assert fake.calls["nvmlInit"] == 2


def test_not_supported_is_asked_once_per_init(make_backend: Callable[..., NvmlBackend]) -> None:
    fake = two_gpus()
    fake.inject("nvmlDeviceGetPowerUsage", NOT_SUPPORTED, device=1)
    backend = make_backend(fake)
    first = backend.sample()
    assert first.errors == (NvmlErrorRecord("nvmlDeviceGetPowerUsage", "not_supported"),)
    asked = fake.calls["nvmlDeviceGetPowerUsage"]
    second = backend.sample()
    assert second.errors == ()
    assert fake.calls["nvmlDeviceGetPowerUsage"] == asked + 1  # GPU 0 only
    assert second.gpus == (GPU0, replace(GPU1, power_watts=None))
    # A re-init asks again.
    fake.inject("nvmlDeviceGetTemperature", GPU_IS_LOST, device=0, times=1)
    backend.sample()
    again = backend.sample()
    assert NvmlErrorRecord("nvmlDeviceGetPowerUsage", "not_supported") in again.errors


def test_a_transient_error_is_asked_again_next_cycle(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    fake.inject("nvmlDeviceGetUUID", TIMEOUT, device=1, times=1)
    backend = make_backend(fake)
    assert backend.sample().gpus[1].identity.uuid == ""
    assert backend.sample().gpus == (GPU0, GPU1)


def test_close_is_idempotent_and_shuts_nvml_down_once(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    backend = make_backend(fake)
    backend.close()  # before any sample: nothing to shut down
    backend.sample()
    backend.close()
    backend.close()
    assert fake.calls["nvmlShutdown"] == 1
    assert not fake.initialized


# --- processes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("compute", "graphics", "expected"),
    [
        ([(7, 100)], [(7, 300)], 300),
        ([(7, 300)], [(7, 100)], 300),
        ([(7, None)], [(7, 100)], 100),
        ([(7, 100)], [(7, None)], 100),
        ([(7, None)], [(7, None)], None),
        ([], [(7, None)], None),
    ],
    ids=["graphics-larger", "compute-larger", "compute-na", "graphics-na", "both-na", "one-list"],
)
def test_a_pid_in_both_lists_is_one_process_with_the_larger_memory(
    make_backend: Callable[..., NvmlBackend],
    compute: list[tuple[int, int | None]],
    graphics: list[tuple[int, int | None]],
    expected: int | None,
) -> None:
    gpu = gpu1(
        compute=[FakeProcess(*p) for p in compute], graphics=[FakeProcess(*p) for p in graphics]
    )
    fake = FakeNvml([gpu], process_names={7: "/bin/worker"}, driver_version=DRIVER)
    sample = make_backend(fake).sample()
    assert sample.gpus[0].processes == (ProcessSample(7, "worker", expected),)


def test_a_name_is_looked_up_once_while_the_process_lives(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    backend = make_backend(fake)
    backend.sample()
    backend.sample()
    assert fake.calls["nvmlSystemGetProcessName"] == 5
    fake.gpus[0].compute = []  # 1001 exits ...
    backend.sample()
    fake.gpus[0].compute = [FakeProcess(1001, 1)]  # ... and its pid is reused
    backend.sample()
    assert fake.calls["nvmlSystemGetProcessName"] == 6


# --- XID events -------------------------------------------------------------------------------


def collect(backend: NvmlBackend, done: Callable[[list[HostSample]], bool]) -> list[HostSample]:
    """Sample until `done` holds for the samples so far (the watcher is a thread)."""
    samples: list[HostSample] = []
    for _ in range(1000):
        samples.append(backend.sample())
        if done(samples):
            return samples
        time.sleep(0.005)
    pytest.fail("the XID watcher never delivered")


def xids(samples: list[HostSample]) -> list[XidEvent]:
    return [e for s in samples for e in s.xid_events]


def errors(samples: list[HostSample]) -> set[NvmlErrorRecord]:
    return {e for s in samples for e in s.errors}


@pytest.mark.timeout(30)
def test_xid_events_reach_the_next_sample_and_close_stops_the_watcher(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    backend = make_backend(fake, xid_watch=True)
    backend.sample()
    fake.queue_xid(1, 79)
    fake.queue_xid(0, 48)
    samples = collect(backend, lambda s: len(xids(s)) == 2)
    assert xids(samples) == [XidEvent("GPU-1111", 79, NOW), XidEvent("GPU-0000", 48, NOW)]
    assert [h.key for h in fake.event_sets[0].registered] == ["0", "1"]
    backend.close()
    assert fake.event_sets[0].freed
    assert fake.calls["nvmlShutdown"] == 1
    backend.close()


@pytest.mark.timeout(30)
def test_xid_events_pending_at_a_reinit_are_not_lost(
    make_backend: Callable[..., NvmlBackend],
) -> None:
    fake = two_gpus()
    backend = make_backend(fake, xid_watch=True)
    backend.sample()
    fake.queue_xid(1, 79)
    fake.inject("nvmlEventSetWait_v2", GPU_IS_LOST, times=1)
    fake.queue_xid(0, 48)
    samples = collect(backend, lambda s: len(xids(s)) == 2 and fake.calls["nvmlInit"] == 2)
    assert NvmlErrorRecord("nvmlEventSetWait_v2", "gpu_is_lost") in errors(samples)
    assert sorted(e.xid for e in xids(samples)) == [48, 79]
    assert len(fake.event_sets) == 2 and fake.event_sets[0].freed


@dataclass(frozen=True)
class XidSite:
    call: str
    device: int | None = None


XID_SITES = (
    XidSite("nvmlEventSetCreate"),
    XidSite("nvmlDeviceRegisterEvents", device=1),
    XidSite("nvmlEventSetWait_v2"),
)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("code", ERRORS, ids=error_label)
@pytest.mark.parametrize("site", XID_SITES, ids=lambda s: s.call)
def test_an_error_in_the_xid_watcher_is_recorded_and_never_raised(
    make_backend: Callable[..., NvmlBackend], site: XidSite, code: int
) -> None:
    fake = two_gpus()
    fake.inject(site.call, code, device=site.device, times=1)
    backend = make_backend(fake, xid_watch=True)
    record: NvmlErrorRecord | None = NvmlErrorRecord(site.call, error_label(code))
    if site.call == "nvmlEventSetWait_v2" and code == TIMEOUT:
        record = None  # a wait that times out is the ordinary "no event"
    lost, cached = lifecycle(site.call, code), code in CACHED
    # An XID on GPU 0 is still delivered unless the watcher had to end or restart.
    fake.queue_xid(0, 31)

    def done(samples: list[HostSample]) -> bool:
        seen = record is None or record in errors(samples)
        if lost:
            return seen and fake.calls["nvmlInit"] == 2
        if site.call == "nvmlEventSetCreate" or (site.call == "nvmlEventSetWait_v2" and cached):
            return seen  # no event set, or a wait that will never work: no watch until re-init
        return seen and xids(samples) == [XidEvent("GPU-0000", 31, NOW)]

    samples = collect(backend, done)
    assert all(s.gpus == (GPU0, GPU1) for s in samples)


@pytest.mark.timeout(30)
def test_an_xid_whose_uuid_fails_is_kept(make_backend: Callable[..., NvmlBackend]) -> None:
    fake = two_gpus()
    backend = make_backend(fake, xid_watch=True)
    backend.sample()
    fake.inject("nvmlDeviceGetUUID", NO_PERMISSION, times=1)
    fake.queue_xid(1, 79)
    samples = collect(backend, lambda s: len(xids(s)) == 1)
    assert xids(samples) == [XidEvent("", 79, NOW)]
    assert NvmlErrorRecord("nvmlDeviceGetUUID", "no_permission") in errors(samples)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("code", ERRORS, ids=error_label)
def test_an_event_set_free_error_is_recorded_and_the_reinit_goes_on(
    make_backend: Callable[..., NvmlBackend], code: int
) -> None:
    fake = two_gpus()
    fake.inject("nvmlEventSetFree", code, times=1)
    backend = make_backend(fake, xid_watch=True)
    backend.sample()
    fake.inject("nvmlDeviceGetPowerUsage", GPU_IS_LOST, device=1, times=1)
    backend.sample()
    sample = backend.sample()  # the re-init stops the watcher, which frees its event set
    assert NvmlErrorRecord("nvmlEventSetFree", error_label(code)) in sample.errors
    assert sample.gpus == (GPU0, GPU1)
    assert fake.calls["nvmlInit"] == 2
    backend.close()
    assert fake.calls["nvmlEventSetFree"] == 2 and fake.event_sets[1].freed
    assert fake.calls["nvmlShutdown"] == 2


def test_every_call_site_of_the_backend_is_covered_by_an_error_test() -> None:
    package = Path(nvml_backend.__file__).parent
    source = "".join((package / f"nvml_{m}.py").read_text() for m in MODULES)
    made = set(re.findall(r'"(nvml(?:Init|Shutdown|System|Device|EventSet)\w*)"', source))
    made |= set(re.findall(r"\bnv\.(nvml(?:Init|Shutdown|System|Device|EventSet)\w*)\(", source))
    covered = {s.call for s in SITES} | {s.call for s in MIG_SITES} | {s.call for s in XID_SITES}
    covered |= {"nvmlInit", "nvmlDeviceGetCount", "nvmlShutdown", "nvmlEventSetFree"}
    assert made - covered == set()
    assert len(made) > 25


# --- error labels -----------------------------------------------------------------------------


def test_every_nvml_error_code_has_its_snake_case_label() -> None:
    names = [n for n in dir(pynvml) if n.startswith("NVML_ERROR_")]
    assert len(names) > 20
    for name in names:
        assert error_label(getattr(pynvml, name)) == name.removeprefix("NVML_ERROR_").lower()
    assert error_label(4242) == "code_4242"


def test_the_fake_has_the_signatures_of_the_real_module() -> None:
    functions = [n for n in dir(FakeNvml) if n.startswith("nvml")]
    assert len(functions) > 25
    for name in functions:
        fake = inspect.signature(getattr(FakeNvml, name))
        real = inspect.signature(getattr(pynvml, name))
        assert len(fake.parameters) - 1 == len(real.parameters), name  # less `self`


def test_without_a_driver_the_real_module_makes_the_backend_unavailable() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        expected = NvmlErrorRecord("nvmlInit", error_label(exc.value))
    else:
        pynvml.nvmlShutdown()
        pytest.skip("an NVIDIA driver is present: see test_the_real_driver_gives_sane_values")
    backend = NvmlBackend(xid_watch=False)
    for _ in range(2):  # and it tries again
        with pytest.raises(BackendUnavailableError) as raised:
            backend.sample()
        assert raised.value.errors == (expected,)
    backend.close()


# --- the real driver --------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.timeout(60)
def test_the_real_driver_gives_sane_values() -> None:
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        pytest.skip(f"no NVIDIA driver here: nvmlInit failed with {exc}")
    try:
        count = pynvml.nvmlDeviceGetCount()
    finally:
        pynvml.nvmlShutdown()
    backend = NvmlBackend()
    try:
        first = backend.sample()
        second = backend.sample()
    finally:
        backend.close()
    physical = [g for g in second.gpus if "/" not in g.identity.index]
    assert len(physical) == count >= 1
    assert first.complete and second.complete
    for gpu in physical:
        assert gpu.up
        assert gpu.identity.uuid.startswith("GPU-")
        assert gpu.identity.driver_version and gpu.identity.pci_bus_id
        assert gpu.identity.mig_mode in ("enabled", "disabled", "")
        assert gpu.memory_total_bytes is not None and gpu.memory_total_bytes > 0
        assert gpu.memory_used_bytes is not None and gpu.memory_free_bytes is not None
        assert gpu.memory_used_bytes + gpu.memory_free_bytes <= gpu.memory_total_bytes
        if gpu.utilization_ratio is not None:
            assert 0.0 <= gpu.utilization_ratio <= 1.0
        if gpu.temperature_celsius is not None:
            assert 0.0 < gpu.temperature_celsius < 120.0
        if gpu.power_watts is not None and gpu.power_limit_watts is not None:
            assert 0.0 < gpu.power_watts < 2 * gpu.power_limit_watts
        if gpu.throttle_reasons is not None:
            assert set(gpu.throttle_reasons) == set(THROTTLE_REASONS)
        for proc in gpu.processes:
            assert proc.pid > 0
    # What was not supported is not asked (nor counted) again; the XID watcher's errors are
    # left out, as they may land in either sample.
    watcher = ("nvmlEventSetCreate", "nvmlDeviceRegisterEvents", "nvmlEventSetWait_v2")
    assert not [e for e in second.errors if e.error == "not_supported" and e.call not in watcher]
