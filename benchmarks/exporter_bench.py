"""Exporter benchmark: CPU of a collection cycle and of a scrape, and resident memory.

The host is `scenarios.node` (8 GPUs x 8 processes). Every number comes with a plain
prometheus_client baseline measured in the same run, and the ratio to it (see README.md).
Exits 0 unless `--check` is given and a target is missed.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import gc
import gzip
import http.client
import logging
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import prometheus_client as prom
from prometheus_client import generate_latest as text_of
from prometheus_client.openmetrics.exposition import generate_latest as _openmetrics

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_report import Row, exit_code, table, write_json  # noqa: E402

from agentwatch.exporter.app import ExporterApp, ExporterOptions
from agentwatch.exporter.exposition import ExpositionCache
from agentwatch.exporter.leak import LeakAnalyzer, LeakVerdicts
from agentwatch.exporter.model import HostSample, Snapshot
from agentwatch.exporter.observations import observations
from agentwatch.exporter.poller import Poller
from agentwatch.exporter.sim.backend import SimAttributor, SimBackend
from agentwatch.exporter.sim.scenarios import node

SEED = 0
SERVE_WARMUP = 70  # cycles before an HTTP child serves: past the leak grace, growth series exist
# What Prometheus 2.x asks for by default: OpenMetrics first, gzip.
PROMETHEUS = {
    "Accept": "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;"
    "version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
    "Accept-Encoding": "gzip",
}
FLOOR = """import time, prometheus_client as p
server, _ = p.start_http_server(0, "127.0.0.1", p.CollectorRegistry())
print(server.server_port, flush=True)
time.sleep(3600)"""


@dataclasses.dataclass(frozen=True)
class Counts:
    """How much one run measures; `warmup` cycles fill the leak analysis' 480 s of history."""

    warmup: int
    cycles: int
    scrapes: int
    http: int
    memory_seconds: float


FULL = Counts(warmup=600, cycles=300, scrapes=2000, http=300, memory_seconds=15.0)
QUICK = Counts(warmup=5, cycles=5, scrapes=20, http=5, memory_seconds=1.0)


class Clock:
    """Injected wall and monotonic clocks that move one second per `tick()`."""

    def __init__(self) -> None:
        self.base, self.t = time.time(), 0.0

    def tick(self) -> None:
        self.t += 1.0

    def wall(self) -> float:
        return self.base + self.t

    def mono(self) -> float:
        return 1e4 + self.t


def record(n: int) -> list[HostSample]:
    """`n` samples of the simulated node, one simulated second apart."""
    clock = Clock()
    sim = SimBackend(node(SEED), SEED, clock=clock.wall, monotonic=clock.mono)
    samples = []
    for _ in range(n):
        clock.tick()
        samples.append(sim.sample())
    gc.freeze()  # a real exporter holds no recording: keep it out of every GC pass
    return samples


class ReplayBackend(SimBackend):
    """Recorded samples, restamped, so the backend costs ~0: NVML time is excluded.

    A SimBackend only so that the app attributes processes to pods as the scenario does.
    """

    def __init__(self, samples: Sequence[HostSample], clock: Clock) -> None:
        super().__init__(node(SEED), SEED, clock=clock.wall, monotonic=clock.mono)
        self._samples, self._now, self._i, self.cpu = samples, clock, 0, 0.0

    def sample(self) -> HostSample:
        started, now = time.thread_time(), self._now
        recorded = self._samples[self._i % len(self._samples)]
        self._i += 1
        sample = dataclasses.replace(recorded, timestamp=now.wall(), monotonic=now.mono())
        self.cpu += time.thread_time() - started
        return sample


class TimedAnalyzer(LeakAnalyzer):
    """The leak analysis, adding up its own CPU time."""

    cpu = 0.0

    def update(
        self,
        now: float,
        gpus: Iterable[tuple[str, float | None, float | None]],
        processes: Iterable[tuple[str, int, float]],
    ) -> LeakVerdicts:
        started = time.thread_time()
        try:
            return super().update(now, gpus, processes)
        finally:
            self.cpu += time.thread_time() - started


def drive(poller: Poller, clock: Clock, cycles: int) -> Snapshot:
    """Run `cycles` collection cycles a simulated second apart; return the last snapshot."""
    for _ in range(cycles):
        clock.tick()
        snapshot = poller.run_once()
    assert snapshot.collect_success, "the replayed collection failed"
    return snapshot


@functools.cache
def default_collectors() -> tuple[Any, ...]:
    """The default registry's collectors, made once as a plain exporter's would be."""
    spare = prom.CollectorRegistry()  # GCCollector insists on registering somewhere
    made = prom.ProcessCollector(registry=None), prom.PlatformCollector(registry=None)
    return (*made, prom.GCCollector(spare))


