"""The in-process /metrics: the reader's translation, this process's GPUs, and real scrapers.

The reader is checked against the metric contract (`names.LLM_METRICS`), both text parsers of
prometheus_client and promtool; the GPU part against the fake NVML with this test's own pid
among the processes; the endpoint end to end over loopback HTTP and by a real Prometheus.
"""

from __future__ import annotations

import gzip
import http.client
import logging
import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvml
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from agentwatch import __version__, names
from agentwatch.errors import AgentwatchError, UsageError
from agentwatch.exporter.model import NO_ATTRIBUTION, Attribution
from agentwatch.exporter.nvml_backend import NvmlBackend
from agentwatch.exporter.poller import Poller
from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.content import ContentPolicy
from agentwatch.instrumentation.endpoint import PrometheusEndpoint
from agentwatch.instrumentation.invocation import Invocation
from agentwatch.instrumentation.local_gpu import LocalGpu
from agentwatch.instrumentation.pricing import ModelPrice, PriceTable, Rates
from agentwatch.instrumentation.prometheus_reader import (
    PrometheusReader,
    go_float,
    label_name,
    label_value,
    openmetrics_float,
)
from agentwatch.instrumentation.telemetry import SCOPE, Telemetry
from agentwatch.names import Kind
from tests.exporter.fake_nvml import GIB, FakeGpu, FakeNvml, FakeProcess
from tests.helpers import require_binary
from tests.prometheus import LOOPBACK, PrometheusServer, ScrapeJob, value

PID = os.getpid()
OTHER_PID = 4242 if PID != 4242 else 4343
OURS, THEIRS = (
    "GPU-11111111-0000-0000-0000-000000000001",
    "GPU-22222222-0000-0000-0000-000000000002",
)
PRICES = PriceTable({"openai": {"gpt-4o": ModelPrice(Rates(2.5, 10.0, 1.25, 2.5, 2.5))}})
CALLS = ((10, 3), (20, 100))
"""(input, output) tokens of the invocations the end-to-end tests record."""
WAIT = 20.0


# --- helpers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One parsed exposition."""

    text: str
    samples: tuple[Sample, ...]

    @classmethod
    def parse(cls, text: str, openmetrics: bool = False) -> Page:
        parse = openmetrics_families if openmetrics else text_string_to_metric_families
        return cls(text, tuple(s for family in parse(text) for s in family.samples))

    def of(self, metric: str, **labels: str) -> list[Sample]:
        """Samples named `metric` whose labels include `labels`."""
        return [
            s
            for s in self.samples
            if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items())
        ]

    def value(self, metric: str, **labels: str) -> float | None:
        """The value of the one matching sample; None when there is none."""
        found = self.of(metric, **labels)
        assert len(found) <= 1, f"{metric}{labels} matches {len(found)} samples"
        return found[0].value if found else None

    def names(self) -> set[str]:
        return {s.name for s in self.samples}


class NoAttribution:
    """An attributor that knows nothing (the tests' processes run nowhere in particular)."""

    def attribute(self, pid: int) -> Attribution:
        return NO_ATTRIBUTION

    def forget(self, live_pids: set[int]) -> None:
        pass


def provider(reader: PrometheusReader, resource: Resource | None = None) -> MeterProvider:
    return MeterProvider(metric_readers=[reader], resource=resource or Resource.create())


def telemetry_for(reader: PrometheusReader) -> Telemetry:
    return Telemetry(TracerProvider(), provider(reader), prices=PRICES, content=ContentPolicy())


def invoke(telemetry: Telemetry, input_tokens: int, output_tokens: int) -> None:
    """One chat call through the real Invocation: open, usage, end."""
    inv = Invocation(
        telemetry, sc.OP_CHAT, sc.PROVIDER_OPENAI, "gpt-4o", None, "api.openai.com", 443
    )
    inv.response_model = "gpt-4o"
    inv.input_tokens, inv.output_tokens = input_tokens, output_tokens
    inv.end()


