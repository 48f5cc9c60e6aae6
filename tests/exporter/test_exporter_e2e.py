"""End to end: the real `agentwatch exporter` command, in a subprocess, on loopback ports.

Each test starts `python -m agentwatch exporter` from this interpreter (so the virtualenv's
install is what runs), scrapes it over HTTP, and where marked, has a real Prometheus and
promtool read it. Every wait is bounded and every process is stopped by a fixture.
"""

from __future__ import annotations

import functools
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agentwatch import names
from agentwatch.errors import AgentwatchError
from agentwatch.exporter.sim.backend import load_scenario
from agentwatch.exporter.sim.workloads import Leak
from tests.helpers import require_binary
from tests.prometheus import LOOPBACK, PrometheusServer, ScrapeJob, by_label, free_port, value

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
FAST = ["--interval", "200ms"]


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without AGENTWATCH_* settings, so a developer's shell cannot leak in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENTWATCH_")}
    env.update(extra or {})
    return env


@dataclass(frozen=True)
class Scrape:
    """One parsed /metrics body."""

    text: str
    samples: tuple[Sample, ...]

    @classmethod
    def parse(cls, text: str) -> Scrape:
        families = text_string_to_metric_families(text)
        return cls(text, tuple(s for family in families for s in family.samples))

    def of(self, metric: str, **labels: str) -> list[Sample]:
        """Samples of `metric` whose labels include `labels`."""
        return [
            s
            for s in self.samples
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, metric: str, **labels: str) -> float | None:
        """The value of the one sample matching, None if there is none."""
        found = self.of(metric, **labels)
        assert len(found) <= 1, f"{metric}{labels} matches {len(found)} samples"
        return found[0].value if found else None


class Exporter:
    """One `agentwatch exporter` process listening on a free loopback port."""

    def __init__(self, args: Sequence[str], stderr_path: Path, env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        self._stderr_path = stderr_path
        with stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "agentwatch", "exporter", "--listen", self.address, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env=dict(env),
            )

    def stderr(self) -> str:
        """What the process has written to stderr so far."""
        return self._stderr_path.read_text(errors="replace")

    def get(self, path: str) -> tuple[int, str]:
        """Status and body of GET `path`."""
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=5)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        """Wait for /-/ready to answer 200; fail with stderr if the process dies or stalls."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                pytest.fail(f"exporter exited with {self.process.returncode}:\n{self.stderr()}")
            try:
                if self.get("/-/ready")[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"exporter not ready after {timeout:g}s:\n{self.stderr()}")
            time.sleep(0.05)

    def scrape(self) -> Scrape:
        """GET /metrics, parsed."""
        status, body = self.get("/metrics")
        assert status == 200, body
        return Scrape.parse(body)

    def wait_for(self, predicate: Callable[[Scrape], bool], timeout: float, what: str) -> Scrape:
        """Scrape until `predicate` holds; fail naming `what` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            scrape = self.scrape()
            if predicate(scrape):
                return scrape
            if time.monotonic() > deadline:
                pytest.fail(f"no scrape within {timeout:g}s showed {what}; last:\n{scrape.text}")
            time.sleep(0.1)

    def stop(self, signum: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Send `signum` and wait (bounded) for the exit code."""
        self.process.send_signal(signum)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)
            pytest.fail(f"exporter ignored signal {signum} for {timeout:g}s:\n{self.stderr()}")

    def kill(self) -> None:
        """Make sure the process is gone."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)


StartExporter = Callable[..., Exporter]


@pytest.fixture
def start_exporter(tmp_path: Path) -> Iterator[StartExporter]:
    """Start exporters with `start_exporter(*flags, env={...})`, ready; all killed afterwards."""
    started: list[Exporter] = []

    def start(*args: str, env: Mapping[str, str] | None = None, ready: bool = True) -> Exporter:
        exporter = Exporter(args, tmp_path / f"exporter-{len(started)}.stderr", clean_env(env))
        started.append(exporter)
        if ready:
            exporter.wait_ready()
        return exporter

    try:
        yield start
    finally:
        for exporter in started:
            exporter.kill()


@functools.cache
def nvml_answers() -> bool:
    """Whether NVML initialises on this machine (a driver and a GPU are present)."""
    probe = "import pynvml\npynvml.nvmlInit()\npynvml.nvmlShutdown()"
    try:
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=60)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


MIXED = load_scenario("mixed", 0)
MIXED_PODS = {
    str(p.pid): (p.attribution.pod, p.attribution.namespace)
    for gpu in MIXED.gpus
    for p in gpu.processes
}
SIM_MIXED = ["--gpu-backend", "sim", "--sim-scenario", "mixed", "--sim-speed", "10", *FAST]