def naive_registry(snapshot: Snapshot) -> prom.CollectorRegistry:
    """What a plain prometheus_client exporter does each cycle: fresh Gauges, set per sample."""
    registry = prom.CollectorRegistry()
    for collector in default_collectors():
        registry.register(collector)
    for spec, samples in observations(snapshot):
        gauge = prom.Gauge(spec.prom, spec.help, spec.labels, registry=registry)
        for labels, value in samples:
            (gauge.labels(*labels) if labels else gauge).set(value)
    return registry


def openmetrics_of(registry: prom.CollectorRegistry) -> bytes:
    return _openmetrics(registry)  # type: ignore[no-untyped-call,no-any-return]


def per_call(fn: Callable[[], object], n: int, before: Callable[[], object] = int) -> list[float]:
    """CPU seconds of each of `n` calls of `fn`, less the timer's own; `before` runs untimed."""
    cost = statistics.median([-time.thread_time() + time.thread_time() for _ in range(999)])
    out = []
    for _ in range(n):
        before()
        started = time.thread_time()
        fn()
        out.append(max(0.0, time.thread_time() - started - cost))
    return out


def spread(name: str, ours: Sequence[float], base: Sequence[float], target: float) -> list[Row]:
    """Median and p99 rows in ms, each against the same statistic of the baseline."""

    def p99(values: Sequence[float]) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[98]

    return [
        Row(f"{name}.{stat.__name__}", stat(ours) * 1e3, "ms", stat(base) * 1e3, target)
        for stat in (statistics.median, p99)
    ]


def bench_cycle(counts: Counts) -> tuple[list[Row], ExpositionCache, Snapshot]:
    """Cycles with full leak history, each followed by the naive cycle on the same data."""
    clock, publish_cpu = Clock(), [0.0]
    backend = ReplayBackend(record(counts.warmup + counts.cycles), clock)
    cache = ExpositionCache(stale_after_seconds=10.0, clock=clock.wall)

    def publish(snapshot: Snapshot) -> None:  # renders the forms scraped lately: part of the cycle
        started = time.thread_time()
        cache.publish(snapshot)
        publish_cpu[0] += time.thread_time() - started

    analyzer = TimedAnalyzer()
    poller = Poller(backend, SimAttributor(backend), publish, 1.0, analyzer, clock.wall, clock.mono)
    snapshot = drive(poller, clock, counts.warmup)
    publish_cpu[0] = analyzer.cpu = backend.cpu = 0.0
    ours, base = [], []
    for _ in range(counts.cycles):  # interleaved, so both see the same machine and heap
        clock.tick()
        # A Prometheus scrape between cycles (untimed): the next publish renders its form,
        # OpenMetrics with gzip, and the default text form stays hot too.
        cache.exposition(openmetrics=True, gzipped=True)
        cache.exposition(openmetrics=False, gzipped=False)
        started = time.thread_time()
        snapshot = poller.run_once()
        middle = time.thread_time()
        text_of(naive_registry(snapshot))
        ours.append(middle - started)
        base.append(time.thread_time() - middle)
    percent = 100 / sum(ours)
    return (
        spread("cycle.cpu", ours, base, 10.0)
        + [
            Row("cycle.share.render", publish_cpu[0] * percent, "%"),
            Row("cycle.share.leak_analysis", analyzer.cpu * percent, "%"),
            Row("cycle.share.backend_replay", backend.cpu * percent, "%"),
        ],
        cache,
        snapshot,
    )


def bench_scrape(counts: Counts, cache: ExpositionCache, snapshot: Snapshot) -> list[Row]:
    """In-process scrapes of the cache against prometheus_client rendering the same data."""
    registry = naive_registry(snapshot)
    cache.publish(snapshot)

    def ours(openmetrics: bool, gzipped: bool) -> Callable[[], object]:
        cache.exposition(openmetrics=openmetrics, gzipped=gzipped)  # the first scrape renders
        return lambda: cache.exposition(openmetrics=openmetrics, gzipped=gzipped)

    n = counts.scrapes
    text = per_call(ours(False, False), n), per_call(lambda: text_of(registry), n)
    gz = per_call(ours(False, True), n), per_call(lambda: gzip.compress(text_of(registry)), n)
    # What Prometheus asks for is rendered by the first scrape after each new snapshot.
    first = per_call(ours(True, True), counts.cycles, lambda: cache.publish(snapshot))
    om_base = per_call(lambda: gzip.compress(openmetrics_of(registry)), counts.cycles)
    return (
        spread("scrape.text_cached", *text, 2.0)
        + spread("scrape.gzip_cached", *gz, 2.0)
        + spread("scrape.prometheus_first_after_cycle", first, om_base, 2.0)
    )