def two_gpus() -> FakeNvml:
    """GPU 0 holds this process and another; GPU 1 only the other."""
    ours = FakeGpu(
        OURS, compute=[FakeProcess(PID, 3 * GIB), FakeProcess(OTHER_PID, GIB)], memory_used=4 * GIB
    )
    theirs = FakeGpu(THEIRS, pci_bus_id="00000000:02:00.0", compute=[FakeProcess(OTHER_PID, GIB)])
    return FakeNvml([ours, theirs], process_names={PID: "python", OTHER_PID: "other"})


@pytest.fixture
def proc_root(tmp_path: Path) -> Path:
    for pid, comm in ((PID, "python"), (OTHER_PID, "other")):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "comm").write_text(comm + "\n")
    return tmp_path


def local_gpu(fake: FakeNvml, proc_root: Path, **kwargs: Any) -> LocalGpu:
    backend = NvmlBackend(nvml=fake, xid_watch=False, proc_root=proc_root)
    return LocalGpu(backend, NoAttribution(), process_metrics=False, **kwargs)


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(0.02)


def get(
    address: tuple[str, int], path: str = "/metrics", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def promtool_check(text: str) -> tuple[int, str]:
    promtool = require_binary("promtool")
    done = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30
    )
    return done.returncode, done.stdout + done.stderr


# --- number and label forms -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "go", "openmetrics"),
    [
        (16.0, "16", "16.0"),
        (1.0, "1", "1.0"),
        (0.0, "0", "0.0"),
        (0.01, "0.01", "0.01"),
        (0.0001, "0.0001", "0.0001"),
        (0.00001, "1e-05", "1e-05"),
        (262144.0, "262144", "262144.0"),
        (1048576.0, "1.048576e+06", "1.048576e+06"),
        (67108864.0, "6.7108864e+07", "6.7108864e+07"),
        (1e10, "1e+10", "1e+10"),
        (1e21, "1e+21", "1e+21"),
        (-2.5, "-2.5", "-2.5"),
        (math.inf, "+Inf", "+Inf"),
        (-math.inf, "-Inf", "-Inf"),
        (math.nan, "NaN", "NaN"),
    ],
    ids=lambda v: repr(v) if isinstance(v, float) else None,
)
def test_numbers_are_written_as_client_golang_writes_them(
    number: float, go: str, openmetrics: str
) -> None:
    assert (go_float(number), openmetrics_float(number)) == (go, openmetrics)


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("gen_ai.request.model", "gen_ai_request_model"),
        ("http.response.status-code", "http_response_status_code"),
        ("9lives", "key_9lives"),
        ("_private", "key_private"),
        ("__reserved", "__reserved"),
        ("día", "d_a"),
    ],
    ids=["dots", "dash", "leading-digit", "one-underscore", "two-underscores", "non-ascii"],
)
def test_attribute_keys_become_labels_as_the_collector_normalises_them(
    key: str, label: str
) -> None:
    assert label_name(key) == label


@pytest.mark.parametrize(
    ("attribute", "text"),
    [
        (True, "true"),
        (443, "443"),
        (1.5, "1.5"),
        (16.0, "16"),
        (1e-05, "0.00001"),
        (("stop", "length"), '["stop","length"]'),
        ("as is", "as is"),
    ],
    ids=["bool", "int", "float", "integral-float", "small-float", "sequence", "str"],
)
def test_attribute_values_are_written_as_pcommon_writes_them(attribute: Any, text: str) -> None:
    assert label_value(attribute) == text


# --- the reader -------------------------------------------------------------------------------


# Which instrument of a Telemetry records each metric of the contract, and one value for it.
INSTRUMENTS: dict[str, tuple[str, float]] = {
    names.GEN_AI_TOKEN_USAGE.prom: ("tokens", 12),
    names.GEN_AI_OPERATION_DURATION.prom: ("duration", 0.3),
    names.GEN_AI_TIME_TO_FIRST_CHUNK.prom: ("time_to_first_chunk", 0.05),
    names.GEN_AI_TIME_PER_OUTPUT_CHUNK.prom: ("time_per_output_chunk", 0.01),
    names.LLM_COST.prom: ("cost", 0.002),
    names.INSTRUMENTATION_ERRORS.prom: ("errors", 1),
    names.LLM_TOOL_CALLS.prom: ("tool_calls", 2),
    names.LLM_HALLUCINATED_TOOL_CALLS.prom: ("hallucinated_tool_calls", 1),
    names.LLM_RESPONSE_FLAGS.prom: ("response_flags", 1),
    names.GPU_MEMORY_DELTA.prom: ("gpu_memory_delta", 3 * 1024 * 1024),
}


