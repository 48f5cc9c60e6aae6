"""The whole collection path: NVML (a fake that fails anywhere) → poller → exposition → text.

Every check reads what a scraper reads: the rendered exposition, parsed back. The NVML call
sites are the ones a healthy read of the fake host makes, found by recording it, so a new call
site joins the error matrix by itself; what an error costs the backend's read is specified once,
in `test_nvml_backend` (`SITES`, `MIG_SITES`), and here it must reach the scrape intact.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pynvml
import pytest

from agentwatch.exporter.exposition import ExpositionCache
from agentwatch.exporter.leak import LeakAnalyzer, LeakSettings
from agentwatch.exporter.model import (
    Attribution,
    GpuIdentity,
    GpuSample,
    HostSample,
    ProcessSample,
    ProcessView,
    Snapshot,
)
from agentwatch.exporter.nvml_backend import NvmlBackend
from agentwatch.exporter.nvml_errors import error_label
from agentwatch.exporter.observations import observations
from agentwatch.exporter.poller import Poller
from agentwatch.exporter.sim.backend import SimAttributor, SimBackend, load_scenario
from tests.exporter.fake_nvml import GIB, FakeNvml, FakeProcess
from tests.exporter.test_exposition import Key, Scrape
from tests.exporter.test_nvml_backend import (
    COMM,
    MIG_SITES,
    SITES,
    MigSite,
    Site,
    mig_gpu1,
    two_gpus,
)

NOW = 1_700_000_000.0
START = 100.0
"""Monotonic time of the first cycle; wall time is always NOW + monotonic time."""

NOT_SUPPORTED = pynvml.NVML_ERROR_NOT_SUPPORTED
NO_PERMISSION = pynvml.NVML_ERROR_NO_PERMISSION
GPU_IS_LOST = pynvml.NVML_ERROR_GPU_IS_LOST
UNKNOWN = pynvml.NVML_ERROR_UNKNOWN
TIMEOUT = pynvml.NVML_ERROR_TIMEOUT
DRIVER_NOT_LOADED = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
FUNCTION_NOT_FOUND = pynvml.NVML_ERROR_FUNCTION_NOT_FOUND
CODES = (NOT_SUPPORTED, NO_PERMISSION, GPU_IS_LOST, UNKNOWN, TIMEOUT, DRIVER_NOT_LOADED)

LIBRARY_CALLS = ("nvmlInit", "nvmlDeviceGetCount")
"""Calls whose failure leaves the backend unable to read any GPU."""
HANDLE_CALLS = ("nvmlDeviceGetHandleByIndex", "nvmlDeviceGetMigDeviceHandleByIndex")
PROCESS_NAME = "nvmlSystemGetProcessName"

SUCCESS = "agentwatch_exporter_collect_success"
LAST_SUCCESS = "agentwatch_exporter_last_success_timestamp_seconds"
NVML_ERRORS = "agentwatch_exporter_nvml_errors_total"
GPU_UP = "agentwatch_gpu_up"
GPU_INFO = "agentwatch_gpu_info"
PROCESS_USED = "agentwatch_gpu_process_memory_used_bytes"
PROCESS_GROWTH = "agentwatch_gpu_process_memory_growth_bytes_per_second"

FAILING_CYCLES = 3
"""Cycles the error persists: long enough for the re-init to back off (0, 1, 2 s)."""
RECOVERY_CYCLES = 8
"""A bound on the cycles (1 s apart) to recover in, well past the backoff reached."""


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingAttributor:
    """Puts every pid in a container and pod named after it; records every `forget`."""

    def __init__(self) -> None:
        self.forgotten: list[set[int]] = []

    def attribute(self, pid: int) -> Attribution:
        return Attribution(f"ctr-{pid}", f"pod-{pid}", "serving")

    def forget(self, live_pids: set[int]) -> None:
        self.forgotten.append(set(live_pids))


class Published:
    """A `publish` callback: hands each snapshot to the cache and lets tests wait for one."""

    def __init__(self, cache: ExpositionCache) -> None:
        self.cache = cache
        self.snapshots: list[Snapshot] = []
        self.thread: threading.Thread | None = None
        self._changed = threading.Condition()

    def __call__(self, snapshot: Snapshot) -> None:
        self.cache.publish(snapshot)
        with self._changed:
            self.snapshots.append(snapshot)
            self.thread = threading.current_thread()
            self._changed.notify_all()

    def wait_for(self, done: Callable[[list[Snapshot]], bool], timeout: float = 5.0) -> bool:
        """Wait (bounded) until `done` holds for the snapshots published so far."""
        with self._changed:
            return self._changed.wait_for(lambda: done(self.snapshots), timeout)


def scrape(cache: ExpositionCache) -> Scrape:
    return Scrape.parse(cache.exposition(openmetrics=False, gzipped=False)[0])


@dataclass
class Cycle:
    snapshot: Snapshot
    scrape: Scrape


@dataclass
class Exporter:
    """The exporter's collection path, wired as `ExporterApp` wires it, on hand-moved clocks."""

    fake: FakeNvml
    backend: NvmlBackend
    mono: Clock
    wall: Clock
    attributor: RecordingAttributor = field(default_factory=RecordingAttributor)
    cache: ExpositionCache = field(init=False)
    poller: Poller = field(init=False)
    error_counts: dict[Key, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cache = ExpositionCache(60.0, clock=self.wall, process_metrics=False)
        self.poller = Poller(
            self.backend,
            self.attributor,
            self.cache.publish,
            analyzer=LeakAnalyzer(),
            clock=self.wall,
            monotonic=self.mono,
        )

    def cycle(self, step: float = 1.0) -> Cycle:
        """Run one cycle, scrape, check that no error counter went down, then move time on."""
        snapshot = self.poller.run_once()
        got = scrape(self.cache)
        counts = got.family(NVML_ERRORS)
        for key, before in self.error_counts.items():
            assert counts.get(key, -1.0) >= before, f"{key} went from {before} to {counts.get(key)}"
        self.error_counts = counts
        indices = [dict(labels)["gpu"] for _name, labels in got.family(GPU_UP)]
        assert len(indices) == len(set(indices)), f"a GPU is exposed twice: {got.family(GPU_UP)}"
        self.mono.now += step
        self.wall.now += step
        return Cycle(snapshot, got)


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    for pid, comm in COMM.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    return tmp_path


@pytest.fixture
def make_exporter(proc_root: Path) -> Iterator[Callable[..., Exporter]]:
    made: list[NvmlBackend] = []

    def make(fake: FakeNvml, xid_watch: bool = False) -> Exporter:
        mono, wall = Clock(START), Clock(NOW + START)
        backend = NvmlBackend(
            nvml=fake, clock=wall, monotonic=mono, xid_watch=xid_watch, proc_root=proc_root
        )
        made.append(backend)
        return Exporter(fake, backend, mono, wall)

    yield make
    for backend in made:
        backend.close()


# --- the call sites ---------------------------------------------------------------------------


def healthy_read(setup: tuple[str, ...] = ()) -> tuple[list[str], set[str]]:
    """The calls two reads of the standard host make: all in order, and those made again."""
    fake = two_gpus()
    for call in setup:
        fake.inject(call, FUNCTION_NOT_FOUND, device=1)
    backend = NvmlBackend(nvml=fake, xid_watch=False, proc_root="/nonexistent")
    try:
        backend.sample()
        first = Counter(fake.calls)
        backend.sample()
    finally:
        backend.close()
    again = fake.calls - first
    return list(first), set(again)


@dataclass(frozen=True)
class Case:
    """An NVML call site of the standard host and how to reach it."""

    call: str
    site: Site | None
    """Its effect on the backend's read, from `test_nvml_backend.SITES`; None if not there."""
    at_start: bool
    """Made only after an NVML init: the error is injected before the first cycle."""

    @property
    def setup(self) -> tuple[str, ...]:
        return self.site.setup if self.site else ()

    @property
    def device(self) -> int | None:
        return self.site.device if self.site else None


def _cases() -> tuple[Case, ...]:
    by_call = {site.call: site for site in SITES}
    calls, again = healthy_read()
    cases = [Case(call, by_call.get(call), call not in again) for call in calls]
    # Sites reached only where the newer API is missing (function not found on GPU 1).
    for site in SITES:
        if site.setup:
            calls, again = healthy_read(site.setup)
            assert site.call in calls, f"{site.setup} does not lead to {site.call}"
            cases.append(Case(site.call, site, site.call not in again))
    return tuple(cases)


CASES = _cases()


def test_the_call_sites_are_those_of_the_backend_tests() -> None:
    made = {case.call for case in CASES}
    assert len(made) > 20
    assert {site.call for site in SITES} <= made
    # A new call site joins the matrix below by itself, and needs its effect described.
    assert {case.call for case in CASES if case.site is None} == set(LIBRARY_CALLS)
    # Both kinds are there: calls made every cycle, and calls made once per NVML init.
    assert {"nvmlDeviceGetPowerUsage", "nvmlDeviceGetMemoryInfo"} <= {
        c.call for c in CASES if not c.at_start
    }
    assert {"nvmlInit", "nvmlDeviceGetUUID"} <= {c.call for c in CASES if c.at_start}


def lost(call: str, code: int) -> bool:
    """Whether `code` from `call` means the device (or the driver) is gone."""
    if call == HANDLE_CALLS[0]:
        return True  # without its handle a GPU is gone, whatever the code
    return code in (GPU_IS_LOST, DRIVER_NOT_LOADED) or (code == UNKNOWN and call in HANDLE_CALLS)


def remembered(call: str, code: int) -> bool:
    """Whether the backend keeps the error's effect after the call works again (by design).

    Not supported is an answer that holds until the next NVML init (the library calls are the
    init); a process name is looked up once while the process lives.
    """
    if call in LIBRARY_CALLS or call == HANDLE_CALLS[0]:
        return False  # re-initialised: asked again
    return code == NOT_SUPPORTED or call == PROCESS_NAME


def gpu_series(gpus: Sequence[GpuSample]) -> dict[Key, float]:
    """The `agentwatch_gpu_*` samples that a poller must expose for this backend read."""
    attribute = RecordingAttributor().attribute
    views = tuple(
        ProcessView(gpu.identity, p.pid, p.name, p.used_bytes, attribute(p.pid))
        for gpu in gpus
        if gpu.up
        for p in gpu.processes
    )
    snapshot = Snapshot(
        timestamp=0.0,
        simulated=False,
        gpus=tuple(gpus),
        processes=views,
        exhaustion_seconds={},
        xid={},
        nvml_errors={},
        collect_success=True,
        collect_duration_seconds=0.0,
        last_success_timestamp=None,
    )
    return {
        (spec.prom, tuple(sorted(zip(spec.labels, labels, strict=True)))): value
        for spec, samples in observations(snapshot)
        if spec.prom.startswith("agentwatch_gpu_")
        for labels, value in samples
    }


def diff(got: dict[Key, float], want: dict[Key, float]) -> str:
    """The series that differ, for a readable failure."""
    extra = {k: v for k, v in got.items() if want.get(k) != v}
    missing = {k: v for k, v in want.items() if got.get(k) != v}
    return f"unexpected {extra}, missing {missing}"


@dataclass(frozen=True)
class Expected:
    """What the scrape must show while an error lasts."""

    gpus: dict[Key, float]
    success: bool
    other_gpu_intact: bool


def expected_for(case: Case, code: int, healthy: Sequence[GpuSample]) -> Expected:
    g0, g1 = healthy
    if case.call in LIBRARY_CALLS:  # at start: no GPU was ever seen
        return Expected({}, success=False, other_gpu_intact=False)
    site = case.site
    assert site is not None, f"{case.call}: describe its effect in test_nvml_backend.SITES"
    unnamed = GpuIdentity("1", "", "", g0.identity.driver_version, "", "")
    is_lost = lost(case.call, code)
    if site.system:
        gpus = [site.effect(g0, code), site.effect(g1, code)]
    elif is_lost:
        ident = unnamed if site.before_identity and case.at_start else g1.identity
        gpus = [g0, GpuSample(ident, up=False)]
    elif site.cuts_read:
        gpus = [g0, GpuSample(unnamed, up=False)]
    else:
        gpus = [g0, site.effect(g1, code)]
    success = not (is_lost or site.cuts_read)
    return Expected(gpu_series(gpus), success, not site.system)


def check_failing(got: Cycle, call: str, code: int, want: Expected, success: bool) -> None:
    scraped = got.scrape
    count = scraped.value(NVML_ERRORS, call=call, error=error_label(code))
    assert count is not None and count >= 1
    assert scraped.value(SUCCESS) == (1.0 if success else 0.0)
    assert scraped.gpu() == want.gpus, diff(scraped.gpu(), want.gpus)


def run_error_matrix(
    exporter: Exporter,
    healthy: Cycle,
    inject: Callable[[], None],
    restore: Callable[[], None],
    call: str,
    code: int,
    want: Expected,
    at_start: bool,
) -> None:
    """Fail, keep failing, recover: the scrape is checked after every cycle."""
    if not at_start:
        first = exporter.cycle()
        assert first.scrape.gpu() == healthy.scrape.gpu()
        assert first.scrape.value(SUCCESS) == 1.0
    # Once the backend remembers the error it stops making the call: only a handle fetch that
    # is not supported keeps the read cut; anything else lost is re-initialised by then.
    kept = remembered(call, code)
    kept_success = want.success or not (call in HANDLE_CALLS and not lost(call, code))
    inject()
    for n in range(FAILING_CYCLES):
        got = exporter.cycle()
        check_failing(got, call, code, want, want.success if n == 0 or not kept else kept_success)
        if want.other_gpu_intact:
            assert got.scrape.gpu("0") == healthy.scrape.gpu("0")
        if n == 0:
            # The OpenMetrics rendering, which Prometheus asks for first, says the same.
            body = exporter.cache.exposition(openmetrics=True, gzipped=False)[0]
            assert Scrape.parse(body, openmetrics=True).gpu() == want.gpus
            expected_last = got.snapshot.timestamp if want.success else None
            if not want.success and not at_start:
                expected_last = healthy.snapshot.timestamp
            assert got.scrape.value(LAST_SUCCESS) == expected_last
    restore()
    targets = [(healthy.scrape.gpu(), True)]
    if kept:
        targets.append((want.gpus, kept_success))
    for _ in range(RECOVERY_CYCLES):
        got = exporter.cycle()
        state = (got.scrape.gpu(), got.scrape.value(SUCCESS) == 1.0)
        if state in targets:
            break
    else:
        pytest.fail(f"not recovered in {RECOVERY_CYCLES} cycles: {diff(state[0], targets[0][0])}")
    if state[1]:
        assert got.scrape.value(LAST_SUCCESS) == got.snapshot.timestamp
    steady = exporter.cycle()  # and it stays so
    assert (steady.scrape.gpu(), steady.scrape.value(SUCCESS) == 1.0) == state


@pytest.mark.parametrize("code", CODES, ids=error_label)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.call)
def test_an_nvml_error_at_any_call_site_is_counted_and_costs_only_its_series(
    make_exporter: Callable[..., Exporter], case: Case, code: int
) -> None:
    def host() -> FakeNvml:
        fake = two_gpus()
        for call in case.setup:
            fake.inject(call, FUNCTION_NOT_FOUND, device=1)
        return fake

    twin = make_exporter(host())  # the same host, healthy: the reference
    healthy = twin.cycle()
    assert healthy.scrape.value(SUCCESS) == 1.0
    exporter = make_exporter(host())

    def restore() -> None:
        exporter.fake.clear()
        for call in case.setup:
            exporter.fake.inject(call, FUNCTION_NOT_FOUND, device=1)

    run_error_matrix(
        exporter,
        healthy,
        lambda: exporter.fake.inject(case.call, code, device=case.device),
        restore,
        case.call,
        code,
        expected_for(case, code, healthy.snapshot.gpus),
        case.at_start,
    )


