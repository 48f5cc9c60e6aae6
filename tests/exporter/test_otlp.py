"""The OTLP push, against a real OTLP/HTTP protobuf receiver on loopback."""

from __future__ import annotations

import dataclasses
import logging
import socket
import sys
import time
from collections.abc import Callable, Iterator

import pytest
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality
from opentelemetry.sdk.metrics.export import MetricExporter, MetricExportResult, MetricsData

from agentwatch import __version__, names
from agentwatch.errors import UsageError
from agentwatch.exporter import otlp
from agentwatch.exporter.model import (
    Attribution,
    GpuIdentity,
    GpuSample,
    ProcessView,
    Snapshot,
    XidCount,
)
from agentwatch.exporter.observations import observations
from agentwatch.exporter.otlp import OtlpPusher
from agentwatch.names import Kind
from tests.otlp_receiver import (
    OtlpReceiver,
    SeriesKey,
    flatten_metrics,
    metric_info,
    metrics,
    resource_attributes,
)

GPU0 = GpuIdentity("0", "GPU-0", "NVIDIA H100", "550.54", "00000000:01:00.0", "disabled")
GPU1 = GpuIdentity("1", "GPU-1", "NVIDIA L4", "550.54", "00000000:02:00.0", "enabled")
INTERVAL = 0.2

SNAPSHOT = Snapshot(
    timestamp=1_700_000_100.0,
    simulated=True,
    gpus=(
        GpuSample(
            identity=GPU0,
            memory_used_bytes=30 * 2**30,
            memory_free_bytes=50 * 2**30,
            memory_total_bytes=80 * 2**30,
            memory_reserved_bytes=2**29,
            utilization_ratio=0.75,
            memory_bandwidth_utilization_ratio=0.5,
            temperature_celsius=61.0,
            power_watts=350.5,
            power_limit_watts=700.0,
            energy_joules=123456.0,
            throttle_reasons={"sw_power_cap": True},
            ecc_errors={"corrected": 4, "uncorrected": 0},
        ),
        # A consumer card: most fields unsupported, so their series must be absent.
        GpuSample(identity=GPU1, memory_used_bytes=2**30, memory_total_bytes=24 * 2**30),
    ),
    processes=(
        ProcessView(
            GPU0,
            pid=4242,
            name="python3",
            used_bytes=2**30,
            attribution=Attribution("vllm", "vllm-0", "serving"),
            growth_bytes_per_second=1.5e6,
        ),
        ProcessView(GPU1, pid=17, name="Xorg", used_bytes=None),
    ),
    exhaustion_seconds={"GPU-0": 1200.0},
    xid={("0", "GPU-0", 79): XidCount(3, 1_700_000_050.5)},
    nvml_errors={("nvmlDeviceGetPowerUsage", "NotSupported"): 2},
    collect_success=True,
    collect_duration_seconds=0.012,
    last_success_timestamp=1_700_000_100.0,
)


class Latest:
    """What the collection loop would hand the pusher: the latest snapshot, swappable."""

    def __init__(self, snapshot: Snapshot | None) -> None:
        self.snapshot = snapshot

    def __call__(self) -> Snapshot | None:
        return self.snapshot


def expected_series(snapshot: Snapshot) -> dict[SeriesKey, float]:
    """What `/metrics` would serve, keyed the way the receiver flattens OTLP."""
    return {
        (spec.otel, frozenset(zip(spec.labels, labels, strict=True))): value
        for spec, samples in observations(snapshot)
        for labels, value in samples
    }


def latest_series(receiver: OtlpReceiver) -> dict[SeriesKey, float]:
    return flatten_metrics(receiver.metrics_requests()[-1:])


def has_metrics(receiver: OtlpReceiver) -> bool:
    return bool(metrics(receiver.metrics_requests()))