def all_mixed_processes(scrape: Scrape) -> bool:
    seen = {s.labels["pid"] for s in scrape.of(names.GPU_PROCESS_MEMORY_USED.prom)}
    return seen == set(MIXED_PODS)


# --- a simulated host, scraped --------------------------------------------------------------


@pytest.mark.timeout(60)
def test_simulated_exporter_serves_every_gpu_process_and_its_own_health(
    start_exporter: StartExporter,
) -> None:
    exporter = start_exporter(*SIM_MIXED)
    scrape = exporter.wait_for(all_mixed_processes, 20, "every process of the mixed scenario")

    info = scrape.of(names.GPU_INFO.prom)
    assert sorted(s.labels["gpu"] for s in info) == ["0", "1", "2", "3"]
    assert {s.labels["simulated"] for s in info} == {"true"}
    assert {s.value for s in info} == {1.0}
    for sample in scrape.of(names.GPU_PROCESS_MEMORY_USED.prom):
        pod, namespace = MIXED_PODS[sample.labels["pid"]]
        assert (sample.labels["pod"], sample.labels["namespace"]) == (pod, namespace)
        assert len(sample.labels["container"]) == 64
        assert sample.value > 0
    assert scrape.value(names.EXPORTER_COLLECT_SUCCESS.prom) == 1.0
    duration = scrape.value(names.EXPORTER_COLLECT_DURATION.prom)
    assert duration is not None and duration >= 0
    last = scrape.value(names.EXPORTER_LAST_SUCCESS.prom)
    assert last is not None and last > 0

    warnings = [line for line in exporter.stderr().splitlines() if "SIMULATED" in line]
    assert len(warnings) == 1 and "WARNING" in warnings[0], exporter.stderr()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_exporter_exits_0_on_a_stop_signal(start_exporter: StartExporter, signum: int) -> None:
    exporter = start_exporter(*SIM_MIXED)
    exporter.wait_for(all_mixed_processes, 20, "every process of the mixed scenario")
    assert exporter.stop(signum) == 0
    assert "Traceback" not in exporter.stderr()
    with pytest.raises(OSError):
        exporter.get("/metrics")  # the port is closed


@pytest.mark.prometheus
@pytest.mark.timeout(60)
def test_promtool_accepts_a_real_scrape(start_exporter: StartExporter) -> None:
    promtool = require_binary("promtool")
    exporter = start_exporter(*SIM_MIXED)
    scrape = exporter.wait_for(all_mixed_processes, 20, "every process of the mixed scenario")
    done = subprocess.run(
        [promtool, "check", "metrics"],
        input=scrape.text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.prometheus
@pytest.mark.timeout(90)
def test_prometheus_scrapes_the_exporter(start_exporter: StartExporter) -> None:
    exporter = start_exporter(*SIM_MIXED)
    with PrometheusServer([ScrapeJob("agentwatch", [exporter.address])]) as prom:
        prom.wait_for('up{job="agentwatch"}', lambda r: [value(s) for s in r] == [1.0], 45)
        prom.wait_for(names.GPU_MEMORY_USED.prom, lambda r: len(r) == len(MIXED.gpus), 15)
        pods = prom.wait_for(
            f"sum by (pod) ({names.GPU_PROCESS_MEMORY_USED.prom})",
            lambda r: len(r) == len(MIXED_PODS),
            15,
        )
        assert set(by_label(pods, "pod")) == {pod for pod, _ in MIXED_PODS.values()}
        assert all(v > 0 for v in by_label(pods, "pod").values())
        health = prom.query(names.EXPORTER_COLLECT_SUCCESS.prom)
        assert [value(s) for s in health] == [1.0]
        simulated = prom.query(f'count({names.GPU_INFO.prom}{{simulated="true"}})')
        assert [value(s) for s in simulated] == [4.0]
        (target,) = prom.targets()
        assert (target["health"], target["lastError"]) == ("up", "")


# --- scenarios that go wrong ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_leaking_process_gets_a_growth_rate_and_an_exhaustion_forecast(
    start_exporter: StartExporter,
) -> None:
    # `leak` leaks 15 MiB every 5 s from 60 s on. At x30 that is 90 MiB per real second from
    # 2 s on; the analysis runs in real time, so its grace and window are scaled to match
    # (the defaults, 60 s and 240 s, are minutes of simulated time at x30).
    (leaker,) = [p for g in load_scenario("leak", 0).gpus for p in g.processes]
    assert isinstance(leaker.workload, Leak)
    pid = str(leaker.pid)
    exporter = start_exporter(
        "--gpu-backend", "sim", "--sim-scenario", "leak", "--sim-speed", "30",
        "--leak-grace", "2s", "--leak-window", "30s", *FAST,
    )  # fmt: skip
    growth, exhaustion = names.GPU_PROCESS_MEMORY_GROWTH.prom, names.GPU_MEMORY_EXHAUSTION.prom

    def leaking(scrape: Scrape) -> bool:
        rate = scrape.value(growth, pid=pid)
        return rate is not None and rate > 0 and bool(scrape.of(exhaustion))

    scrape = exporter.wait_for(leaking, 60, f"a growth rate for pid {pid} and an exhaustion")
    rate = scrape.value(growth, pid=pid)
    assert rate is not None and 10 * 2**20 < rate < 1000 * 2**20  # about 90 MiB/s
    (forecast,) = scrape.of(exhaustion)
    assert forecast.value > 0
    assert forecast.labels["uuid"] == scrape.of(names.GPU_INFO.prom)[0].labels["uuid"]