@pytest.mark.parametrize("code", CODES, ids=error_label)
@pytest.mark.parametrize("site", MIG_SITES, ids=lambda s: f"{s.call}@{s.device}")
def test_an_nvml_error_at_a_mig_call_site_is_counted_and_costs_only_its_series(
    make_exporter: Callable[..., Exporter], site: MigSite, code: int
) -> None:
    twin = make_exporter(two_gpus(mig_gpu1()))
    healthy = twin.cycle()
    assert healthy.scrape.value(SUCCESS) == 1.0
    exporter = make_exporter(two_gpus(mig_gpu1()))
    is_lost = lost(site.call, code)
    rows = site.lost_rows if is_lost else site.rows(code)
    want = Expected(gpu_series(rows), not is_lost, True)
    run_error_matrix(
        exporter,
        healthy,
        lambda: exporter.fake.inject(site.call, code, device=site.device),
        exporter.fake.clear,
        site.call,
        code,
        want,
        at_start=True,  # MIG devices are bound once per NVML init
    )


# --- the backend becomes unavailable ----------------------------------------------------------


@pytest.mark.parametrize("code", [DRIVER_NOT_LOADED, UNKNOWN], ids=error_label)
@pytest.mark.parametrize("call", LIBRARY_CALLS)
def test_gpus_seen_before_the_backend_became_unavailable_stay_visible_as_down(
    make_exporter: Callable[..., Exporter], call: str, code: int
) -> None:
    exporter = make_exporter(two_gpus())
    healthy = exporter.cycle()
    exporter.fake.inject("nvmlDeviceGetPowerUsage", GPU_IS_LOST, device=1, times=1)
    exporter.cycle()  # GPU 1 is lost: the next cycle re-initialises NVML ...
    exporter.fake.inject(call, code, times=2)  # ... which fails, and fails again
    info = healthy.scrape.family(GPU_INFO)
    for failures in (1.0, 2.0):
        got = exporter.cycle()
        assert got.scrape.value(SUCCESS) == 0.0
        assert got.scrape.value(NVML_ERRORS, call=call, error=error_label(code)) == failures
        assert got.scrape.gpu() == {
            **info,
            (GPU_UP, (("gpu", "0"), ("uuid", "GPU-0000"))): 0.0,
            (GPU_UP, (("gpu", "1"), ("uuid", "GPU-1111"))): 0.0,
        }
        assert got.scrape.value(LAST_SUCCESS) == healthy.snapshot.timestamp
    recovered = exporter.cycle()
    assert recovered.scrape.value(SUCCESS) == 1.0
    assert recovered.scrape.gpu() == healthy.scrape.gpu()
    assert recovered.scrape.value(LAST_SUCCESS) == recovered.snapshot.timestamp


