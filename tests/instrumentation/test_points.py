"""`Points` exports exactly what the SDK's `record()` and `add()` export, on every SDK set-up."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.metrics import Histogram, NoOpMeterProvider
from opentelemetry.sdk.metrics import Histogram as SdkHistogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics._internal.exemplar import AlwaysOnExemplarFilter
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.trace import TracerProvider

from agentwatch.instrumentation.points import Points

BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0]
ATTRS = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini", "port": 443}
DELTA = {SdkHistogram: AggregationTemporality.DELTA}


def setups() -> dict[str, Callable[[], tuple[MeterProvider, list[InMemoryMetricReader]]]]:
    def plain() -> tuple[MeterProvider, list[InMemoryMetricReader]]:
        reader = InMemoryMetricReader()
        return MeterProvider(metric_readers=[reader]), [reader]

    def two_readers_one_delta() -> tuple[MeterProvider, list[InMemoryMetricReader]]:
        readers = [InMemoryMetricReader(), InMemoryMetricReader(preferred_temporality=DELTA)]
        return MeterProvider(metric_readers=readers), readers

    def filtering_view() -> tuple[MeterProvider, list[InMemoryMetricReader]]:
        reader = InMemoryMetricReader()
        view = View(instrument_name="h", attribute_keys={"gen_ai.operation.name"})
        return MeterProvider(metric_readers=[reader], views=[view]), [reader]

    def exponential_view() -> tuple[MeterProvider, list[InMemoryMetricReader]]:
        reader = InMemoryMetricReader()
        view = View(instrument_name="h", aggregation=ExponentialBucketHistogramAggregation())
        return MeterProvider(metric_readers=[reader], views=[view]), [reader]

    def exemplars_always() -> tuple[MeterProvider, list[InMemoryMetricReader]]:
        reader = InMemoryMetricReader()
        provider = MeterProvider(metric_readers=[reader], exemplar_filter=AlwaysOnExemplarFilter())
        return provider, [reader]

    return {
        f.__name__: f
        for f in (plain, two_readers_one_delta, filtering_view, exponential_view, exemplars_always)
    }


SETUPS = setups()


def histogram(provider: MeterProvider) -> Histogram:
    meter = provider.get_meter("test")
    return meter.create_histogram("h", unit="s", explicit_bucket_boundaries_advisory=BUCKETS)


def points(readers: list[InMemoryMetricReader]) -> list[Any]:
    """Every data point of every reader, without the timestamps."""
    out = []
    for reader in readers:
        data = reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    for point in metric.data.data_points:
                        fields = {
                            k: v
                            for k, v in vars(point).items()
                            if not k.endswith("time_unix_nano") and k != "exemplars"
                        }
                        exemplars = [
                            (e.value, e.filtered_attributes, e.span_id, e.trace_id)
                            for e in point.exemplars
                        ]
                        out.append((fields, exemplars))
    return out


def both(
    setup: str, batches: list[list[float]], counter: bool = False, sampled: bool = True
) -> tuple[list[Any], list[Any], list[tuple[float, dict[str, Any]]]]:
    """The points of the public API and of `Points`, and the calls `Points` left to the API.

    Each batch goes through `Points.record_all` and, value by value, `Points.record` into a
    second instrument of the same provider, so both paths are compared.
    """
    reference, reference_readers = SETUPS[setup]()
    ours, our_readers = SETUPS[setup]()
    make = counters if counter else histograms
    expected, under_test = make(reference), make(ours)
    fallback: list[tuple[float, dict[str, Any]]] = []
    for instrument in under_test:
        method = "add" if counter else "record"
        plain = getattr(instrument, method)

        def counting(
            value: float, attributes: Any = None, context: Any = None, *, p: Any = plain
        ) -> None:
            fallback.append((value, attributes))
            p(value, attributes, context)

        setattr(instrument, method, counting)
    recorder = Points()
    tracer = TracerProvider().get_tracer("test")
    # Under a sampled span exemplars are offered (point by point); without one, the trace-based
    # filter offers none (and histograms take a batch in one update), except AlwaysOn's.
    span = tracer.start_as_current_span("parent") if sampled else contextlib.nullcontext()
    with span:
        for n, batch in enumerate(batches):
            # In the same order on both sides: the SDK lists metrics in first-use order, and a
            # sum's exemplar reservoir samples at random (seeded alike on both sides).
            random.seed(n)
            for instrument in expected:
                for value in batch:
                    getattr(instrument, "add" if counter else "record")(value, ATTRS)
            random.seed(n)
            recorder.record_all(under_test[0], batch, dict(ATTRS))
            for value in batch:
                recorder.record(under_test[1], value, dict(ATTRS))
            # A collection between batches: delta readers start new aggregations.
            assert points(reference_readers) == points(our_readers)
    return points(reference_readers), points(our_readers), fallback


def histograms(provider: MeterProvider) -> list[Any]:
    meter = provider.get_meter("test")
    return [
        meter.create_histogram(n, unit="s", explicit_bucket_boundaries_advisory=BUCKETS)
        for n in ("h", "h2")
    ]


def counters(provider: MeterProvider) -> list[Any]:
    meter = provider.get_meter("test")
    return [meter.create_counter(n, unit="USD") for n in ("h", "h2")]


VALUES = st.lists(
    st.floats(min_value=0.0, max_value=5.0, allow_nan=False) | st.sampled_from(BUCKETS),
    max_size=60,
)


@pytest.mark.parametrize("setup", list(SETUPS))
@pytest.mark.parametrize("counter", [False, True], ids=["histogram", "counter"])
@pytest.mark.parametrize("sampled", [True, False], ids=["sampled", "unsampled"])
@settings(max_examples=20, deadline=None)
@given(batches=st.lists(VALUES, min_size=1, max_size=3))
def test_bound_points_export_the_same_data_without_the_public_api(
    setup: str, counter: bool, sampled: bool, batches: list[list[float]]
) -> None:
    expected, got, fallback = both(setup, batches, counter, sampled)
    assert got == expected
    if setup == "exponential_view":
        # An aggregation the fast path does not know ("h" only): every point the public way.
        assert [v for v, _ in fallback] == [v for batch in batches for v in batch]
    else:
        assert fallback == []  # the fast path ran: not one public call


@pytest.mark.parametrize("bad", [-1.0, float("inf"), float("nan")], ids=["negative", "inf", "nan"])
def test_a_value_the_sdk_would_drop_goes_through_the_public_api(bad: float) -> None:
    _, got, fallback = both("plain", [[0.1, bad]])
    assert [v for v, _ in fallback if v == v] == [bad] * 2 if bad == bad else len(fallback) == 2
    assert all(point[0]["count"] == 1 for point in got)


def test_a_non_sdk_instrument_gets_the_public_api() -> None:
    calls: list[float] = []

    class Foreign:
        def record(self, value: float, attributes: Any = None) -> None:
            calls.append(value)

    recorder = Points()
    recorder.record(Foreign(), 0.5, dict(ATTRS))
    recorder.record_all(Foreign(), [0.1, 0.2], dict(ATTRS))
    noop = NoOpMeterProvider().get_meter("test").create_histogram("h")
    recorder.record(noop, 0.1, dict(ATTRS))  # nothing to assert but that it does not raise
    assert calls == [0.5, 0.1, 0.2]


def test_an_unhashable_attribute_value_gets_the_public_api() -> None:
    reader = InMemoryMetricReader()
    (histogram, _) = histograms(MeterProvider(metric_readers=[reader]))
    Points().record(histogram, 0.3, {"tags": ["a", "b"]})
    (point,) = points([reader])
    assert point[0]["count"] == 1 and point[0]["attributes"] == {"tags": ("a", "b")}


def test_a_reader_added_later_is_bound_again() -> None:
    first = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[first])
    (histogram, _) = histograms(provider)
    recorder = Points()
    recorder.record(histogram, 0.2, dict(ATTRS))
    second = InMemoryMetricReader()
    provider.add_metric_reader(second)  # type: ignore[attr-defined]
    recorder.record(histogram, 0.2, dict(ATTRS))
    recorder.record(histogram, 0.2, dict(ATTRS))
    assert [p[0]["count"] for p in points([first])] == [3]
    assert [p[0]["count"] for p in points([second])] == [2]