def eventually(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll `condition` until it holds or `timeout` passes (for state no receiver reports)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def free_port() -> int:
    """A loopback port with nothing listening on it (just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as running:
        yield running


@pytest.fixture
def make_pusher() -> Iterator[Callable[..., OtlpPusher]]:
    """Build started pushers, and shut them all down after the test whatever happens."""
    made: list[OtlpPusher] = []

    def make(
        snapshot: Callable[[], Snapshot | None], endpoint: str, **kwargs: object
    ) -> OtlpPusher:
        kwargs.setdefault("interval_seconds", INTERVAL)
        kwargs.setdefault("timeout_seconds", 0.5)
        pusher = OtlpPusher(snapshot, endpoint, **kwargs)  # type: ignore[arg-type]
        made.append(pusher)
        pusher.start()
        return pusher

    yield make
    for pusher in made:
        pusher.shutdown()


@pytest.mark.timeout(30)
def test_pushes_the_same_series_as_metrics_with_spec_names_units_and_types(
    receiver: OtlpReceiver, make_pusher: Callable[..., OtlpPusher]
) -> None:
    make_pusher(Latest(SNAPSHOT), receiver.endpoint, headers={"authorization": "Bearer t0ken"})
    assert receiver.wait_for(has_metrics)

    assert latest_series(receiver) == expected_series(SNAPSHOT)
    info = metric_info(receiver.metrics_requests()[-1:])
    assert set(info) == {spec.otel for spec in names.EXPORTER_METRICS}
    for spec in names.EXPORTER_METRICS:
        got = info[spec.otel]
        assert (got.unit, got.description) == (spec.unit, spec.help), spec.otel
        if spec.kind is Kind.COUNTER:
            assert (got.type, got.monotonic, got.temporality) == (
                "sum",
                True,
                AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE,
            ), spec.otel
        else:
            assert got.type == "gauge", spec.otel
    assert receiver.received[-1].headers["authorization"] == "Bearer t0ken"


@pytest.mark.timeout(30)
def test_spot_values_and_absent_fields(
    receiver: OtlpReceiver, make_pusher: Callable[..., OtlpPusher]
) -> None:
    make_pusher(Latest(SNAPSHOT), receiver.endpoint)
    assert receiver.wait_for(has_metrics)
    series = latest_series(receiver)

    gpu1 = frozenset({("gpu", "1"), ("uuid", "GPU-1")})
    assert series[("agentwatch.gpu.memory.used", gpu1)] == 2**30
    assert series[("agentwatch.gpu.up", gpu1)] == 1.0
    info1 = frozenset(
        {
            ("gpu", "1"),
            ("uuid", "GPU-1"),
            ("name", "NVIDIA L4"),
            ("driver_version", "550.54"),
            ("pci_bus_id", "00000000:02:00.0"),
            ("mig_mode", "enabled"),
            ("simulated", "true"),
        }
    )
    assert series[("agentwatch.gpu.info", info1)] == 1.0
    xid = frozenset({("gpu", "0"), ("uuid", "GPU-0"), ("xid", "79")})
    assert series[("agentwatch.gpu.xid.errors", xid)] == 3.0
    errors = frozenset({("call", "nvmlDeviceGetPowerUsage"), ("error", "NotSupported")})
    assert series[("agentwatch.exporter.nvml.errors", errors)] == 2.0
    proc = frozenset(
        {
            ("gpu", "0"),
            ("uuid", "GPU-0"),
            ("pid", "4242"),
            ("process", "python3"),
            ("container", "vllm"),
            ("pod", "vllm-0"),
            ("namespace", "serving"),
        }
    )
    assert series[("agentwatch.gpu.process.memory.growth", proc)] == 1.5e6

    on_gpu1 = {name for name, attrs in series if ("uuid", "GPU-1") in attrs}
    assert on_gpu1 == {
        "agentwatch.gpu.info",
        "agentwatch.gpu.up",
        "agentwatch.gpu.memory.used",
        "agentwatch.gpu.memory.total",
    }
    # Xorg's memory is unknown: no process series at all for it.
    assert not any(("pid", "17") in attrs for _, attrs in series)


@pytest.mark.timeout(30)
def test_resource_carries_identity_env_and_explicit_attributes(
    receiver: OtlpReceiver,
    make_pusher: Callable[..., OtlpPusher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=env,service.namespace=gpu-fleet"
    )
    make_pusher(
        Latest(SNAPSHOT),
        receiver.endpoint,
        resource_attributes={"deployment.environment": "prod", "k8s.node.name": "node-1"},
    )
    assert receiver.wait_for(has_metrics)

    resource = resource_attributes(receiver.metrics_requests()[-1])
    assert resource["service.name"] == "agentwatch-exporter"
    assert resource["service.version"] == __version__
    assert resource["host.name"] == socket.gethostname()
    assert resource["service.namespace"] == "gpu-fleet"
    assert resource["deployment.environment"] == "prod"  # explicit beats the environment
    assert resource["k8s.node.name"] == "node-1"


@pytest.mark.timeout(30)
def test_environment_can_rename_the_service(
    receiver: OtlpReceiver,
    make_pusher: Callable[..., OtlpPusher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_SERVICE_NAME", "gpu-node-exporter")
    make_pusher(Latest(SNAPSHOT), receiver.endpoint)
    assert receiver.wait_for(has_metrics)
    resource = resource_attributes(receiver.metrics_requests()[-1])
    assert resource["service.name"] == "gpu-node-exporter"


@pytest.mark.timeout(30)
def test_gzip_bodies_are_sent_when_asked(
    receiver: OtlpReceiver,
    make_pusher: Callable[..., OtlpPusher],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_COMPRESSION", "gzip")
    make_pusher(Latest(SNAPSHOT), receiver.endpoint)
    assert receiver.wait_for(has_metrics)
    assert receiver.received[-1].headers["content-encoding"] == "gzip"
    assert latest_series(receiver) == expected_series(SNAPSHOT)


@pytest.mark.timeout(30)
def test_series_of_exited_processes_disappear(
    receiver: OtlpReceiver, make_pusher: Callable[..., OtlpPusher]
) -> None:
    latest = Latest(SNAPSHOT)
    make_pusher(latest, receiver.endpoint)
    assert receiver.wait_for(has_metrics)
    assert any(name == "agentwatch.gpu.process.memory.used" for name, _ in latest_series(receiver))

    gone = dataclasses.replace(SNAPSHOT, processes=(), exhaustion_seconds={})
    latest.snapshot = gone
    assert receiver.wait_for(lambda r: has_metrics(r) and latest_series(r) == expected_series(gone))
    assert not any("process" in name for name, _ in latest_series(receiver))


@pytest.mark.timeout(30)
def test_no_snapshot_yet_pushes_no_data_points(receiver: OtlpReceiver) -> None:
    pusher = OtlpPusher(Latest(None), receiver.endpoint, interval_seconds=3600)
    pusher.start()
    pusher.shutdown()  # the final collection runs, and finds nothing to send
    assert flatten_metrics(receiver.metrics_requests()) == {}


@pytest.mark.timeout(30)
def test_shutdown_pushes_the_latest_snapshot_once_and_is_idempotent(
    receiver: OtlpReceiver,
) -> None:
    pusher = OtlpPusher(Latest(SNAPSHOT), receiver.endpoint, interval_seconds=3600)
    pusher.start()
    pusher.start()  # a second start changes nothing
    pusher.shutdown()
    pusher.shutdown()
    assert len(receiver.metrics_requests()) == 1
    assert latest_series(receiver) == expected_series(SNAPSHOT)
    with pytest.raises(RuntimeError):
        pusher.start()


def test_shutdown_before_start_does_nothing(receiver: OtlpReceiver) -> None:
    OtlpPusher(Latest(SNAPSHOT), receiver.endpoint, interval_seconds=1).shutdown()
    assert receiver.received == []


@pytest.mark.timeout(30)
def test_unreachable_collector_is_survived_and_delivery_resumes_when_it_appears(
    make_pusher: Callable[..., OtlpPusher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=otlp.logger.name)
    port = free_port()
    make_pusher(Latest(SNAPSHOT), f"http://127.0.0.1:{port}")
    assert eventually(lambda: "failed" in caplog.text)

    with OtlpReceiver(port=port) as receiver:
        assert receiver.wait_for(has_metrics)
        assert latest_series(receiver) == expected_series(SNAPSHOT)
        assert eventually(lambda: "works again" in caplog.text)


@pytest.mark.timeout(30)
def test_503s_are_survived_logged_once_and_delivery_resumes(
    receiver: OtlpReceiver,
    make_pusher: Callable[..., OtlpPusher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=otlp.logger.name)
    receiver.fail_next(1_000_000, status=503)
    make_pusher(Latest(SNAPSHOT), receiver.endpoint)
    assert receiver.wait_for(lambda r: r.rejected >= 4)
    ours = [rec for rec in caplog.records if rec.name == otlp.logger.name]
    assert [rec.levelno for rec in ours] == [logging.INFO, logging.WARNING]  # start, 1 failure

    receiver.fail_next(0)
    assert receiver.wait_for(has_metrics)
    assert latest_series(receiver) == expected_series(SNAPSHOT)
    assert eventually(lambda: "works again" in caplog.text)


@pytest.mark.timeout(30)
def test_shutdown_is_prompt_while_an_export_is_retrying(receiver: OtlpReceiver) -> None:
    receiver.fail_next(1_000_000, status=503)
    # A timeout longer than the test's: a shutdown that sat out the retries would time out.
    pusher = OtlpPusher(
        Latest(SNAPSHOT), receiver.endpoint, interval_seconds=INTERVAL, timeout_seconds=60
    )
    pusher.start()
    assert receiver.wait_for(lambda r: r.rejected >= 1)  # an export is now retrying
    pusher.shutdown()
    pusher.shutdown()
    assert receiver.metrics_requests() == []


class FakeExporter(MetricExporter):
    """Counts exports and answers a fixed result."""

    def __init__(self, result: MetricExportResult) -> None:
        super().__init__()
        self.result = result
        self.exports = 0

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
    ) -> MetricExportResult:
        self.exports += 1
        return self.result

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        pass


@pytest.mark.parametrize(
    ("last_ok", "closing", "sent"),
    [(True, False, 1), (False, False, 1), (True, True, 1), (False, True, 0)],
    ids=["healthy", "failing", "closing-healthy", "closing-failing"],
)
def test_the_last_push_is_skipped_only_when_closing_against_a_failing_collector(
    last_ok: bool, closing: bool, sent: int
) -> None:
    inner = FakeExporter(MetricExportResult.SUCCESS)
    health = otlp._PushHealth("http://collector:4318")
    health.last_ok = last_ok
    guarded = otlp._GuardedExporter(inner, health)
    guarded.closing = closing
    guarded.export(MetricsData(resource_metrics=[]))
    assert inner.exports == sent


def test_an_exporter_that_raises_is_a_failed_push() -> None:
    class Raising(FakeExporter):
        def export(
            self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: object
        ) -> MetricExportResult:
            raise ConnectionError("boom")

    health = otlp._PushHealth("http://collector:4318")
    guarded = otlp._GuardedExporter(Raising(MetricExportResult.SUCCESS), health)
    assert guarded.export(MetricsData(resource_metrics=[])) is MetricExportResult.FAILURE
    assert (health.failures, health.last_ok) == (1, False)


def test_push_health_logs_failures_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=otlp.logger.name)
    now = [0.0]
    health = otlp._PushHealth("http://collector:4318", clock=lambda: now[0])
    for t in (0.0, 10.0, 30.0, 59.9):
        now[0] = t
        health.record(False)
    now[0] = 60.0
    health.record(False)
    health.record(True)
    health.record(True)

    lines = [(rec.levelno, rec.getMessage()) for rec in caplog.records]
    assert [level for level, _ in lines] == [logging.WARNING, logging.WARNING, logging.INFO]
    assert "failed (1 times" in lines[0][1]
    assert "failed (4 times" in lines[1][1]
    assert "after 5 failed attempts" in lines[2][1]


@pytest.mark.timeout(30)
def test_meter_provider_is_renewed_before_process_churn_fills_the_sdk(
    receiver: OtlpReceiver,
    make_pusher: Callable[..., OtlpPusher],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger=otlp.logger.name)
    latest = Latest(None)
    make_pusher(latest, receiver.endpoint, max_process_series=3)

    def pids(r: OtlpReceiver) -> set[str]:
        return {dict(attrs)["pid"] for _, attrs in latest_series(r) if "pid" in dict(attrs)}

    # A new short job on every collection, as on a node running batch work.
    for pid in range(1000, 1006):
        proc = ProcessView(GPU0, pid, "job", used_bytes=2**20)
        latest.snapshot = dataclasses.replace(SNAPSHOT, processes=(proc,))
        assert receiver.wait_for(lambda r, pid=pid: pids(r) == {str(pid)})  # type: ignore[misc]
    assert eventually(lambda: "renewing" in caplog.text)
    series = latest_series(receiver)
    assert not any("otel.metric.overflow" in dict(attrs) for _, attrs in series)


def test_grpc_without_its_extra_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, whether or not the extra is installed here.
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.metric_exporter", None)
    with pytest.raises(UsageError, match=r"agentwatch\[grpc\]"):
        OtlpPusher(Latest(None), "http://127.0.0.1:4317", interval_seconds=1, protocol="grpc")


@pytest.mark.parametrize("protocol", ["http/json", "udp", ""], ids=["http-json", "udp", "empty"])
def test_unknown_protocol_is_a_usage_error(protocol: str) -> None:
    with pytest.raises(UsageError, match="OTLP protocol"):
        OtlpPusher(Latest(None), "http://127.0.0.1:4318", interval_seconds=1, protocol=protocol)


@pytest.mark.parametrize(
    ("interval", "timeout"),
    [(0.0, 1.0), (-1.0, 1.0), (float("inf"), 1.0), (1.0, 0.0)],
    ids=["zero-interval", "negative-interval", "infinite-interval", "zero-timeout"],
)
def test_bad_interval_or_timeout_is_a_value_error(interval: float, timeout: float) -> None:
    with pytest.raises(ValueError):
        OtlpPusher(
            Latest(None),
            "http://127.0.0.1:4318",
            interval_seconds=interval,
            timeout_seconds=timeout,
        )


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/metrics"),
        ("http://collector:4318/", "http://collector:4318/v1/metrics"),
        ("https://otlp.example/v1/metrics", "https://otlp.example/v1/metrics"),
        ("http://gw/otlp", "http://gw/otlp/v1/metrics"),
    ],
    ids=["base", "trailing-slash", "full-url", "path-prefix"],
)
def test_metrics_url(endpoint: str, url: str) -> None:
    assert otlp._metrics_url(endpoint) == url