# --- a backend with a bug ---------------------------------------------------------------------

IDENTITY = GpuIdentity("0", "GPU-abcd", "Fake GPU", "1.0", "00000000:01:00.0", "disabled")


class FlakyBackend:
    """Raises `RuntimeError` on the samples numbered in `failing` (from 0), else reads one GPU."""

    def __init__(self, failing: set[int], wall: Callable[[], float] = time.time) -> None:
        self.failing = failing
        self.wall = wall
        self.samples = 0

    @property
    def simulated(self) -> bool:
        return False

    def sample(self) -> HostSample:
        n, self.samples = self.samples, self.samples + 1
        if n in self.failing:
            raise RuntimeError(f"bug in sample {n}")
        gpu = GpuSample(IDENTITY, memory_used_bytes=GIB, processes=(ProcessSample(7, "w", GIB),))
        return HostSample(self.wall(), time.monotonic(), (gpu,))

    def close(self) -> None:
        pass


def test_a_backend_bug_is_counted_and_the_cycle_still_publishes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wall = Clock(NOW)
    cache = ExpositionCache(60.0, clock=wall, process_metrics=False)
    backend = FlakyBackend({0, 2}, wall)
    poller = Poller(backend, RecordingAttributor(), cache.publish, clock=wall)
    up = (GPU_UP, (("gpu", "0"), ("uuid", "GPU-abcd")))

    poller.run_once()  # before any GPU was seen
    got = scrape(cache)
    assert got.value(SUCCESS) == 0.0
    assert got.family(NVML_ERRORS) == {
        (NVML_ERRORS, (("call", "sample"), ("error", "exception"))): 1.0
    }
    assert got.gpu() == {}
    assert got.value(LAST_SUCCESS) is None
    assert "GPU backend failed unexpectedly" in caplog.text
    assert "RuntimeError: bug in sample 0" in caplog.text

    wall.now += 1
    poller.run_once()
    got = scrape(cache)
    assert got.value(SUCCESS) == 1.0 and got.gpu()[up] == 1.0

    wall.now += 1
    poller.run_once()  # the GPU seen before stays, down, with its identity
    got = scrape(cache)
    assert got.value(SUCCESS) == 0.0
    assert got.gpu()[up] == 0.0
    assert len(got.family(GPU_INFO)) == 1
    assert got.value(NVML_ERRORS, call="sample", error="exception") == 2.0
    assert got.value(LAST_SUCCESS) == NOW + 1