def serve(mode: str) -> None:
    """HTTP child: serve the node; answer each line on stdin with this process's CPU seconds."""
    clock = Clock()
    backend = ReplayBackend(record(SERVE_WARMUP), clock)
    if mode == "ours":  # one collection an hour: the CPU measured is the scrapes'
        app = ExporterApp(ExporterOptions(listen="127.0.0.1:0", interval=3600.0), backend)
        app.start()
        while not app.cache.ready():  # the poller thread's first cycle; the next is in an hour
            time.sleep(0.01)
        assert app.poller is not None
        drive(app.poller, clock, SERVE_WARMUP)
        port = app.server.address[1]
    else:  # prometheus_client's own server renders on every scrape
        poller = Poller(backend, SimAttributor(backend), lambda s: None)
        registry = naive_registry(drive(poller, clock, SERVE_WARMUP))
        port = prom.start_http_server(0, "127.0.0.1", registry)[0].server_port
    print(port, flush=True)
    for _ in sys.stdin:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        print(usage.ru_utime + usage.ru_stime, flush=True)


def get(conn: http.client.HTTPConnection, headers: dict[str, str]) -> None:
    conn.request("GET", "/metrics", headers=headers)
    response = conn.getresponse()
    body = response.read()
    assert response.status == 200 and body, f"GET /metrics answered {response.status}"


def http_scrapes(mode: str, n: int) -> dict[str, tuple[float, float]]:
    """(server CPU, client wall) seconds per sequential GET on one connection, by request kind."""
    command = [sys.executable, __file__, "--serve", mode]
    child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    stdin, stdout = child.stdin, child.stdout
    assert stdin is not None and stdout is not None

    def cpu() -> float:
        stdin.write("cpu\n")
        stdin.flush()
        return float(stdout.readline())

    try:
        conn = http.client.HTTPConnection("127.0.0.1", int(stdout.readline()), timeout=30)
        result = {}
        for kind, headers in (("text", {}), ("prometheus", PROMETHEUS)):
            get(conn, headers)  # renders this variant once, as the first scraper would
            cpu_before, wall_before = cpu(), time.perf_counter()
            for _ in range(n):
                get(conn, headers)
            wall = time.perf_counter() - wall_before
            result[kind] = ((cpu() - cpu_before) / n, wall / n)
        conn.close()
        return result
    finally:
        stdin.close()
        child.wait(30)


def bench_http(counts: Counts) -> list[Row]:
    ours, base = http_scrapes("ours", counts.http), http_scrapes("baseline", counts.http)
    return [
        Row(f"scrape.http_{kind}_cached.{what}", ours[kind][i] * 1e3, "ms", base[kind][i] * 1e3, t)
        for kind in ("text", "prometheus")
        for i, what, t in ((0, "server_cpu", 2.0), (1, "client_wall", None))
    ]


def wait_for_port(log: IO[str], child: subprocess.Popen[str]) -> int:
    """The port the exporter says it serves on (it was asked for port 0)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and child.poll() is None:
        log.seek(0)
        if found := re.search(r"serving /metrics on \S+:(\d+)", log.read()):
            return int(found.group(1))
        time.sleep(0.05)
    log.seek(0)
    raise RuntimeError(f"the exporter did not start:\n{log.read()}")


def vm_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of `pid` in MB (10^6 bytes)."""
    with open(f"/proc/{pid}/status") as status:
        fields = dict(line.split(":", 1) for line in status)
    return {key: int(fields[key].split()[0]) * 1024 / 1e6 for key in ("VmRSS", "VmHWM")}


def bench_memory(counts: Counts) -> list[Row]:
    """`agentwatch exporter` on the simulated node against a bare prometheus_client server."""
    command = [sys.executable, "-m", "agentwatch", "exporter", "--gpu-backend", "sim"]
    command += ["--sim-scenario", "node", "--listen", "127.0.0.1:0"]
    with tempfile.TemporaryFile("w+") as log:
        ours = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, text=True)
        floor = subprocess.Popen([sys.executable, "-c", FLOOR], stdout=subprocess.PIPE, text=True)
        try:
            assert floor.stdout is not None
            ports = wait_for_port(log, ours), int(floor.stdout.readline())
            conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=30) for port in ports]
            deadline = time.monotonic() + counts.memory_seconds
            while True:
                for conn in conns:
                    get(conn, PROMETHEUS)
                if time.monotonic() >= deadline:
                    break
                time.sleep(1.0)
            mine, bare = vm_mb(ours.pid), vm_mb(floor.pid)
        finally:
            for child in (ours, floor):
                child.terminate()
                child.wait(30)
    return [
        Row("memory.rss", mine["VmRSS"], "MB", bare["VmRSS"], 60.0),
        Row("memory.peak_rss", mine["VmHWM"], "MB", bare["VmHWM"], 60.0),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny counts, for the smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--serve", choices=("ours", "baseline"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # keeps the simulated-backend banner out
    if args.serve:
        serve(args.serve)
        return 0
    counts = QUICK if args.quick else FULL
    rows, cache, snapshot = bench_cycle(counts)
    rows += bench_scrape(counts, cache, snapshot) + bench_http(counts) + bench_memory(counts)
    print(f"agentwatch exporter benchmark: 8 GPUs x 8 processes; {counts}")
    print(table(rows))
    if args.json:
        write_json(args.json, rows, counts=dataclasses.asdict(counts))
    return exit_code(rows, args.check)


if __name__ == "__main__":
    sys.exit(main())