@pytest.mark.timeout(60)
def test_a_lost_gpu_is_down_and_fails_the_collection_while_the_other_stays(
    start_exporter: StartExporter,
) -> None:
    exporter = start_exporter(
        "--gpu-backend", "sim", "--sim-scenario", "gpu-lost", "--sim-speed", "30", *FAST
    )
    up = names.GPU_UP.prom

    def lost(scrape: Scrape) -> bool:
        return (
            scrape.value(up, gpu="1") == 0.0
            and scrape.value(names.EXPORTER_COLLECT_SUCCESS.prom) == 0.0
        )

    scrape = exporter.wait_for(lost, 30, "GPU 1 down and the collection failed")
    assert scrape.value(up, gpu="0") == 1.0
    used = scrape.value(names.GPU_MEMORY_USED.prom, gpu="0")
    assert used is not None and used > 0
    assert scrape.of(names.GPU_PROCESS_MEMORY_USED.prom, gpu="0")
    assert scrape.value(names.GPU_MEMORY_USED.prom, gpu="1") is None  # unknown, not 0
    assert len(scrape.of(names.GPU_INFO.prom, gpu="1")) == 1  # its identity is kept
    xid = scrape.value(names.GPU_XID_ERRORS.prom, gpu="1", xid="79")
    assert xid is not None and xid >= 1
    lost_calls = scrape.of(names.EXPORTER_NVML_ERRORS.prom, error="gpu_is_lost")
    assert lost_calls and all(s.value >= 1 for s in lost_calls)


# --- no driver ------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_nvml_without_a_driver_serves_a_failed_collection_not_an_empty_one(
    start_exporter: StartExporter,
) -> None:
    if nvml_answers():
        pytest.skip("NVML initialises here: this test is about a host without a driver")
    exporter = start_exporter("--gpu-backend", "nvml", *FAST)
    errors = names.EXPORTER_NVML_ERRORS.prom

    def init_failed(scrape: Scrape) -> bool:
        return any(s.value >= 1 for s in scrape.of(errors, call="nvmlInit"))

    scrape = exporter.wait_for(init_failed, 20, "a counted nvmlInit error")
    assert scrape.value(names.EXPORTER_COLLECT_SUCCESS.prom) == 0.0
    assert scrape.of(names.GPU_INFO.prom) == []  # nothing made up
    assert exporter.process.poll() is None
    assert "NVML did not initialise" in exporter.stderr()


@pytest.mark.timeout(60)
def test_auto_falls_back_to_the_simulator_with_a_warning(start_exporter: StartExporter) -> None:
    if nvml_answers():
        pytest.skip("NVML initialises here: auto picks NVML, not the simulator")
    exporter = start_exporter("--gpu-backend", "auto", *FAST)
    scrape = exporter.wait_for(
        lambda s: len(s.of(names.GPU_INFO.prom)) == len(MIXED.gpus), 20, "the simulated GPUs"
    )
    assert {s.labels["simulated"] for s in scrape.of(names.GPU_INFO.prom)} == {"true"}
    assert scrape.value(names.EXPORTER_COLLECT_SUCCESS.prom) == 1.0
    fallback = [line for line in exporter.stderr().splitlines() if "falling back" in line]
    assert len(fallback) == 1 and "WARNING" in fallback[0] and "SIMULATED" in fallback[0]


@pytest.mark.gpu
@pytest.mark.timeout(60)
def test_nvml_on_a_real_gpu_collects_real_data(start_exporter: StartExporter) -> None:
    if not nvml_answers():
        pytest.skip("no NVIDIA driver or GPU here")
    exporter = start_exporter("--gpu-backend", "nvml", *FAST)
    scrape = exporter.wait_for(
        lambda s: s.value(names.EXPORTER_COLLECT_SUCCESS.prom) == 1.0, 20, "a successful collect"
    )
    info = scrape.of(names.GPU_INFO.prom)
    assert info and {s.labels["simulated"] for s in info} == {"false"}
    assert not scrape.of(names.EXPORTER_NVML_ERRORS.prom, call="nvmlInit")