def contract_attributes(spec: names.MetricSpec) -> dict[str, Any]:
    """An attribute for every label of `spec`, named as the OTel attribute it comes from."""
    otel = {
        "gen_ai_operation_name": sc.OPERATION_NAME,
        "gen_ai_provider_name": sc.PROVIDER_NAME,
        "gen_ai_request_model": sc.REQUEST_MODEL,
        "gen_ai_response_model": sc.RESPONSE_MODEL,
        "server_address": sc.SERVER_ADDRESS,
        "server_port": sc.SERVER_PORT,
        "gen_ai_token_type": sc.TOKEN_TYPE,
        "agentwatch_usage_estimated": sc.USAGE_ESTIMATED,
        "error_type": sc.ERROR_TYPE,
        "instrumentation": sc.INSTRUMENTATION,
        "error": sc.ERROR,
        "agentwatch_tool_call_reason": sc.TOOL_CALL_REASON,
        "agentwatch_response_flag": sc.RESPONSE_FLAG,
        "agentwatch_gpu_memory_source": sc.GPU_MEMORY_SOURCE,
    }
    return {otel[label]: 443 if label == "server_port" else "x" for label in spec.labels}


def test_every_llm_metric_is_served_under_its_contract_name_and_labels() -> None:
    assert set(INSTRUMENTS) == {spec.prom for spec in names.LLM_METRICS}
    reader = PrometheusReader()
    telemetry = Telemetry(TracerProvider(), provider(reader), prices=PRICES)
    for spec in names.LLM_METRICS:
        attribute, number = INSTRUMENTS[spec.prom]
        instrument = getattr(telemetry, attribute)
        attrs = contract_attributes(spec)
        if spec.kind is Kind.HISTOGRAM:
            instrument.record(number, attrs)
        else:
            instrument.add(number, attrs)
    page = Page.parse(reader.render().decode())
    scope = {"otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
    for spec in names.LLM_METRICS:
        suffixes = ("_bucket", "_sum", "_count") if spec.kind is Kind.HISTOGRAM else ("",)
        for suffix in suffixes:
            samples = page.of(spec.prom + suffix)
            # One series; its buckets are one sample per bound, the rest a single sample.
            expected = len(spec.buckets) + 1 if suffix == "_bucket" else 1
            assert len(samples) == expected, spec.prom + suffix
            for sample in samples:
                assert set(sample.labels) - scope - {"le"} == set(spec.labels), spec.prom + suffix


def test_histogram_buckets_are_cumulative_and_end_in_inf_sum_and_count() -> None:
    reader = PrometheusReader()
    meter = provider(reader).get_meter("test")
    histogram = meter.create_histogram(
        "work.size", unit="By", explicit_bucket_boundaries_advisory=[1, 4, 16]
    )
    for size in (0.5, 3, 3, 16, 17, 100):
        histogram.record(size)
    page = Page.parse(reader.render().decode())
    buckets = {s.labels["le"]: s.value for s in page.of("work_size_bytes_bucket")}
    assert buckets == {"1": 1, "4": 3, "16": 4, "+Inf": 6}
    assert page.value("work_size_bytes_count") == 6
    assert page.value("work_size_bytes_sum") == 139.5


def test_sums_and_gauges_are_named_and_typed_as_the_collector_does() -> None:
    reader = PrometheusReader()
    meter = provider(reader).get_meter("test")
    meter.create_counter("jobs.done", unit="{job}").add(2)
    meter.create_up_down_counter("queue.depth", unit="1").add(-3)
    meter.create_gauge("cache.hit", unit="1").set(0.25)
    text = reader.render().decode()
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert {k: v for k, v in types.items() if k != "target_info"} == {
        "jobs_done": "counter",  # the parser strips _total off the family
        "queue_depth": "gauge",  # a non-monotonic sum: a gauge, but no _ratio
        "cache_hit_ratio": "gauge",
    }
    page = Page.parse(text)
    assert (page.value("jobs_done_total"), page.value("queue_depth")) == (2, -3)


def test_the_resource_is_one_target_info_and_the_scope_is_on_every_point() -> None:
    reader = PrometheusReader()
    resource = Resource({"service.name": "checkout", "deployment.environment.name": "prod"})
    telemetry = Telemetry(TracerProvider(), provider(reader, resource), prices=PRICES)
    invoke(telemetry, 10, 3)
    page = Page.parse(reader.render().decode())
    (target,) = page.of("target_info")
    assert target.labels == {"service_name": "checkout", "deployment_environment_name": "prod"}
    assert target.value == 1
    others = [s for s in page.samples if s.name != "target_info"]
    assert others
    for sample in others:
        assert "service_name" not in sample.labels
        assert sample.labels["otel_scope_name"] == SCOPE
        assert sample.labels["otel_scope_version"] == __version__
        assert sample.labels["otel_scope_schema_url"].startswith("https://opentelemetry.io/")


def test_attributes_that_normalise_alike_are_joined_in_key_order() -> None:
    reader = PrometheusReader()
    meter = provider(reader).get_meter("test")
    meter.create_counter("hits").add(1, {"a.b": "dot", "a-b": "dash", "a_b": "underscore"})
    (sample,) = Page.parse(reader.render().decode()).of("hits_total")
    assert sample.labels["a_b"] == "dash;dot;underscore"  # keys sorted: "a-b" < "a.b" < "a_b"


def test_help_and_label_values_are_escaped_and_read_back_unchanged() -> None:
    reader = PrometheusReader()
    meter = provider(reader).get_meter("test")
    odd = 'say "hi"\\n\nbye'
    meter.create_counter("hits", description="back\\slash\nnewline").add(1, {"v": odd})
    for openmetrics in (False, True):
        text = reader.render(openmetrics).decode()
        parse = openmetrics_families if openmetrics else text_string_to_metric_families
        (family,) = [f for f in parse(text) if f.name == "hits"]
        assert family.documentation == "back\\slash\nnewline"
        assert family.samples[0].labels["v"] == odd


def test_a_name_taken_by_another_type_is_dropped_and_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reader = PrometheusReader()
    meter = provider(reader).get_meter("test")
    meter.create_histogram("req", unit="s").record(1.0)
    meter.create_gauge("req.seconds").set(5.0)
    with caplog.at_level(logging.WARNING, "agentwatch.instrumentation"):
        first = reader.render().decode()
        reader.render()
    assert first.count("# TYPE req_seconds ") == 1
    assert "# TYPE req_seconds histogram" in first
    assert [r.getMessage() for r in caplog.records] == [
        "metric req.seconds is not served on /metrics: req_seconds is already a histogram"
    ]


def test_openmetrics_form_has_the_same_samples_and_one_eof() -> None:
    reader = PrometheusReader()
    telemetry = telemetry_for(reader)
    for input_tokens, output_tokens in CALLS:
        invoke(telemetry, input_tokens, output_tokens)
    text = Page.parse(reader.render().decode())
    om_text = reader.render(openmetrics=True).decode()
    assert om_text.endswith("\n# EOF\n") and om_text.count("# EOF") == 1
    om = Page.parse(om_text, openmetrics=True)

    def comparable(page: Page) -> set[tuple[str, tuple[tuple[str, float], ...], float]]:
        def norm(labels: dict[str, str]) -> tuple[tuple[str, float], ...]:
            return tuple(sorted((k, float(v) if k == "le" else hash(v)) for k, v in labels.items()))

        return {(s.name, norm(s.labels), s.value) for s in page.samples}

    assert comparable(om) == comparable(text)
    assert 'le="16.0"' in om_text and 'le="16"' in text.text


def test_nothing_is_served_after_shutdown() -> None:
    reader = PrometheusReader()
    meter_provider = provider(reader)
    meter_provider.get_meter("test").create_counter("hits").add(1)
    assert b"hits_total" in reader.render()
    meter_provider.shutdown()
    assert (reader.render(), reader.render(openmetrics=True)) == (b"", b"# EOF\n")


@pytest.mark.prometheus
def test_promtool_finds_no_problem_in_the_llm_metrics() -> None:
    reader = PrometheusReader()
    telemetry = telemetry_for(reader)
    for input_tokens, output_tokens in CALLS:
        invoke(telemetry, input_tokens, output_tokens)
    telemetry.error("test.where", ValueError("boom"))
    assert promtool_check(reader.render().decode()) == (0, "")


# --- this process's GPUs ----------------------------------------------------------------------


def test_importing_or_building_the_endpoint_touches_no_nvml() -> None:
    code = (
        "import sys\n"
        "from agentwatch.instrumentation.endpoint import PrometheusEndpoint\n"
        "from agentwatch.instrumentation.local_gpu import LocalGpu\n"
        "from agentwatch.instrumentation.prometheus_reader import PrometheusReader\n"
        "PrometheusEndpoint(PrometheusReader(), LocalGpu(), '127.0.0.1:0')\n"
        "assert 'pynvml' not in sys.modules, 'pynvml was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")


def cycle(gpu: LocalGpu, backend_fake: FakeNvml, proc_root: Path) -> Callable[[], Page]:
    """A function running one synchronous collection into `gpu` and parsing its families."""
    backend = NvmlBackend(nvml=backend_fake, xid_watch=False, proc_root=proc_root)
    poller = Poller(backend, NoAttribution(), gpu.publish)

    def run() -> Page:
        poller.run_once()
        return Page.parse(gpu.text(openmetrics=False).decode())

    return run


def test_only_the_gpus_and_series_of_this_process_are_kept(proc_root: Path) -> None:
    gpu = LocalGpu(process_metrics=False)
    page = cycle(gpu, two_gpus(), proc_root)()
    assert [s.labels["uuid"] for s in page.of(names.GPU_INFO.prom)] == [OURS]
    assert {s.labels["pid"] for s in page.of(names.GPU_PROCESS_MEMORY_USED.prom)} == {str(PID)}
    assert page.value(names.GPU_PROCESS_MEMORY_USED.prom, pid=str(PID)) == 3 * GIB
    assert page.value(names.GPU_MEMORY_USED.prom, uuid=OURS) == 4 * GIB
    assert not [s for s in page.samples if s.labels.get("uuid") == THEIRS]
    assert page.value(names.EXPORTER_COLLECT_SUCCESS.prom) == 1


def test_a_gpu_this_process_left_stays_and_a_lost_one_shows_down(proc_root: Path) -> None:
    fake = two_gpus()
    gpu = LocalGpu(process_metrics=False)
    run = cycle(gpu, fake, proc_root)
    run()
    fake.gpus[0].compute = [FakeProcess(OTHER_PID, GIB)]  # this process freed its memory
    left = run()
    assert left.value(names.GPU_UP.prom, uuid=OURS) == 1
    assert left.of(names.GPU_PROCESS_MEMORY_USED.prom) == []
    fake.inject("*", pynvml.NVML_ERROR_GPU_IS_LOST, device=0)
    lost = run()
    assert lost.value(names.GPU_UP.prom, uuid=OURS) == 0
    assert not [s for s in lost.samples if s.labels.get("uuid") == THEIRS]


def test_without_nvml_the_gpu_part_says_collect_success_0_once(proc_root: Path) -> None:
    fake = two_gpus()
    fake.inject("nvmlInit", pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)
    gpu = local_gpu(fake, proc_root)
    gpu.start()
    try:
        wait_until(gpu.ready, "a first collection")
        page = Page.parse(gpu.text(openmetrics=False).decode())
    finally:
        gpu.stop()
    assert page.of(names.EXPORTER_COLLECT_SUCCESS.prom) == [
        Sample(names.EXPORTER_COLLECT_SUCCESS.prom, {}, 0.0)
    ]
    assert page.of(names.GPU_INFO.prom) == []


# --- the endpoint -----------------------------------------------------------------------------


@pytest.fixture
def serve(proc_root: Path) -> Iterator[Callable[..., PrometheusEndpoint]]:
    """Start an endpoint on a free loopback port with a fake-NVML GPU part; stops it after."""
    started: list[PrometheusEndpoint] = []

    def start(reader: PrometheusReader, fake: FakeNvml | None = None) -> PrometheusEndpoint:
        gpu = local_gpu(fake or two_gpus(), proc_root)
        endpoint = PrometheusEndpoint(reader, gpu, "127.0.0.1:0")
        endpoint.start()
        started.append(endpoint)
        wait_until(endpoint.ready, "the GPU part's first collection")
        return endpoint

    yield start
    for endpoint in started:
        endpoint.shutdown()


def recorded(reader: PrometheusReader) -> Telemetry:
    telemetry = telemetry_for(reader)
    for input_tokens, output_tokens in CALLS:
        invoke(telemetry, input_tokens, output_tokens)
    return telemetry


def test_the_page_serves_the_llm_metrics_and_this_processes_gpu(
    serve: Callable[..., PrometheusEndpoint],
) -> None:
    reader = PrometheusReader()
    recorded(reader)
    endpoint = serve(reader)
    status, headers, body = get(endpoint.address)
    assert (status, headers["Content-Type"]) == (200, "text/plain; version=0.0.4; charset=utf-8")
    page = Page.parse(body.decode())

    tokens = names.GEN_AI_TOKEN_USAGE.prom + "_bucket"
    call = {"gen_ai_operation_name": "chat", "gen_ai_request_model": "gpt-4o"}
    inputs = {"gen_ai_token_type": "input", **call}
    outputs = {"gen_ai_token_type": "output", **call}
    # Inputs 10 and 20, outputs 3 and 100, in buckets 1, 4, 16, 64, 256, ...
    assert [page.value(tokens, le=le, **inputs) for le in ("4", "16", "64", "+Inf")] == [0, 1, 2, 2]
    assert [page.value(tokens, le=le, **outputs) for le in ("1", "4", "64", "256")] == [0, 1, 1, 2]
    assert page.value(names.GEN_AI_OPERATION_DURATION.prom + "_count", **call) == 2
    cost = sum(PRICES.cost("openai", "gpt-4o", i, o) or 0.0 for i, o in CALLS)
    assert page.value(names.LLM_COST.prom, **call) == pytest.approx(cost)
    assert cost > 0

    assert page.value(names.GPU_PROCESS_MEMORY_USED.prom, pid=str(PID)) == 3 * GIB
    assert {s.labels["pid"] for s in page.of(names.GPU_PROCESS_MEMORY_USED.prom)} == {str(PID)}
    assert not [s for s in page.samples if s.labels.get("uuid") == THEIRS]
    assert page.value(names.EXPORTER_COLLECT_SUCCESS.prom) == 1
    assert len(page.of("target_info")) == 1


def test_scrapes_see_calls_made_since_the_last_one(
    serve: Callable[..., PrometheusEndpoint],
) -> None:
    reader = PrometheusReader()
    telemetry = recorded(reader)
    endpoint = serve(reader)
    count = names.GEN_AI_OPERATION_DURATION.prom + "_count"
    assert (
        Page.parse(get(endpoint.address)[2].decode()).value(count, gen_ai_operation_name="chat")
        == 2
    )
    invoke(telemetry, 1, 1)
    assert (
        Page.parse(get(endpoint.address)[2].decode()).value(count, gen_ai_operation_name="chat")
        == 3
    )


def test_openmetrics_and_gzip_are_served_when_asked(
    serve: Callable[..., PrometheusEndpoint],
) -> None:
    reader = PrometheusReader()
    recorded(reader)
    endpoint = serve(reader)
    accept = {"Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"}
    status, headers, body = get(endpoint.address, headers=accept)
    assert (status, headers["Content-Encoding"]) == (200, "gzip")
    assert headers["Content-Type"].startswith("application/openmetrics-text")
    text = gzip.decompress(body).decode()
    assert text.endswith("\n# EOF\n") and text.count("# EOF") == 1
    page = Page.parse(text, openmetrics=True)
    assert (
        page.value(names.GEN_AI_OPERATION_DURATION.prom + "_count", gen_ai_operation_name="chat")
        == 2
    )
    assert page.value(names.GPU_PROCESS_MEMORY_USED.prom, pid=str(PID)) == 3 * GIB


def test_without_nvml_the_llm_metrics_are_still_served(
    serve: Callable[..., PrometheusEndpoint],
) -> None:
    fake = two_gpus()
    fake.inject("nvmlInit", pynvml.NVML_ERROR_DRIVER_NOT_LOADED)
    reader = PrometheusReader()
    recorded(reader)
    endpoint = serve(reader, fake)
    status, _, body = get(endpoint.address)
    page = Page.parse(body.decode())
    assert status == 200
    assert (
        page.value(names.GEN_AI_OPERATION_DURATION.prom + "_count", gen_ai_operation_name="chat")
        == 2
    )
    assert page.of(names.EXPORTER_COLLECT_SUCCESS.prom) == [
        Sample(names.EXPORTER_COLLECT_SUCCESS.prom, {}, 0.0)
    ]


class NeverReady:
    """A GPU part whose first collection never finishes."""

    stopped = False

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.stopped = True

    def ready(self) -> bool:
        return False

    def text(self, openmetrics: bool) -> bytes:
        return b""


def test_readiness_waits_for_the_gpu_part_and_shutdown_stops_it() -> None:
    gpu = NeverReady()
    endpoint = PrometheusEndpoint(PrometheusReader(), gpu, "127.0.0.1:0")
    endpoint.start()
    try:
        address = endpoint.address
        assert address[0] == LOOPBACK
        assert [get(address, path)[0] for path in ("/-/healthy", "/-/ready", "/metrics")] == [
            200,
            503,
            200,
        ]
    finally:
        endpoint.shutdown()
    assert gpu.stopped
    with pytest.raises(OSError):
        get(address)


@pytest.mark.parametrize(
    "listen", ["nonsense", "127.0.0.1:http", "::1:9464"], ids=["no-port", "named-port", "bare-ipv6"]
)
def test_a_bad_listen_address_is_a_usage_error(listen: str) -> None:
    with pytest.raises(UsageError):
        PrometheusEndpoint(PrometheusReader(), None, listen)


def test_a_taken_port_fails_at_start() -> None:
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        endpoint = PrometheusEndpoint(
            PrometheusReader(), NeverReady(), f"{LOOPBACK}:{taken.getsockname()[1]}"
        )
        with pytest.raises(AgentwatchError, match="cannot listen"):
            endpoint.start()


# --- real Prometheus tools --------------------------------------------------------------------


@pytest.mark.prometheus
def test_promtool_finds_no_problem_in_the_page(serve: Callable[..., PrometheusEndpoint]) -> None:
    reader = PrometheusReader()
    recorded(reader)
    endpoint = serve(reader)
    assert promtool_check(get(endpoint.address)[2].decode()) == (0, "")


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.timeout(90)
def test_prometheus_scrapes_the_page_and_computes_a_latency_quantile(
    serve: Callable[..., PrometheusEndpoint],
) -> None:
    reader = PrometheusReader()
    telemetry = recorded(reader)
    endpoint = serve(reader)
    host, port = endpoint.address
    count = names.GEN_AI_OPERATION_DURATION.prom + "_count"
    quantile = (
        "histogram_quantile(0.5, sum by (le) "
        f"(rate({names.GEN_AI_OPERATION_DURATION.prom}_bucket[1m])))"
    )
    with PrometheusServer([ScrapeJob("app", [f"{host}:{port}"])]) as prom:
        prom.wait_for('up{job="app"}', lambda r: [value(s) for s in r] == [1.0], 45)
        prom.wait_for(count, lambda r: [value(s) for s in r] == [2.0], 15)
        for input_tokens, output_tokens in CALLS:
            invoke(telemetry, input_tokens, output_tokens)
        result = prom.wait_for(quantile, lambda r: len(r) == 1 and math.isfinite(value(r[0])), 15)
        assert 0 <= value(result[0]) <= names.DURATION_BUCKETS[-1]
        (process,) = prom.query(f'{names.GPU_PROCESS_MEMORY_USED.prom}{{pid="{PID}"}}')
        assert value(process) == 3 * GIB
