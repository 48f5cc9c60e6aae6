"""`LocalInvocation`: GPU memory before and after a call, on the span and in the histogram."""

from __future__ import annotations

from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from agentwatch.instrumentation import semconv as sc
from agentwatch.instrumentation.local import GpuMemory, LocalInvocation, Sampler, TokenBucket
from agentwatch.instrumentation.local.invocation import memory_attribute
from agentwatch.instrumentation.telemetry import Telemetry
from tests.instrumentation.conftest import finished, points
from tests.instrumentation.local.fakes import MB, ScriptedProbe, cache, leak

DELTA = "agentwatch.gpu.memory.delta"


def memory(probe: object, first: int = 10, rate: float = 0.0) -> GpuMemory:
    return GpuMemory(probe, Sampler(rate=rate, first=first), TokenBucket(burst=100))  # type: ignore[arg-type]


def call(telemetry: Telemetry, gpu: GpuMemory, model: str = "tiny") -> None:
    inv = LocalInvocation(telemetry, sc.OP_TEXT_COMPLETION, "transformers", model, gpu)
    inv.input_tokens, inv.output_tokens = 3, 2
    inv.end()


def deltas(metric_reader: InMemoryMetricReader) -> dict[str, tuple[int, float]]:
    """source -> (count, sum) of the delta histogram."""
    return {
        p.attributes[sc.GPU_MEMORY_SOURCE]: (p.count, p.sum) for p in points(metric_reader, DELTA)
    }


def test_a_leak_of_300_mb_shows_on_the_first_call(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    call(telemetry, memory(leak(300 * MB)))
    (span,) = finished(span_exporter)
    attrs = dict(span.attributes or {})
    assert attrs[memory_attribute("torch_allocated", "before")] == 500 * MB
    assert attrs[memory_attribute("torch_allocated", "after")] == 800 * MB
    for source in ("nvml", "torch_allocated", "torch_reserved"):
        assert attrs[memory_attribute(source, "delta")] == 300 * MB
    assert deltas(metric_reader) == {
        "nvml": (1, 300 * MB),
        "torch_allocated": (1, 300 * MB),
        "torch_reserved": (1, 300 * MB),
    }
    (point, *_) = points(metric_reader, DELTA)
    assert {k: v for k, v in point.attributes.items() if k != sc.GPU_MEMORY_SOURCE} == {
        sc.OPERATION_NAME: sc.OP_TEXT_COMPLETION,
        sc.PROVIDER_NAME: "transformers",
        sc.REQUEST_MODEL: "tiny",
    }


def test_a_cache_grows_reserved_with_allocated_flat(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    gpu = memory(cache(64 * MB))
    for _ in range(3):
        call(telemetry, gpu)
    assert deltas(metric_reader) == {
        "nvml": (3, 3 * 64 * MB),
        "torch_allocated": (3, 0),
        "torch_reserved": (3, 3 * 64 * MB),
    }
    last = dict(finished(span_exporter)[-1].attributes or {})
    assert last[memory_attribute("torch_reserved", "before")] == 1000 * MB + 2 * 64 * MB


def test_memory_freed_is_a_signed_delta_on_the_span_and_zero_in_the_histogram(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    probe = ScriptedProbe({"torch_allocated": 900 * MB}, {"torch_allocated": -100 * MB})
    call(telemetry, memory(probe))
    (span,) = finished(span_exporter)
    assert (span.attributes or {})[memory_attribute("torch_allocated", "delta")] == -100 * MB
    assert deltas(metric_reader) == {"torch_allocated": (1, 0)}


def test_calls_past_the_first_ones_are_sampled(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    probe = leak()
    gpu = memory(probe, first=2, rate=0.5)
    for _ in range(6):
        call(telemetry, gpu)
    measured = [
        memory_attribute("nvml", "delta") in (s.attributes or {}) for s in finished(span_exporter)
    ]
    assert measured == [True, True, False, True, False, True]
    assert len(probe.reads) == 8  # two readings per measured call, none for the others
    assert deltas(metric_reader)["nvml"][0] == 4


def test_nvml_past_its_budget_leaves_the_torch_figures(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter
) -> None:
    probe = leak()
    gpu = GpuMemory(probe, Sampler(rate=1.0, first=0), TokenBucket(per_second=0.0, burst=1))
    call(telemetry, gpu)
    call(telemetry, gpu)
    second = dict(finished(span_exporter)[1].attributes or {})
    assert memory_attribute("nvml", "delta") not in second
    assert memory_attribute("torch_allocated", "delta") in second
    assert probe.reads == [True, True, False, False]  # the "after" follows the "before"


def test_nothing_to_read_records_nothing(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    call(telemetry, memory(ScriptedProbe({}, {})))
    (span,) = finished(span_exporter)
    assert not any(k.startswith("agentwatch.gpu.memory") for k in span.attributes or {})
    assert points(metric_reader, DELTA) == []


class Failing:
    def __init__(self, fail_on: int) -> None:
        self.reads = 0
        self.fail_on = fail_on

    def read(self, nvml: bool) -> dict[str, int]:
        self.reads += 1
        if self.reads == self.fail_on:
            raise RuntimeError("probe broke")
        return {"nvml": self.reads}


def test_a_failing_probe_is_counted_and_the_call_still_recorded(
    telemetry: Telemetry, span_exporter: InMemorySpanExporter, metric_reader: InMemoryMetricReader
) -> None:
    call(telemetry, memory(Failing(fail_on=1)))  # the "before" fails
    call(telemetry, memory(Failing(fail_on=2)))  # the "after" fails
    spans = finished(span_exporter)
    assert len(spans) == 2
    assert all((s.attributes or {})[sc.USAGE_INPUT_TOKENS] == 3 for s in spans)
    errors = points(metric_reader, "agentwatch.instrumentation.errors")
    assert sum(p.value for p in errors) == 2
    assert {p.attributes[sc.INSTRUMENTATION] for p in errors} == {"transformers.gpu_memory"}