@pytest.mark.timeout(30)
def test_the_loop_survives_a_backend_bug() -> None:
    cache = ExpositionCache(60.0, process_metrics=False)
    published = Published(cache)
    poller = Poller(FlakyBackend({0}), RecordingAttributor(), published, interval_seconds=0.01)
    poller.start()
    try:
        assert published.wait_for(lambda snaps: any(s.collect_success for s in snaps))
    finally:
        poller.stop()
    first = published.snapshots[0]
    good = next(s for s in published.snapshots if s.collect_success)
    assert not first.collect_success
    assert good.nvml_errors == {("sample", "exception"): 1}
    assert published.thread is not None and published.thread is not threading.current_thread()
    assert not published.thread.is_alive()


# --- XID events -------------------------------------------------------------------------------


def test_xid_events_of_the_sim_scenario_are_counted_per_gpu_and_code() -> None:
    step, cycles = 5.0, 121  # 600 s of simulated time
    mono, wall = Clock(START), Clock(NOW + START)
    backend = SimBackend(load_scenario("xid", 0), clock=wall, monotonic=mono)
    cache = ExpositionCache(60.0, clock=wall, process_metrics=False)
    poller = Poller(backend, SimAttributor(backend), cache.publish, clock=wall, monotonic=mono)
    for _ in range(cycles):
        poller.run_once()
        mono.now += step
        wall.now += step
    got = scrape(cache)

    # Independently: each event recurs every `xid_repeat` s and is seen by the first cycle at
    # or after it (the first cycle, at t = 0, has nothing before it to see).
    gpu = backend.scenario.gpus[0]
    end = (cycles - 1) * step
    counts: Counter[int] = Counter()
    last: dict[int, float] = {}
    for at, code in gpu.xid_events:
        t = at
        while t <= end:
            seen = step * -(-t // step)  # the first cycle time >= t
            counts[code] += 1
            last[code] = max(last.get(code, 0.0), NOW + START + seen)
            t += gpu.xid_repeat
    uuid = next(dict(k[1])["uuid"] for k in got.family(GPU_INFO) if ("gpu", "0") in k[1])
    labels = {code: (("gpu", "0"), ("uuid", uuid), ("xid", str(code))) for code in counts}
    assert len(counts) == 7 and max(counts.values()) == 3 and min(counts.values()) == 2
    assert got.family("agentwatch_gpu_xid_errors_total") == {
        ("agentwatch_gpu_xid_errors_total", labels[code]): float(n) for code, n in counts.items()
    }
    assert got.family("agentwatch_gpu_xid_last_timestamp_seconds") == {
        ("agentwatch_gpu_xid_last_timestamp_seconds", labels[code]): t for code, t in last.items()
    }


@pytest.mark.timeout(30)
def test_xid_events_from_nvml_reach_the_scrape_with_their_gpu(
    make_exporter: Callable[..., Exporter],
) -> None:
    exporter = make_exporter(two_gpus(), xid_watch=True)
    exporter.cycle()
    for device, xid in ((1, 79), (1, 79), (0, 48)):
        exporter.fake.queue_xid(device, xid)
    wall = exporter.wall.now  # frozen while the watcher delivers: the events' timestamp
    family = "agentwatch_gpu_xid_errors_total"
    for _ in range(1000):
        got = exporter.cycle(step=0.0)
        if sum(got.scrape.family(family).values()) == 3:
            break
        time.sleep(0.005)  # the watcher is a thread: give it the time it needs, bounded
    else:
        pytest.fail("the XID events never reached the scrape")
    gpu1 = (("gpu", "1"), ("uuid", "GPU-1111"), ("xid", "79"))
    gpu0 = (("gpu", "0"), ("uuid", "GPU-0000"), ("xid", "48"))
    assert got.scrape.family(family) == {(family, gpu1): 2.0, (family, gpu0): 1.0}
    last = "agentwatch_gpu_xid_last_timestamp_seconds"
    assert got.scrape.family(last) == {(last, gpu1): wall, (last, gpu0): wall}
    assert got.scrape.value(SUCCESS) == 1.0


# --- processes --------------------------------------------------------------------------------


def test_an_exited_process_disappears_and_its_attribution_is_forgotten(
    make_exporter: Callable[..., Exporter],
) -> None:
    exporter = make_exporter(two_gpus())
    # Short analysis windows, so that growth verdicts (0: steady) appear within the test.
    exporter.poller = Poller(
        exporter.backend,
        exporter.attributor,
        exporter.cache.publish,
        analyzer=LeakAnalyzer(LeakSettings(window_seconds=20, grace_seconds=5)),
        clock=exporter.wall,
        monotonic=exporter.mono,
    )
    live = {1001, 1002, 2001, 2002, 2003}
    for _ in range(30):
        got = exporter.cycle()
    assert exporter.attributor.forgotten == [live] * 30

    def pids(name: str) -> set[str]:
        return {dict(labels)["pid"] for _n, labels in got.scrape.family(name)}

    # 2002's memory is unknown to NVML: neither a memory series nor a verdict, and no zero.
    assert pids(PROCESS_USED) == pids(PROCESS_GROWTH) == {"1001", "1002", "2001", "2003"}
    glxgears = (
        ("container", "ctr-2003"),
        ("gpu", "1"),
        ("namespace", "serving"),
        ("pid", "2003"),
        ("pod", "pod-2003"),
        ("process", "glxgears"),
        ("uuid", "GPU-1111"),
    )
    assert got.scrape.value(PROCESS_USED, **dict(glxgears)) == 128 * 2**20
    assert got.scrape.value(PROCESS_GROWTH, **dict(glxgears)) == 0.0

    exporter.fake.gpus[1].graphics = [FakeProcess(2001, 3 * GIB)]  # glxgears exits
    got = exporter.cycle()
    assert pids(PROCESS_USED) == pids(PROCESS_GROWTH) == {"1001", "1002", "2001"}
    assert exporter.attributor.forgotten[-1] == live - {2003}
    assert got.scrape.value(SUCCESS) == 1.0


def test_the_processes_of_a_lost_gpu_are_not_exposed(
    make_exporter: Callable[..., Exporter],
) -> None:
    exporter = make_exporter(two_gpus())
    exporter.cycle()
    exporter.fake.inject("nvmlDeviceGetTemperature", GPU_IS_LOST, device=1, times=1)
    got = exporter.cycle()
    gpus = {dict(labels)["gpu"] for _n, labels in got.scrape.family(PROCESS_USED)}
    assert gpus == {"0"}
    assert exporter.attributor.forgotten[-1] == {1001, 1002}


# --- the poller thread ------------------------------------------------------------------------


@pytest.mark.timeout(30)
def test_the_thread_publishes_at_its_interval_until_stopped() -> None:
    published = Published(ExpositionCache(60.0, process_metrics=False))
    poller = Poller(FlakyBackend(set()), RecordingAttributor(), published, interval_seconds=0.01)
    poller.start()
    try:
        assert published.wait_for(lambda snaps: len(snaps) >= 5)
    finally:
        poller.stop()
    assert published.thread is not None and not published.thread.is_alive()
    assert all(s.collect_success for s in published.snapshots)
    stamps = [s.timestamp for s in published.snapshots]
    assert stamps == sorted(stamps)


class BlockingBackend:
    """Reads one GPU; while `block` is set, `sample()` waits for `release` (a wedged driver)."""

    def __init__(self, wall: Callable[[], float]) -> None:
        self.wall = wall
        self.block = threading.Event()
        self.release = threading.Event()
        self.entered = threading.Event()

    @property
    def simulated(self) -> bool:
        return False

    def sample(self) -> HostSample:
        if self.block.is_set():
            self.entered.set()
            if not self.release.wait(20):
                raise RuntimeError("never released")
        gpu = GpuSample(IDENTITY, memory_used_bytes=GIB)
        return HostSample(self.wall(), time.monotonic(), (gpu,))

    def close(self) -> None:
        self.release.set()


def scrape_in_thread(cache: ExpositionCache) -> Scrape:
    """Scrape from another thread, as the HTTP server does; fail if the scrape blocks."""
    result: list[Scrape] = []
    worker = threading.Thread(target=lambda: result.append(scrape(cache)), daemon=True)
    worker.start()
    worker.join(5.0)
    assert result, "the scrape blocked while the collection was stuck"
    return result[0]


@pytest.mark.timeout(30)
def test_a_wedged_backend_never_blocks_a_scrape_and_goes_stale() -> None:
    wall = Clock(NOW)
    cache = ExpositionCache(10.0, clock=wall, process_metrics=False)
    published = Published(cache)
    backend = BlockingBackend(wall)
    poller = Poller(backend, RecordingAttributor(), published, interval_seconds=0.01, clock=wall)
    poller.start()
    try:
        assert published.wait_for(lambda snaps: len(snaps) >= 2)
        backend.block.set()
        assert backend.entered.wait(5.0)
        before = scrape_in_thread(cache)  # the collection is stuck inside the driver now
        count = len(published.snapshots)
        assert before.value(SUCCESS) == 1.0
        assert before.value(GPU_UP, gpu="0", uuid="GPU-abcd") == 1.0

        wall.now += 10.5  # past the stale threshold
        stale = scrape_in_thread(cache)
        assert stale.value(SUCCESS) == 0.0
        assert stale.without(SUCCESS) == before.without(SUCCESS)
        latest = cache.latest()
        assert latest is not None and latest.stale
        assert len(published.snapshots) == count  # nothing was published meanwhile

        backend.block.clear()
        backend.release.set()
        assert published.wait_for(lambda snaps: len(snaps) > count)
        recovered = scrape_in_thread(cache)
        assert recovered.value(SUCCESS) == 1.0
        assert recovered.value(LAST_SUCCESS) == NOW + 10.5
        latest = cache.latest()
        assert latest is not None and not latest.stale
    finally:
        backend.release.set()
        poller.stop()