# --- bad usage ------------------------------------------------------------------------------


def run_agentwatch(
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 20
) -> subprocess.CompletedProcess[str]:
    """`python -m agentwatch ARGV`, to completion (a bad flag must not start serving)."""
    try:
        return subprocess.run(
            [sys.executable, "-m", "agentwatch", *argv],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=clean_env(env),
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        stderr = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else ""
        pytest.fail(f"agentwatch {' '.join(argv)} still ran after {timeout:g}s:\n{stderr}")


def assert_one_error_line(done: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    lines = done.stderr.splitlines()
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("agentwatch") and "error:" in lines[0], lines[0]
    for needle in needles:
        assert needle in lines[0]


UNKNOWN_KEY_CONFIG = "tls_server_config:\n  cert_file: a.crt\n  key_file: a.key\nbogus_key: 1\n"
BAD_USAGE: list[tuple[list[str], dict[str, str], str]] = [
    (["--no-such-flag"], {}, "--no-such-flag"),
    (["--interval", "abc"], {}, "--interval"),
    (["--interval", "0"], {}, "--interval"),
    (["--interval"], {}, "--interval"),
    (["--sim-speed", "-1"], {}, "--sim-speed"),
    (["--sim-speed", "fast"], {}, "--sim-speed"),
    (["--sim-seed", "x"], {}, "--sim-seed"),
    (["--gpu-backend", "bogus"], {}, "bogus"),
    (["--sim-scenario", "nope"], {}, "nope"),
    (["--listen", "nonsense"], {}, "nonsense"),
    (["--listen", "127.0.0.1:99999"], {}, "99999"),
    ([], {"AGENTWATCH_INTERVAL": "xyz"}, "AGENTWATCH_INTERVAL"),
    ([], {"AGENTWATCH_GPU_BACKEND": "cuda"}, "AGENTWATCH_GPU_BACKEND"),
    (["--web-config-file", "/nonexistent.yml"], {}, "/nonexistent.yml"),
    (["--web-config-file", "{unknown_key}"], {}, "bogus_key"),
    (["--leak-window", "5s"], {}, "--leak-window"),
    (["--leak-grace", "soon"], {}, "--leak-grace"),
]
BAD_USAGE_IDS = [
    "unknown-flag",
    "interval-abc",
    "interval-zero",
    "interval-missing-value",
    "sim-speed-negative",
    "sim-speed-not-a-number",
    "sim-seed-not-an-int",
    "gpu-backend-bogus",
    "sim-scenario-nope",
    "listen-nonsense",
    "listen-port-out-of-range",
    "env-interval-xyz",
    "env-gpu-backend-cuda",
    "web-config-missing",
    "web-config-unknown-key",
    "leak-window-too-short",
    "leak-grace-not-a-duration",
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("flags", "env", "needle"), BAD_USAGE, ids=BAD_USAGE_IDS)
def test_bad_usage_is_one_line_and_exit_code_2(
    tmp_path: Path, flags: list[str], env: dict[str, str], needle: str
) -> None:
    config = tmp_path / "web.yml"
    config.write_text(UNKNOWN_KEY_CONFIG)
    flags = [f.replace("{unknown_key}", str(config)) for f in flags]
    # A valid free port and the simulator come first, so only the setting under test is wrong
    # (of a repeated flag the last one wins; a flag beats its variable, so none is added then).
    base = ["exporter", "--listen", f"{LOOPBACK}:{free_port()}"]
    if "AGENTWATCH_GPU_BACKEND" not in env:
        base += ["--gpu-backend", "sim"]
    done = run_agentwatch([*base, *flags], env)
    assert_one_error_line(done, 2, needle)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "argv",
    [["bogus-command"], ["--log-level", "loud", "exporter"], ["--no-such-flag"]],
    ids=["unknown-command", "log-level-bogus", "unknown-global-flag"],
)
def test_bad_top_level_usage_is_one_line_and_exit_code_2(argv: list[str]) -> None:
    assert_one_error_line(run_agentwatch(argv), 2, argv[0])


@pytest.mark.timeout(60)
def test_a_port_in_use_is_one_line_and_the_runtime_exit_code() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        # The default backend (NVML) is lazy: nothing runs, or logs, before the bind fails.
        done = run_agentwatch(["exporter", "--listen", f"{LOOPBACK}:{port}"])
    assert_one_error_line(done, AgentwatchError.exit_code, str(port), "in use")
